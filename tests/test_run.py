"""End-to-end runs of ``python -m bench run`` on audio the tests write themselves."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import models
from bench.cli import main
from tests.conftest import write_gtzan

TINY_RUN = ["--folds", "3", "--repeats", "1", "--epochs", "4", "--seconds", "1", "--J", "6", "--Q", "4",
            "--hidden", "8", "--layers", "2", "--batch-size", "4", "--warmup-iters", "2", "--threads", "1"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return write_gtzan(tmp_path_factory.mktemp("gtzan"), genres=("blues", "pop", "rock"), per_genre=6, seconds=1.0)


def bench_run(data_dir, out, cache, *extra):
    argv = ["run", "--dataset", "gtzan", "--data-dir", str(data_dir), "--cache-dir", str(cache),
            "--out", str(out), *TINY_RUN, *extra]
    return argv


def test_tiny_run_writes_tidy_tables_and_metadata(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(bench_run(data_dir, out, tmp_path / "c", "--units", "indrnn,lstm")) == 0
    folds = pd.read_csv(out / "folds.csv")
    assert sorted(folds.unit.unique()) == ["indrnn", "lstm", "scat+logreg"]
    assert len(folds) == 9 and folds.groupby("unit").size().tolist() == [3, 3, 3]
    assert folds[["n_train", "n_val", "n_test"]].sum(axis=1).eq(18).all() and folds.n_test.eq(6).all()
    assert (folds.trial == -1).all() and not (out / "trials.csv").exists()  # the fixed recipe: no tuning table
    rec = folds[folds.unit != "scat+logreg"]
    assert rec.test_acc.between(0, 1).all() and (rec.median_iter_s > 0).all() and (rec.epochs == 4).all()
    assert not rec.diverged.any()
    epochs = pd.read_csv(out / "epochs.csv")
    assert len(epochs) == 2 * 3 * 4 and epochs.val_auc.between(0, 1).all()
    iters = pd.read_csv(out / "iterations.csv")
    # 3 batches of 4 per epoch (n_train = 9 or 10 -> 3 batches), 4 epochs, first 2 flagged warm-up
    per_job = iters.groupby(["unit", "fold"]).size()
    assert (per_job == 12).all() and iters.groupby(["unit", "fold"]).warmup.sum().eq(2).all()
    # every iteration records its batch: two full batches of 4, then the rest of the 9 or 10 training clips
    for (unit, fold), it in iters.groupby(["unit", "fold"]):
        n_train = int(rec[(rec.unit == unit) & (rec.fold == fold)].n_train.iloc[0])
        assert it.batch_size.tolist() == [4, 4, n_train - 8] * 4
        assert it.partial.tolist() == [False, False, True] * 4
    row = rec.iloc[0]
    job_iters = iters[(iters.unit == row.unit) & (iters.fold == row.fold)]
    steady = job_iters[~job_iters.warmup & ~job_iters.partial]  # the partial batches stay out of the summary
    assert row.timed_iters == len(steady) == 12 - 2 - 4  # 2 warm-up (iterations 0, 1), 4 partial (2, 5, 8, 11)
    assert row.median_iter_s == pytest.approx(steady.seconds.median())
    preds = pd.read_csv(out / "predictions.csv")
    assert len(preds) == 18 * 3 and set(preds.pred) <= {0, 1, 2}
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["config"]["units"] == ["indrnn", "lstm"] and meta["config"]["folds"] == 3
    assert meta["features"]["genres"] == ["blues", "pop", "rock"] and meta["finished"]
    assert meta["environment"]["versions"]["torch"] == torch.__version__ and meta["environment"]["torch_threads"] == 1
    assert len(json.loads((out / "splits.json").read_text())) == 3
    text = capsys.readouterr().out
    assert "unit" in text and "x indrnn" in text and "scat+logreg" in text


@pytest.mark.slow  # a whole run, or several processes: 10 s or more on 2 cores
def test_same_seed_same_splits_and_cpu_results(data_dir, tmp_path):
    for name in ("a", "b"):
        assert main(bench_run(data_dir, tmp_path / name, tmp_path / "c", "--units", "indrnn,gru", "--seed", "3")) == 0
    a, b = (pd.read_csv(tmp_path / n / "folds.csv") for n in ("a", "b"))
    cols = ["unit", "repeat", "fold", "test_acc", "test_auc", "epochs", "best_epoch"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    ea, eb = (pd.read_csv(tmp_path / n / "epochs.csv") for n in ("a", "b"))
    pd.testing.assert_frame_equal(ea, eb)  # losses identical to the last bit
    assert (tmp_path / "a" / "splits.json").read_text() == (tmp_path / "b" / "splits.json").read_text()
    assert main(bench_run(data_dir, tmp_path / "c4", tmp_path / "c", "--units", "indrnn,gru", "--seed", "4")) == 0
    assert (tmp_path / "c4" / "splits.json").read_text() != (tmp_path / "a" / "splits.json").read_text()


class NaNAfter(torch.nn.Module):
    """An encoder whose output turns NaN once it has trained a few steps."""

    def __init__(self, input_dim, config):
        super().__init__()
        self.inner = models.UNITS["gru"].native(input_dim, config)
        self.output_size = self.inner.output_size
        self.steps = 0

    def forward(self, x, lengths=None):
        self.steps += self.training
        y = self.inner(x, lengths)
        return y * float("nan") if self.steps > 3 else y


def test_a_diverging_unit_is_recorded_and_the_run_goes_on(data_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(models.UNITS, "nanunit", models.registry.Unit(NaNAfter, None))
    out = tmp_path / "run"
    assert main(bench_run(data_dir, out, tmp_path / "c", "--units", "nanunit,indrnn")) == 0
    folds = pd.read_csv(out / "folds.csv")
    bad = folds[folds.unit == "nanunit"]
    assert len(bad) == 3 and bad.diverged.all() and bad.test_acc.isna().all()
    assert bad.note.str.contains("non-finite training loss at epoch 2").all()
    good = folds[folds.unit == "indrnn"]
    assert len(good) == 3 and not good.diverged.any() and good.test_acc.notna().all()


@pytest.mark.slow  # a whole run, or several processes: 10 s or more on 2 cores
def test_killed_run_resumes_with_exactly_one_row_per_fold(data_dir, tmp_path):
    out, cache = tmp_path / "run", tmp_path / "c"
    argv = bench_run(data_dir, out, cache, "--units", "indrnn,lstm,gru", "--epochs", "30", "--patience", "0")
    proc = subprocess.Popen([sys.executable, "-m", "bench", *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=Path(__file__).parent.parent)
    parts = out / "parts"
    deadline = time.time() + 120
    while time.time() < deadline and not (parts.is_dir() and len([p for p in parts.iterdir() if not p.name.startswith(".")]) >= 2):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # kill -9 in the middle of the run
    proc.wait()
    done_before = {p.name: p.stat().st_mtime_ns for p in parts.iterdir() if not p.name.startswith(".")}
    assert 2 <= len(done_before) < 12, "the kill should land mid-run"
    assert main(argv) == 0
    folds = pd.read_csv(out / "folds.csv")
    assert len(folds) == 12 and not folds.duplicated(["unit", "repeat", "fold"]).any()
    assert {p.name for p in parts.iterdir()} >= set(done_before) and len(list(parts.iterdir())) == 12 + len(
        [p for p in parts.iterdir() if p.name.startswith(".")])
    for name, mtime in done_before.items():  # finished jobs were not recomputed
        assert (parts / name).stat().st_mtime_ns == mtime
    iters = pd.read_csv(out / "iterations.csv")
    assert not iters.duplicated(["unit", "repeat", "fold", "iteration"]).any()
    assert main(argv) == 0  # a third call has nothing left to do
    assert len(pd.read_csv(out / "folds.csv")) == 12


def test_changed_options_refuse_to_mix_into_an_existing_run(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(bench_run(data_dir, out, tmp_path / "c", "--units", "indrnn", "--no-baseline")) == 0
    assert main(bench_run(data_dir, out, tmp_path / "c", "--units", "indrnn", "--no-baseline", "--lr", "0.1")) == 2
    assert "differs in: lr" in capsys.readouterr().err


def test_clip_grad_zero_turns_clipping_off(data_dir, tmp_path):
    from bench.cli import build_parser, run_config

    args = build_parser().parse_args(bench_run(data_dir, tmp_path / "r", tmp_path / "c", "--clip-grad", "0"))
    assert run_config(args).clip_grad == 0
    args = build_parser().parse_args(bench_run(data_dir, tmp_path / "r", tmp_path / "c"))
    assert run_config(args).clip_grad == 1.0
