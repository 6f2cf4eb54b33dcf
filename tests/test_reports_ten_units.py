"""Reports that hold ten units: every registered unit and the baseline in Table 1, the timing table, the
pairwise table (Holm over every pair), Figures 4 and 5, and bench compare, grouped as paper / modern."""
from __future__ import annotations

import itertools

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer

import reports
import tests.test_reports as base
from reports import figures, load_run, tables
from reports.compare import compare_runs
from reports.stats import holm

TEN = ["rnn", "rnn_relu", "lstm", "gru", "indrnn", "indrnn_norec", "mingru", "minlstm", "lru", "mamba"]


@pytest.fixture
def ten_unit_run(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    for i, unit in enumerate(TEN):
        monkeypatch.setitem(base.ACC, unit, list(np.clip(0.55 + 0.03 * i + 0.02 * rng.standard_normal(6), 0, 1)))
        monkeypatch.setitem(base.BASE, unit, 0.005 * (i + 1))
        monkeypatch.setitem(base.EPOCHS, unit, 5)
    run_dir = base.write_run(tmp_path / "ten", units=(*TEN, "scat+logreg"))
    folds = pd.read_csv(run_dir / "folds.csv")  # each unit's own width, as under --param-budget
    folds["hidden"] = folds["unit"].map({u: 40 + 8 * i for i, u in enumerate(TEN)})
    folds.to_csv(run_dir / "folds.csv", index=False)
    return run_dir


def test_tables_hold_every_unit_grouped(ten_unit_run):
    run = load_run(ten_unit_run)
    assert run.units == [*TEN, "scat+logreg"]
    t1 = tables.table1(run)
    measured = t1[~t1["quoted"]]
    assert list(measured["unit"]) == [*TEN, "scat+logreg"]
    assert list(measured["group"]) == ["paper"] * 6 + ["modern"] * 4 + ["baseline"]
    assert list(measured["hidden"][:10]) == [40 + 8 * i for i in range(10)] and np.isnan(measured["hidden"].iloc[10])
    tt = tables.timing_table(run)
    assert list(tt["unit"]) == TEN and list(tt["ratio_to_indrnn"]) == pytest.approx([(i + 1) / 5 for i in range(10)])
    pw = tables.pairwise_table(run)
    assert len(pw) == 55 == len(list(itertools.combinations(run.units, 2)))  # every pair, Holm over all 55
    np.testing.assert_allclose(pw["p_holm"], holm(pw["p"]))
    assert (pw["groups"] == "paper / modern").sum() == 24


def bars(ax):
    return [c for c in ax.containers if isinstance(c, BarContainer)]


def test_figures_stay_readable_with_ten_units(ten_unit_run):
    run = load_run(ten_unit_run)
    fig = figures.figure5(run)
    ax_a, ax_b, ax_c = fig.axes
    assert len(bars(ax_a)) == 11 and len(bars(ax_b)) == 10 and len(bars(ax_c)) == 10
    assert ax_a.get_position().y0 > ax_b.get_position().y1  # (a) across the top, (b) and (c) below it
    ticks = ax_a.get_xticklabels()
    assert [t.get_text() for t in ticks][6:10] == ["minGRU", "minLSTM", "LRU", "Mamba"]
    assert all(t.get_rotation() == 35 for t in ticks)  # slanted, so eleven names do not overlap
    colours = [c.patches[0].get_facecolor() for c in bars(ax_a)]
    assert len({tuple(np.round(c, 3)) for c in colours}) == 11  # one colour per method
    hatches = [c.patches[0].get_hatch() for c in bars(ax_a)]
    assert hatches == [None] * 6 + ["//"] * 4 + [None]  # modern units hatched: told apart without colour
    assert {"paper units", "modern units"} <= {t.get_text() for t in ax_a.texts}
    matplotlib.pyplot.close(fig)
    fig = figures.figure4(run)
    ax = fig.axes[0]
    legend = ax.get_legend()
    assert len(legend.get_texts()) == 10 and legend.get_bbox_to_anchor().x0 > ax.get_window_extent().x1 - 1
    styles = [ln.get_linestyle() for ln in ax.lines if len(ln.get_xdata())]
    assert styles == ["-"] * 6 + ["--"] * 4
    matplotlib.pyplot.close(fig)


def test_report_and_compare_render_ten_units(ten_unit_run, tmp_path):
    files = reports.render(ten_unit_run)
    md = files["report_md"].read_text()
    for name in ("minGRU", "minLSTM", "LRU", "Mamba", "IndRNN (no rec.)", "modern"):
        assert name in md
    assert "state at each clip's last valid frame" in md and "equal width" in md
    assert "All 55 pairs of the 11 methods are tested" in md
    paths = compare_runs([ten_unit_run, ten_unit_run], tmp_path / "cmp")
    table = pd.read_csv(paths["csv"])
    assert table["unit"].nunique() == 11 and paths["png"].stat().st_size > 0
