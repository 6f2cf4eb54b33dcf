"""--tune (bench.execution.tune): an equal, recorded tuning budget per unit, chosen on validation only, resumable."""
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from bench.execution.baseline import BASELINE
from bench.config import ConfigError, preset
from bench.execution.jobs import Job, JobData, fit, run_job
from bench.protocol.splits import Split
from bench.execution.tune import TuningError, choose, point, recipe_at, tune_job

CFG = preset("quick", tune=4, epochs=3, patience=0, hidden=6, layers=1, batch_size=8, block="residual",
             param_budget=0, warmup_iters=0, device="cpu")


def tiny_data(tmp_path, seed: int = 0, name: str = "study") -> JobData:
    """24 clips of 3 classes, 10 frames x 5 channels, a class signal in the mean; the study in tmp_path."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), 8)
    x = rng.standard_normal((24, 10, 5)).astype(np.float32) + labels[:, None, None].astype(np.float32) * 0.7
    return JobData(x, np.full(24, 10), labels, [f"c{i}.wav" for i in range(24)], 3,
                   study_storage=f"sqlite:///{tmp_path / 'tuning.db'}", study_prefix=name, fingerprint="fp")


def split() -> Split:
    order = np.random.default_rng(1).permutation(24).tolist()
    return Split(0, 0, 0, tuple(order[:12]), tuple(order[12:18]), tuple(order[18:]))


def test_order_free_points_are_the_same_whatever_ran_before_and_lie_in_the_space():
    for sampler in ("sobol", "random"):
        cfg = replace(CFG, tune_sampler=sampler)
        assert np.array_equal(point(cfg, 5), point(cfg, 5))
        later_first = [point(cfg, k) for k in (7, 3, 0)]
        assert all(np.array_equal(a, point(cfg, k)) for a, k in zip(later_first, (7, 3, 0)))
        pts = np.array([point(cfg, k) for k in range(16)])
        assert pts.min() >= 0 and pts.max() < 1 and len(np.unique(pts[:, 0])) == 16
        recipes = [recipe_at(cfg, p) for p in pts]
        assert all(cfg.tune_lr_min <= r["lr"] <= cfg.tune_lr_max for r in recipes)
        assert all(cfg.tune_dropout_min <= r["dropout"] <= cfg.tune_dropout_max for r in recipes)
        assert all(cfg.tune_wd_min <= r["weight_decay"] <= cfg.tune_wd_max for r in recipes)
        assert {r["readout"] for r in recipes} == {"last", "mean"}
    # Sobol fills the space evenly: each half of the lr axis (log scale) gets exactly half of 16 points
    lr = np.array([recipe_at(CFG, point(CFG, k))["lr"] for k in range(16)])
    assert (lr < np.sqrt(CFG.tune_lr_min * CFG.tune_lr_max)).sum() == 8


def test_the_search_space_is_checked_before_anything_runs():
    with pytest.raises(ConfigError, match="--tune-lr-min .* must not exceed --tune-lr-max"):
        preset("quick", tune=2, tune_lr_min=1e-2, tune_lr_max=1e-3)
    with pytest.raises(ConfigError, match="--tune-readouts"):
        preset("quick", tune_readouts=("last", "max"))
    with pytest.raises(ConfigError, match="--tune-sampler"):
        preset("quick", tune_sampler="grid")


def test_choice_reads_validation_only():
    results = {0: dict(state="complete", val_acc=0.5, val_loss=1.0, row={"test_acc": 0.99}),
               1: dict(state="complete", val_acc=0.6, val_loss=1.2, row={"test_acc": 0.10}),
               2: dict(state="complete", val_acc=0.6, val_loss=1.1, row={"test_acc": 0.20}),
               3: dict(state="pruned", val_acc=0.9, val_loss=0.1, row={"test_acc": 1.0}),
               4: dict(state="diverged", val_acc=float("nan"), val_loss=float("nan"), row={"test_acc": 0.0})}
    assert choose(results) == 2  # the best validation accuracy, then the lower validation loss
    assert choose({3: results[3], 4: results[4]}) == 3  # none finished: the pruned one beats the diverged one


@pytest.mark.parametrize("unit", ["indrnn", BASELINE])
def test_permuting_the_test_labels_changes_no_choice(tmp_path, unit):
    """Test labels never drive a choice: with the test clips' labels permuted, every trial's validation
    score and the chosen trial are the same; only test accuracies move."""
    job = Job(unit, split())
    data = tiny_data(tmp_path / "a")
    permuted = tiny_data(tmp_path / "b")
    test = np.array(job.split.test)
    permuted.labels = permuted.labels.copy()
    permuted.labels[test] = np.roll(permuted.labels[test], 1)
    assert (permuted.labels[test] != data.labels[test]).any()
    a, b = run_job(job, data, CFG), run_job(job, permuted, CFG)
    cols = ["trial", "lr", "dropout", "weight_decay", "readout", "state", "val_acc", "val_loss", "epochs", "chosen"]
    pd.testing.assert_frame_equal(a["trials"][cols], b["trials"][cols])
    assert a["folds"].trial.item() == b["folds"].trial.item() == a["trials"].query("chosen").trial.item()
    assert len(a["trials"]) == 4 and a["trials"].chosen.sum() == 1
    best = a["trials"].sort_values(["val_acc", "val_loss"], ascending=[False, True]).iloc[0]
    assert best.chosen and a["folds"].test_acc.item() == best.test_acc
    if unit != BASELINE:
        assert a["trials"].val_acc.nunique() > 1  # the trials really differ
        assert a["folds"].lr.item() == best.lr and a["folds"].readout.item() == best.readout


def test_every_unit_and_fold_sees_the_same_candidate_recipes(tmp_path):
    data = tiny_data(tmp_path)
    rows = [run_job(Job(u, split()), data, replace(CFG, tune=3))["trials"] for u in ("gru", "mingru")]
    cols = ["trial", "lr", "dropout", "weight_decay", "readout"]
    pd.testing.assert_frame_equal(rows[0][cols], rows[1][cols])
    assert rows[0].hidden.nunique() == 1 and rows[0].params.tolist() != rows[1].params.tolist()


def test_a_study_made_from_other_features_is_refused(tmp_path):
    data = tiny_data(tmp_path)
    run_job(Job("indrnn", split()), data, replace(CFG, tune=1))
    other = tiny_data(tmp_path)
    other.fingerprint = "another"
    with pytest.raises(TuningError, match="made for other inputs .*fingerprint: fp -> another"):
        run_job(Job("indrnn", split()), other, replace(CFG, tune=2))


KILLER = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {root!r})
    from tests.test_tune import CFG, tiny_data, split
    from pathlib import Path
    from bench.execution.jobs import Job, fit
    from bench.execution.tune import tune_job
    from bench.measure.policy import apply_policy
    apply_policy(1, "flush")  # as a run's job does: float sums in one order, here and in the test's process
    job, data = Job("indrnn", split()), tiny_data(Path({tmp!r}))
    calls = []
    def trial(recipe, stop):
        calls.append(recipe)
        if len(calls) == 3:  # in the middle of the third trial (index 2): the process dies at once
            os.kill(os.getpid(), signal.SIGKILL)
        return fit(job, data, CFG, recipe, False, stop)
    tune_job(job, data, CFG, trial)
""")


@pytest.mark.slow  # a whole run, or several processes: 10 s or more on 2 cores
def test_kill_9_in_the_middle_of_a_trial_then_resume_counts_every_trial_once(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", KILLER.format(root=root, tmp=str(tmp_path))],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == -9, proc.stderr[-2000:]
    import optuna

    storage = f"sqlite:///{tmp_path / 'tuning.db'}"
    name = "study/indrnn-r00-f00"
    states = [t.state.name for t in optuna.load_study(study_name=name, storage=storage).trials]
    assert states == ["COMPLETE", "COMPLETE", "RUNNING"]

    from bench.measure.policy import apply_policy

    apply_policy(1, "flush")  # the killed process's policy: whatever an earlier test left, the same sums
    job, data = Job("indrnn", split()), tiny_data(tmp_path)
    rerun = []

    def trial(recipe, stop):
        rerun.append(recipe)
        return fit(job, data, CFG, recipe, False, stop)

    chosen, index, rows = tune_job(job, data, CFG, trial)
    assert [r["trial"] for r in rows] == [0, 1, 2, 3]  # every index once
    assert len(rerun) == 2  # the interrupted trial and the last one; the two finished ones were kept
    expected = [recipe_at(CFG, point(CFG, k)) for k in (2, 3)]
    assert [r.lr for r in rerun] == [e["lr"] for e in expected]  # the rerun trial is the same point
    states = [t.state.name for t in optuna.load_study(study_name=name, storage=storage).trials]
    assert states == ["COMPLETE", "COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    # the same as an uninterrupted study, trial by trial
    fresh = tiny_data(tmp_path / "fresh")
    _, fresh_index, fresh_rows = tune_job(job, fresh, CFG, lambda r, s: fit(job, fresh, CFG, r, False, s))
    keep = ["trial", "lr", "dropout", "weight_decay", "readout", "val_acc", "val_loss", "test_acc", "epochs", "chosen"]
    assert [{k: r[k] for k in keep} for r in rows] == [{k: r[k] for k in keep} for r in fresh_rows]
    assert index == fresh_index
    # and a finished study runs nothing again
    assert tune_job(job, data, CFG, lambda r, s: pytest.fail("a finished trial ran again"))[1] == index


def test_a_trial_whose_stored_result_was_altered_is_run_again(tmp_path, capsys):
    job, data = Job("indrnn", split()), tiny_data(tmp_path)
    cfg = replace(CFG, tune=2)
    tune_job(job, data, cfg, lambda r, s: fit(job, data, cfg, r, False, s))
    import sqlite3

    with sqlite3.connect(tmp_path / "tuning.db") as db:  # a value edited in the file behind the tuner's back
        db.execute("UPDATE trial_user_attributes SET value_json = replace(value_json, 'val_acc', 'val_acc_') "
                   "WHERE key = 'result' AND trial_id = (SELECT trial_id FROM trials WHERE number = 1)")
    ran = []

    def trial(recipe, stop):
        ran.append(recipe)
        return fit(job, data, cfg, recipe, False, stop)

    _, _, rows = tune_job(job, data, cfg, trial)
    assert len(ran) == 1 and len(rows) == 2
    assert "trial 1 has no result that matches its checksum" in capsys.readouterr().out


def test_pruning_stops_trials_on_validation_loss_and_is_recorded(tmp_path):
    cfg = replace(CFG, tune=6, tune_prune=True, epochs=6)
    out = run_job(Job("gru", split()), tiny_data(tmp_path), cfg)["trials"]
    assert len(out) == 6 and set(out.state) <= {"complete", "pruned"}
    pruned = out[out.state == "pruned"]
    assert (pruned.epochs < 6).all()
    assert not out[out.chosen].state.eq("pruned").any() or (out.state == "pruned").all()


def test_tpe_resumes_to_the_same_proposals(tmp_path):
    cfg = replace(CFG, tune=4, tune_sampler="tpe")
    job = Job("indrnn", split())
    a = tiny_data(tmp_path / "a")
    whole = tune_job(job, a, cfg, lambda r, s: fit(job, a, cfg, r, False, s))[2]
    b = tiny_data(tmp_path / "b")
    tune_job(job, b, replace(cfg, tune=2), lambda r, s: fit(job, b, cfg, r, False, s))
    resumed = tune_job(job, b, cfg, lambda r, s: fit(job, b, cfg, r, False, s))[2]
    assert [r["lr"] for r in whole] == [r["lr"] for r in resumed]


@pytest.mark.slow  # a whole run, or several processes: 10 s or more on 2 cores
def test_dask_equals_local_trial_by_trial(tmp_path):
    """The same tuned run on a real 2-worker LocalCluster and in this process: every trial's recipe and
    every score equal (times aside), the chosen trials and the folds' test accuracies too."""
    pytest.importorskip("dask.distributed")
    from bench.cli import main
    from tests.conftest import write_gtzan
    from tests.test_run import bench_run

    data_dir = write_gtzan(tmp_path / "data", genres=("blues", "pop", "rock"), per_genre=6, seconds=1.0)
    extra = ["--units", "indrnn,gru", "--tune", "3", "--block", "residual"]
    for name, executor in (("local", []), ("dask", ["--executor", "dask", "--workers", "2", "--threads-per-worker", "1"])):
        assert main(bench_run(data_dir, tmp_path / name, tmp_path / "c", *extra, *executor)) == 0
    keys = ["unit", "repeat", "fold", "trial"]
    trials = [pd.read_csv(tmp_path / n / "trials.csv").sort_values(keys).reset_index(drop=True) for n in ("local", "dask")]
    assert len(trials[0]) == 3 * 3 * 3  # 3 units (the baseline too) x 3 folds x 3 trials
    timed = ["median_iter_s", "train_s", "overhead_s"]
    pd.testing.assert_frame_equal(trials[0].drop(columns=timed), trials[1].drop(columns=timed))
    folds = [pd.read_csv(tmp_path / n / "folds.csv").sort_values(keys[:3]).reset_index(drop=True) for n in ("local", "dask")]
    cols = ["unit", "repeat", "fold", "trial", "test_acc", "lr", "dropout", "weight_decay", "readout", "epochs"]
    pd.testing.assert_frame_equal(folds[0][cols], folds[1][cols])
