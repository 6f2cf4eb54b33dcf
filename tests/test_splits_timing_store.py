from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.protocol.splits import cv_splits
from bench.results.store import ResultsStore, RunMismatch
from bench.measure.timing import IterationTimer, summarize

LABELS = np.repeat(np.arange(4), 10)  # 4 genres x 10 clips


def test_cv_splits_are_stratified_disjoint_and_cover_every_clip_once_per_repeat():
    splits = cv_splits(LABELS, folds=5, repeats=3, seed=7, val_fraction=0.25)
    assert len(splits) == 15 and [(s.repeat, s.fold) for s in splits[:6]] == [(0, f) for f in range(5)] + [(1, 0)]
    for r in range(3):
        tests = np.concatenate([s.test for s in splits if s.repeat == r])
        assert sorted(tests.tolist()) == list(range(40))  # each clip tested exactly once per repeat
    for s in splits:
        tr, va, te = map(set, (s.train, s.val, s.test))
        assert not (tr & va or tr & te or va & te) and len(tr | va | te) == 40
        assert np.bincount(LABELS[list(s.test)]).tolist() == [2, 2, 2, 2]  # stratified
        assert len(s.val) == 8 and np.bincount(LABELS[list(s.val)]).tolist() == [2, 2, 2, 2]
        assert s.seed == 7 + s.repeat
    assert splits[0].test != splits[5].test  # repeats are reshuffled


def test_cv_splits_are_deterministic_and_seed_dependent():
    a, b, c = (cv_splits(LABELS, 5, 2, seed) for seed in (0, 0, 1))
    assert a == b and a != c


def test_cv_rejects_genres_smaller_than_the_fold_count():
    with pytest.raises(ValueError, match="--folds 10: stratified 10-fold CV needs at least 10 clips per class; the smallest class has 3"):
        cv_splits(np.array([0] * 3 + [1] * 12), 10, 1, 0)


def test_timer_keeps_warmup_iterations_but_summaries_exclude_them():
    timer = IterationTimer("cpu", warmup=2)
    for _ in range(7):
        with timer.iteration():
            sum(range(20000))
    times = timer.times()
    assert len(times) == 7 and all(t > 0 for t in times)
    assert timer.is_warmup() == [True, True] + [False] * 5
    s = timer.summary()
    assert s.n == 5 and s.median == pytest.approx(float(np.median(times[2:])))
    assert s.q1 <= s.median <= s.q3 and s.iqr == pytest.approx(s.q3 - s.q1)


def test_summarize_median_and_iqr():
    s = summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    assert (s.median, s.q1, s.q3, s.n) == (3.0, 2.0, 4.0, 5)
    assert np.isnan(summarize([]).median)


def job_tables(unit, fold, acc):
    return {"folds": pd.DataFrame([dict(unit=unit, repeat=0, fold=fold, test_acc=acc)]),
            "epochs": pd.DataFrame([dict(unit=unit, repeat=0, fold=fold, epoch=e, val_acc=acc) for e in (1, 2)]),
            "iterations": pd.DataFrame(dict(unit=unit, repeat=0, fold=fold, iteration=[0, 1], seconds=[0.1, 0.2])),
            "predictions": pd.DataFrame(dict(unit=unit, repeat=0, fold=fold, clip_id=["a"], true=[0], pred=[0]))}


def test_store_writes_jobs_whole_once_and_consolidates(tmp_path):
    store = ResultsStore(tmp_path / "run")
    store.open({"config": {"a": 1}}, [{"repeat": 0}])
    assert store.write_job("indrnn-r00-f00", job_tables("indrnn", 0, 0.5))
    assert not store.write_job("indrnn-r00-f00", job_tables("indrnn", 0, 0.9))  # a retried job: first copy kept
    assert store.write_job("lstm-r00-f00", job_tables("lstm", 0, 0.7))
    store.consolidate()
    folds = store.table("folds")
    assert folds[["unit", "test_acc"]].values.tolist() == [["indrnn", 0.5], ["lstm", 0.7]]
    assert len(store.table("epochs")) == 4 and len(store.table("iterations")) == 4
    assert store.done() == {"indrnn-r00-f00", "lstm-r00-f00"}
    leftovers = [p.name for p in store.parts.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_store_refuses_to_mix_runs_with_different_configs(tmp_path):
    ResultsStore(tmp_path).open({"config": {"lr": 1e-3, "folds": 5}}, [])
    ResultsStore(tmp_path).open({"config": {"lr": 1e-3, "folds": 5}}, [])  # same config: resume
    with pytest.raises(RunMismatch, match="differs in: lr"):
        ResultsStore(tmp_path).open({"config": {"lr": 1e-5, "folds": 5}}, [])


def test_pinned_threads_survive_the_indrnn_kernels_first_parallel_launch(tmp_path):
    """numba's OpenMP launch once reset torch's thread count in the process; pinning both keeps it."""
    import subprocess
    import sys

    code = ("import torch, numba, models\n"
            "from bench.measure.policy import set_threads\n"
            "set_threads(1)\n"
            "m = models.build('indrnn', 6, 3, models.ModelConfig(hidden=8, layers=2, max_len=20))\n"
            "m(torch.randn(4, 20, 6)).sum().backward()\n"
            "print(torch.get_num_threads(), numba.get_num_threads())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent.parent)  # a fresh process: numba's pool not launched yet
    assert out.stdout.split() == ["1", "1"]
