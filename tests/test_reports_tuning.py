"""reports/tuning.py: the section "What the tuning saw" of a tuned run (``--tune N``), checked on a real
tuned run directory written by ``bench run``, and on an untuned one."""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import reports
from bench.cli import main
from reports import ReportError, load_run, page, tuning
from tests.test_reports import write_run

pytestmark = pytest.mark.slow  # a tuned run, trained once for the module

TRIALS = 4
FIGURES = ("tuning_spread", "tuning_budget", "tuning_lr", "tuning_importance")


@pytest.fixture(scope="module")
def tuned_dir(tmp_path_factory) -> Path:
    """A tiny tuned run: 3 units and the baseline, 2 folds, 4 trials each (report written by the run)."""
    root = tmp_path_factory.mktemp("tuned")
    out = root / "run"
    assert main(["run", "--units", "indrnn,gru,mingru", "--tune", str(TRIALS), "--folds", "2", "--epochs", "3",
                 "--clips-per-genre", "4", "--seconds", "2", "--J", "8", "--Q", "1", "--hidden", "8", "--layers", "2",
                 "--block", "residual", "--threads", "1", "--out", str(out), "--cache-dir", str(root / "cache")]) == 0
    return out


@pytest.fixture(scope="module")
def tuned(tuned_dir):
    return load_run(tuned_dir)


def test_the_report_of_a_tuned_run_shows_what_the_tuning_saw(tuned_dir):
    report = tuned_dir / "report"
    md, html = (report / "report.md").read_text(), (report / "report.html").read_text()
    assert "## What the tuning saw" in md and "<h2>What the tuning saw</h2>" in html
    for name in FIGURES:
        png = report / f"{name}.png"
        assert png.stat().st_size > 1000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name}.png)" in md
    for name in ("tuning_summary", "tuning_chosen", "tuning_importance"):
        assert (report / f"{name}.csv").is_file() and f"<li>{name}.csv</li>" in html  # written, and listed


def test_trials_load_with_numbers_as_numbers_and_chosen_as_bool(tuned):
    t = tuned.trials
    assert tuned.tuned and len(t) == len(tuned.folds) * TRIALS
    assert t["chosen"].dtype == bool and t["val_acc"].dtype.kind == "f" and t["lr"].dtype.kind == "f"
    assert (t.groupby(["unit", "repeat", "fold"])["chosen"].sum() == 1).all()  # one chosen trial per fold


def test_the_chosen_values_are_one_row_per_fold_and_those_of_folds_csv(tuned, tuned_dir):
    chosen = tuning.chosen_table(tuned)
    assert len(chosen) == len(tuned.folds) and not chosen.duplicated(["unit", "repeat", "fold"]).any()
    both = chosen.merge(tuned.folds, on=["unit", "repeat", "fold"], suffixes=("", "_folds"))
    assert len(both) == len(tuned.folds)
    assert (both["trial"] == both["trial_folds"]).all()
    assert np.allclose(both["lr"], both["lr_folds"], equal_nan=True)  # NaN for the baseline on both sides
    assert np.allclose(both["test_acc"], both["test_acc_folds"])
    assert both.loc[both["unit"] == "scat+logreg", "lr"].isna().all()
    written = pd.read_csv(tuned_dir / "report" / "tuning_chosen.csv")
    assert list(written[["unit", "repeat", "fold", "trial"]].itertuples(index=False)) == \
        list(chosen[["unit", "repeat", "fold", "trial"]].itertuples(index=False))


def test_best_so_far_never_decreases_and_ends_at_the_chosen_trial(tuned):
    curve = tuning.best_so_far(tuned)
    for _, c in curve.groupby(["unit", "repeat", "fold"]):
        values = c.sort_values("trial")["best_val_acc"].dropna().to_numpy()
        assert (np.diff(values) >= 0).all()
    last = curve.sort_values("trial").groupby(["unit", "repeat", "fold"]).last()["best_val_acc"]
    chosen = tuning.chosen_table(tuned).set_index(["unit", "repeat", "fold"])["val_acc"]
    assert np.allclose(last.loc[chosen.index], chosen)  # every trial ran to the end: the best is the chosen
    mean = curve.groupby(["unit", "trial"])["best_val_acc"].mean().unstack("trial")  # what the figure draws
    assert (mean.diff(axis=1).iloc[:, 1:].fillna(0) >= 0).all().all()


def test_importances_sum_to_one_where_computed_and_say_why_where_not(tuned):
    imp = tuning.importance_table(tuned)
    assert set(imp["unit"]) == set(tuned.units) and (imp.groupby("unit").size() == len(tuning.PARAMETERS)).all()
    for unit, rows in imp.groupby("unit"):
        if rows["importance"].notna().any():
            assert rows["importance"].sum() == pytest.approx(1.0, abs=1e-6)
        else:
            assert (rows["note"].str.len() > 0).all()
    base = imp[imp["unit"] == "scat+logreg"].set_index("parameter")
    assert base["importance"].isna().all()  # weight decay alone varies: nothing to apportion
    assert base.loc["lr", "note"] == "not in the unit's search space"


def test_fanova_finds_the_parameter_that_decides_the_accuracy(tuned):
    """Trials whose validation accuracy follows the learning rate alone: lr gets most of the importance;
    a unit whose every trial scores the same gets none, with the reason."""
    rng = np.random.default_rng(0)
    n = 24
    lr = 10 ** rng.uniform(-4, -2, n)
    rows = dict(repeat=0, fold=np.arange(n) % 2, trial=np.arange(n), lr=lr, dropout=rng.uniform(0, 0.5, n),
                weight_decay=10 ** rng.uniform(-6, -2, n), readout=rng.choice(["last", "mean"], n), state="complete",
                test_acc=0.5, train_s=1.0, overhead_s=0.1, chosen=False)
    fake = pd.concat([pd.DataFrame({**rows, "unit": "gru", "val_acc": 1.0 - (np.log10(lr) + 3) ** 2}),
                      pd.DataFrame({**rows, "unit": "indrnn", "val_acc": 0.5})], ignore_index=True)
    run = dataclasses.replace(tuned, trials=fake)
    imp = tuning.importance_table(run).set_index(["unit", "parameter"])["importance"]
    assert imp.loc[("gru", "lr")] > 0.5 and imp.loc["gru"].sum() == pytest.approx(1.0)
    notes = tuning.importance_table(run).set_index(["unit", "parameter"])["note"]
    assert imp.loc["indrnn"].isna().all() and "same validation accuracy" in notes.loc[("indrnn", "lr")]


def test_a_tuned_run_names_its_scaffold_budget_and_labels_its_results_tuned(tuned, tuned_dir):
    line = page.method_line(tuned)
    assert tuned.scaffold in line and "residual scaffold" in line
    assert f"{TRIALS} trials" in line and tuned.width_rule in line
    md = (tuned_dir / "report" / "report.md").read_text()
    label = f"tuned: best of {TRIALS} trials per fold, chosen on validation"
    for heading in ("Table 1: mean test accuracy", "Figure 5: accuracy and training time per iteration",
                    "Pairwise comparison"):
        assert f"## {heading} ({label})" in md


def test_an_untuned_run_has_no_tuning_section_and_no_trials(tmp_path):
    run_dir = write_run(tmp_path / "plain")
    run = load_run(run_dir)
    assert isinstance(run.trials, pd.DataFrame) and run.trials.empty and not run.tuned
    assert run.tuned_label == "" and "tuned:" not in page.method_line(run)
    assert "one fixed recipe" in page.method_line(run) and run.scaffold in page.method_line(run)
    paths = reports.render(run_dir)
    md = paths["report_md"].read_text()
    assert "What the tuning saw" not in md and "tuned:" not in md
    assert not list((run_dir / "report").glob("tuning_*"))


def test_trials_csv_without_a_required_column_is_refused_naming_the_file(tuned_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tuned_dir, broken, ignore=shutil.ignore_patterns("report", "parts", "tuning.db"))
    t = pd.read_csv(broken / "trials.csv")
    t.drop(columns="val_acc").to_csv(broken / "trials.csv", index=False)
    with pytest.raises(ReportError, match=r"trials\.csv lacks column\(s\) val_acc"):
        load_run(broken)


def test_table1_and_the_timing_table_give_parameters_and_multiply_adds_per_frame(tuned, tuned_dir):
    from reports.tables import table1, timing_table

    t1 = table1(tuned).set_index("unit")
    folds = pd.read_csv(tuned_dir / "folds.csv")
    for unit in ("indrnn", "gru", "mingru"):
        assert t1.loc[unit, "macs_per_frame"] == folds[folds.unit == unit].macs_per_frame.median() > 0
        assert t1.loc[unit, "params"] > 0
    assert np.isnan(t1.loc["scat+logreg", "macs_per_frame"])
    tt = timing_table(tuned).set_index("unit")
    assert (tt.loc[["indrnn", "gru", "mingru"], "macs_per_frame"] > 0).all()
    assert "MACs/frame" in (tuned_dir / "report" / "report.md").read_text()
