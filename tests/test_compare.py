"""bench compare: two runs with known numbers, every ratio and test checked."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bench.cli import main
from reports.stats import corrected_resampled_ttest
from tests.test_reports import ACC, BASE, N_TEST, N_TRAIN, write_run

SPLITS = [{"repeat": r, "fold": f, "seed": 0, "train": [1], "val": [2], "test": [3]} for r in range(2) for f in range(3)]
SHIFT = [0.01, 0.03, -0.02, 0.05, 0.02, 0.04]  # lstm accuracy of run B minus run A, per fold


def make_pair(tmp_path, same_splits: bool = True):
    a, b = write_run(tmp_path / "a"), write_run(tmp_path / "b")
    (a / "splits.json").write_text(json.dumps(SPLITS))
    other = SPLITS if same_splits else [{**s, "test": [4]} for s in SPLITS]
    (b / "splits.json").write_text(json.dumps(other))
    it = pd.read_csv(b / "iterations.csv")  # run B: lstm twice as slow, indrnn twice as fast
    it.loc[it.unit == "lstm", "seconds"] *= 2
    it.loc[it.unit == "indrnn", "seconds"] /= 2
    it.to_csv(b / "iterations.csv", index=False)
    folds = pd.read_csv(b / "folds.csv")
    folds.loc[folds.unit == "lstm", "test_acc"] += SHIFT
    folds.to_csv(b / "folds.csv", index=False)
    meta = json.loads((b / "metadata.json").read_text())
    meta["config"].update(lr=0.001, step="graph", precision="tf32")
    meta["environment"]["device_name"] = "Test GPU 1"
    (b / "metadata.json").write_text(json.dumps(meta))
    return a, b


def test_compare_gives_ratios_tests_config_and_machines(tmp_path, capsys):
    a, b = make_pair(tmp_path)
    out = tmp_path / "cmp"
    assert main(["compare", str(a), str(b), "--out", str(out)]) == 0
    t = pd.read_csv(out / "compare.csv").set_index(["unit", "run"])
    assert t.loc[("lstm", "b"), "time_ratio"] == pytest.approx(2.0)
    assert t.loc[("indrnn", "b"), "time_ratio"] == pytest.approx(0.5)
    assert t.loc[("rnn", "b"), "time_ratio"] == pytest.approx(1.0)
    assert t.loc[("lstm", "a"), "median_s"] == pytest.approx(3 * BASE["lstm"])
    assert t.loc[("lstm", "b"), "acc_diff_pp"] == pytest.approx(100 * np.mean(SHIFT))
    expected = corrected_resampled_ttest(100 * np.array(SHIFT), N_TEST / N_TRAIN)
    assert t.loc[("lstm", "b"), "p"] == pytest.approx(expected.p)
    assert t.loc[("lstm", "b"), "ci_low_pp"] == pytest.approx(expected.ci_low)
    assert bool(t.loc[("lstm", "b"), "paired"]) and np.isnan(t.loc[("lstm", "a"), "p"])
    assert np.isnan(t.loc[("rnn", "b"), "p"])  # identical accuracies: nothing to test
    assert t.loc[("lstm", "a"), "acc_mean"] == pytest.approx(np.mean(ACC["lstm"]))
    assert t.loc[("lstm", "b"), "execution"] == "graph step, tf32, subnormals not recorded (computed)"  # an older run
    md = (out / "compare.md").read_text()
    assert "| lr | 0.002 | 0.001 |" in md and "| precision |" in md and "Test GPU 1" in md
    assert (out / "compare.png").stat().st_size > 10_000
    assert "time_ratio" in capsys.readouterr().out


def test_compare_does_not_pair_runs_with_other_splits(tmp_path):
    a, b = make_pair(tmp_path, same_splits=False)
    out = tmp_path / "cmp"
    assert main(["compare", str(a), str(b), "--out", str(out)]) == 0
    t = pd.read_csv(out / "compare.csv")
    b_rows = t[t.run == "b"]
    assert not b_rows.paired.any() and b_rows.p.isna().all()
    assert (b_rows.note == "other splits: not paired, no test").all()


def test_compare_needs_two_runs(tmp_path, capsys):
    a = write_run(tmp_path / "a")
    assert main(["compare", str(a)]) == 2
    assert "at least two" in capsys.readouterr().err
    assert main(["compare", str(a), str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_compare_figure_names_every_run_even_one_starting_with_an_underscore():
    """matplotlib leaves labels that start with "_" out of an automatic legend; a run directory may be
    called "_x"."""
    from reports.compare import _figure

    names = ["_x", "b"]
    table = pd.DataFrame([{"unit": u, "run": r, "acc_mean": 0.5, "acc_std": 0.1, "median_s": 0.01,
                           "q1_s": 0.009, "q3_s": 0.011} for u in ("rnn", "indrnn") for r in names])
    fig = _figure(table, names)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == names
