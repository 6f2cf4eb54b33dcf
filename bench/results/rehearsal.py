"""A paper-size results store from generated rows, no training: does the store hold at 400 jobs?

``--preset paper`` is 4 units x 10 repeats x 10 folds = 400 training jobs (plus 100 baseline fits), each
up to 500 epochs of 26 iterations (810 training clips, batch 32). This module writes such a store with
the columns :func:`bench.execution.jobs.run_job` writes, and times the store's work per job as the job count
grows, so that "writing job 400 costs what job 1 costs" is a measurement, not a claim::

    python -m bench.results.rehearsal --out /tmp/rehearsal          # then: python -m bench report /tmp/rehearsal

The rows are random but plausible (accuracies per unit, a few diverged folds, log-normal iteration
times); only their sizes and types matter here.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..execution.baseline import BASELINE
from .store import ResultsStore

__all__ = ["PAPER_SIZE", "paper_job_tables", "job_order", "write_rehearsal"]

UNITS = ("rnn", "lstm", "gru", "indrnn")
PAPER_SIZE = dict(epochs=500, iters_per_epoch=26, n_train=810, n_val=90, n_test=100, n_classes=10, warmup=5)
"""The sizes of one job of ``--preset paper`` on GTZAN: what :func:`paper_job_tables` generates by default."""
_ACC = {"rnn": 0.80, "lstm": 0.90, "gru": 0.91, "indrnn": 0.92, BASELINE: 0.85}  # generated means
_ITER_S = {"rnn": 0.27, "lstm": 0.68, "gru": 0.55, "indrnn": 0.23}  # the paper's seconds, roughly


def job_order(units=UNITS, repeats: int = 10, folds: int = 10, baseline: bool = False) -> list[tuple[str, int, int]]:
    """(unit, repeat, fold) in the run's order: fold-major, every unit sees a fold in turn.

    Args:
        units (Sequence[str]): the units.
        repeats: repeats.
        folds: folds per repeat.
        baseline: add the baseline after the units of every fold.

    Returns:
        The jobs as ``(unit, repeat, fold)``.
    """
    us = list(units) + ([BASELINE] if baseline else [])
    return [(u, r, f) for r in range(repeats) for f in range(folds) for u in us]


def job_key(unit: str, repeat: int, fold: int) -> str:
    return f"{unit}-r{repeat:02d}-f{fold:02d}"


def paper_job_tables(unit: str, repeat: int, fold: int, rng: np.random.Generator, diverged: bool = False,
                     size: dict | None = None) -> dict[str, pd.DataFrame]:
    """The four tables of one finished job, at paper size, with run_job's columns and dtypes.

    The rows are random but plausible (accuracies around each unit's, log-normal iteration times around
    the paper's seconds); only their sizes and types matter.

    Args:
        unit: one of ``rnn``, ``lstm``, ``gru``, ``indrnn`` or the baseline.
        repeat: the repeat.
        fold: the fold.
        rng: the generator the rows are drawn from.
        diverged: make the job diverge (NaN losses, no test accuracy).
        size: overrides of :data:`PAPER_SIZE` (``epochs``, ``iters_per_epoch``, ...).

    Returns:
        ``folds``, ``epochs``, ``iterations`` and ``predictions`` (the baseline: no epochs, no iterations).
    """
    s = {**PAPER_SIZE, **(size or {})}
    ids = dict(unit=unit, repeat=repeat, fold=fold)
    clips = [f"clip.{i:05d}" for i in rng.choice(1000, s["n_test"], replace=False)]
    true = rng.integers(0, s["n_classes"], s["n_test"])
    acc = float(np.clip(rng.normal(_ACC[unit], 0.03), 0, 1))
    hit = rng.random(s["n_test"]) < acc
    pred = np.where(hit, true, (true + rng.integers(1, s["n_classes"], s["n_test"])) % s["n_classes"])
    sizes = dict(n_train=s["n_train"], n_val=s["n_val"], n_test=s["n_test"])
    if unit == BASELINE:
        row = dict(test_acc=float(hit.mean()), test_auc=np.nan, epochs=0, best_epoch=0, median_iter_s=np.nan,
                   q1_iter_s=np.nan, q3_iter_s=np.nan, timed_iters=0, params=7490, diverged=False, note="",
                   train_s=float(rng.uniform(0.5, 2.0)), **sizes)
        return {"folds": pd.DataFrame([{**ids, **row}]), "epochs": pd.DataFrame(), "iterations": pd.DataFrame(),
                "predictions": pd.DataFrame({**ids, "clip_id": clips, "true": true, "pred": pred})}
    n_ep = 17 if diverged else s["epochs"]
    n_it = n_ep * s["iters_per_epoch"]
    seconds = _ITER_S[unit] * rng.lognormal(0.0, 0.08, n_it)
    warm = np.arange(n_it) < s["warmup"]
    ep = np.arange(1, n_ep + 1)
    loss = 2.3 * np.exp(-ep / 150) + rng.normal(0, 0.02, n_ep)
    epochs = pd.DataFrame({**ids, "epoch": ep, "train_loss": loss, "val_loss": loss + 0.1,
                           "val_acc": np.clip(acc * (1 - np.exp(-ep / 60)) + rng.normal(0, 0.02, n_ep), 0, 1),
                           "val_auc": np.clip(0.5 + 0.49 * (1 - np.exp(-ep / 40)) + rng.normal(0, 0.01, n_ep), 0, 1)})
    timed = seconds[~warm]
    q1, med, q3 = np.percentile(timed, [25, 50, 75])
    row = dict(test_acc=np.nan if diverged else float(hit.mean()), test_auc=np.nan if diverged else 0.95,
               epochs=n_ep, best_epoch=0 if diverged else int(rng.integers(n_ep // 2, n_ep + 1)),
               median_iter_s=med, q1_iter_s=q1, q3_iter_s=q3, timed_iters=int((~warm).sum()), params=400_000,
               diverged=diverged, note=f"non-finite training loss at epoch {n_ep}" if diverged else "",
               train_s=float(seconds.sum() * 1.2), **sizes)
    if diverged:
        epochs.loc[epochs.index[-1], ["train_loss", "val_loss", "val_acc", "val_auc"]] = np.nan
    return {"folds": pd.DataFrame([{**ids, **row}]), "epochs": epochs,
            "iterations": pd.DataFrame({**ids, "iteration": np.arange(n_it), "seconds": seconds, "warmup": warm}),
            "predictions": pd.DataFrame({**ids, "clip_id": clips, "true": true,
                                         "pred": [-1] * s["n_test"] if diverged else pred})}


def write_rehearsal(out: str | Path, jobs: int = 400, checkpoints=(1, 100, 400), baseline: bool = False,
                    consolidate_each_job: bool = False, seed: int = 0, size: dict | None = None) -> pd.DataFrame:
    """Write ``jobs`` generated jobs into a fresh store at ``out`` and time the store's work per job.

    Returns one row per training job: its number (1-based, baseline fits not counted), key, and the
    seconds ``write_job`` took. At each checkpoint the per-job step is also timed whole
    (``step_s``): ``write_job`` and, with ``consolidate_each_job``, a full ``consolidate()`` (what
    ``bench run`` did after every job before the store became append-only).

    Its ``metadata.json`` marks the store as generated, and a report of it says so everywhere.

    Args:
        out: a new directory for the store.
        jobs: training jobs to write (the baseline's fits not counted).
        checkpoints (Sequence[int]): job numbers at which the whole step is timed.
        baseline: also write the baseline's fit of every fold.
        consolidate_each_job: at the checkpoints, also build the top-level tables.
        seed: the rows' seed.
        size: overrides of :data:`PAPER_SIZE`.

    Returns:
        ``job``, ``key``, ``write_s`` and ``step_s`` (NaN but at the checkpoints).
    """
    rng = np.random.default_rng(seed)
    store = ResultsStore(out)
    store.open({"config": {"preset": "paper", "rehearsal": True, "jobs": jobs},
                "generated": "rehearsal: random accuracies and the paper's seconds with noise, not measured"}, [])
    order = job_order(baseline=baseline)
    diverge = {("rnn", 0, 3), ("rnn", 2, 7), ("rnn", 5, 1), ("gru", 4, 4)}  # a few folds go NaN, as in real runs
    rows, n = [], 0
    for unit, r, f in order:
        if n >= jobs:
            break
        tables = paper_job_tables(unit, r, f, rng, diverged=(unit, r, f) in diverge, size=size)
        key = job_key(unit, r, f)
        t0 = time.perf_counter()
        store.write_job(key, tables)
        write_s = time.perf_counter() - t0
        if unit == BASELINE:
            continue
        n += 1
        step_s = np.nan
        if n in checkpoints:
            if consolidate_each_job:
                store.consolidate()
            step_s = time.perf_counter() - t0
        rows.append(dict(job=n, key=key, write_s=write_s, step_s=step_s))
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.results.rehearsal", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="a new directory for the store")
    p.add_argument("--jobs", type=int, default=400, help="training jobs to write (default 400)")
    p.add_argument("--baseline", action="store_true", help="also write the baseline fit of every fold")
    p.add_argument("--consolidate-each-job", action="store_true",
                   help="rebuild the top-level tables at each checkpoint job, as bench run once did after every job")
    p.add_argument("--finish", action="store_true", help="build the top-level tables once at the end, as bench run does")
    args = p.parse_args(argv)
    checkpoints = tuple(c for c in (1, 100, 400) if c <= args.jobs) + ((args.jobs,) if args.jobs not in (1, 100, 400) else ())
    t = write_rehearsal(args.out, args.jobs, checkpoints, args.baseline, args.consolidate_each_job)
    print("job  step_s (whole per-job store step)  write_s (median of the 5 jobs up to it)")
    for c in checkpoints:
        near = t[(t.job <= c) & (t.job > c - 5)]
        print(f"{c:>3}  {t.loc[t.job == c, 'step_s'].iloc[0]:8.3f}  {near.write_s.median():8.3f}")
    if args.finish:
        t0 = time.perf_counter()
        ResultsStore(args.out).consolidate()
        print(f"top-level tables built once: {time.perf_counter() - t0:.1f} s")
    sizes = {p.name: p.stat().st_size for p in Path(args.out).iterdir() if p.is_file()}
    print("files: " + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sorted(sizes.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
