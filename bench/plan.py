"""The plan of a run, before any work: jobs in total, done and to do per unit, and the time left.

``bench run --dry-run`` prints it and stops; every run prints it first. The job list needs only the
config (``repeats x folds`` splits for ``cv``, one for ``filtered``: the keys do not depend on the
clips) and the run directory (jobs already stored). The time estimate needs the data's shape:

* from finished jobs, when the run directory has some: the median ``train_s`` of the unit's jobs;
* otherwise from a short probe: a few training iterations of the unit on random inputs of the run's
  shape (batch, frames, channels), through the same timer as training, plus one no-grad validation
  batch; times the iterations of a job at its maximum epoch count. That is an upper bound: early
  stopping (``patience``) usually ends a job sooner. Random values cost what real ones do: the units
  do the same arithmetic whatever the numbers.

Without features (a dry run before extraction), frames and channels come from the scattering
transform's own shape probe (no audio is read) and the clip count from the data set's listing.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import models
from features import GTZAN_GENRES, FeatureConfig, Scatterer, gtzan_clips

from .baseline import BASELINE
from .config import RunConfig
from .jobs import Job, unit_config
from .splits import Split
from .store import ResultsStore
from .timing import IterationTimer

__all__ = ["DataShape", "planned_jobs", "shape_without_features", "fold_sizes", "probe_unit", "plan_rows",
           "format_plan", "dry_run"]

FILTERED_SIZES = (443, 197, 290)  # train, validation, test clips of the artist-filtered GTZAN lists


@dataclass(frozen=True)
class DataShape:
    clips: int
    frames: int
    channels: int
    classes: int
    source: str  # where the numbers come from, said in the plan


def planned_jobs(cfg: RunConfig) -> list[Job]:
    """Every job of the run in run order (fold-major), keyed as the run keys them."""
    splits = [(0, 0)] if cfg.protocol == "filtered" else [(r, f) for r in range(cfg.repeats) for f in range(cfg.folds)]
    units = list(cfg.units) + ([BASELINE] if cfg.baseline else [])
    return [Job(u, Split(r, f, 0, (), (), ())) for r, f in splits for u in units]


def shape_without_features(cfg: RunConfig) -> DataShape:
    """Clips, frames, channels and genres of the run's data, without extracting features."""
    fc = FeatureConfig(duration=cfg.seconds, J=cfg.J, Q=cfg.Q)
    scat = Scatterer(fc)  # builds the filter bank and transforms one silent clip: its output shape
    if cfg.dataset == "gtzan":
        clips = gtzan_clips(cfg.data_dir)
        n, classes, what = len(clips), len({c.genre for c in clips}), f"{cfg.data_dir} listed"
    else:
        n, classes, what = cfg.clips_per_genre * len(GTZAN_GENRES), len(GTZAN_GENRES), "synthetic corpus config"
    return DataShape(n, scat.n_frames, scat.n_channels, classes,
                     f"{what}; frames x channels from the scattering transform's shape, features not extracted")


def fold_sizes(cfg: RunConfig, clips: int, classes: int) -> tuple[int, int, int]:
    """(train, validation, test) clips of one split, as the protocol makes them (cv: to rounding)."""
    if cfg.protocol == "filtered":
        return FILTERED_SIZES
    test = math.ceil(clips / cfg.folds)
    rest = clips - test
    val = max(int(round(cfg.val_fraction * rest)), classes)
    return rest - val, val, test


def probe_unit(unit: str, cfg: RunConfig, shape: DataShape, iters: int = 3) -> tuple[float, float]:
    """(seconds per training iteration, seconds per validation batch) of ``unit`` at the run's shape.

    One warm-up iteration, then ``iters - 1`` timed ones (median), through :class:`IterationTimer`.
    """
    gen = torch.Generator().manual_seed(0)  # its own generator: the probe leaves the global RNG alone
    dev = torch.device(cfg.device)
    x = torch.randn(cfg.batch_size, shape.frames, shape.channels, generator=gen).to(dev)
    y = torch.randint(0, shape.classes, (cfg.batch_size,), generator=gen).to(dev)
    lengths = torch.full((cfg.batch_size,), shape.frames, dtype=torch.long, device=dev)
    state = torch.get_rng_state()
    mcfg = unit_config(cfg, unit, shape.channels, shape.classes, shape.frames)
    model = models.build(unit, shape.channels, shape.classes, mcfg).to(dev)
    from .step import TrainStep, make_optimizer

    opt = make_optimizer(model, cfg.lr, cfg.weight_decay, cfg.step, cfg.fused_adam)
    step = TrainStep(model, opt, cfg.clip_grad, cfg.precision, cfg.step, cfg.batch_size)  # the run's own step
    timer = IterationTimer(cfg.device, warmup=1, batch_size=cfg.batch_size)
    for _ in range(iters + (4 if cfg.step == "graph" else 0)):  # graph: 3 eager warm-ups and the capture first
        step(x, lengths, y, timer)
    model.eval()
    with torch.no_grad():
        t0 = time.perf_counter()
        model(x, lengths).argmax(1).cpu()
        eval_s = time.perf_counter() - t0
    torch.set_rng_state(state)  # dropout drew from it
    return timer.summary().median, eval_s


def _finished_seconds(store: ResultsStore, done: set[str]) -> pd.DataFrame:
    """``unit, train_s`` of every finished job (read from its own part)."""
    rows = [df[["unit", "train_s"]] for k in sorted(done) if (df := store.read_parts("folds", [k])).shape[0]]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["unit", "train_s"])


def plan_rows(cfg: RunConfig, run_dir: Path, shape: DataShape, probe: bool = True) -> pd.DataFrame:
    """Per unit: ``jobs, done, todo, job_s`` (seconds per job, an upper bound when probed),
    ``todo_s`` and ``how`` (where the estimate comes from)."""
    store = ResultsStore(run_dir)
    done = store.done()
    jobs = planned_jobs(cfg)
    finished = _finished_seconds(store, done)
    n_train, n_val, _ = fold_sizes(cfg, shape.clips, shape.classes)
    batches, val_batches = math.ceil(n_train / cfg.batch_size), math.ceil(n_val / cfg.batch_size)
    rows = []
    for unit in dict.fromkeys(j.unit for j in jobs):
        keys = [j.key for j in jobs if j.unit == unit]
        n_done = sum(k in done for k in keys)
        seen = finished.loc[finished["unit"] == unit, "train_s"].dropna()
        if len(seen):
            job_s, how = float(seen.median()), f"median of {len(seen)} finished job(s)"
        elif unit == BASELINE or not probe:
            job_s, how = math.nan, "not estimated" + (" (a logistic-regression fit: seconds)" if unit == BASELINE else "")
        else:
            it_s, ev_s = probe_unit(unit, cfg, shape)
            job_s = cfg.epochs * (batches * it_s + val_batches * ev_s)
            how = (f"at most: probe {it_s:.3g} s/iter x {batches} iter + {val_batches} val. batch x {ev_s:.3g} s, "
                   f"x {cfg.epochs} epochs")
        rows.append(dict(unit=unit, jobs=len(keys), done=n_done, todo=len(keys) - n_done, job_s=job_s,
                         todo_s=(len(keys) - n_done) * job_s, how=how))
    return pd.DataFrame(rows)


def _dur(s: float) -> str:
    if not np.isfinite(s):
        return "-"
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min" if s < 7200 else f"{s / 3600:.1f} h"


def format_plan(rows: pd.DataFrame, cfg: RunConfig, shape: DataShape, run_dir: Path) -> str:
    protocol = f"{cfg.repeats}x{cfg.folds}-fold cv" if cfg.protocol == "cv" else "one fixed split (filtered)"
    n_train, n_val, n_test = fold_sizes(cfg, shape.clips, shape.classes)
    lines = [f"plan: {cfg.preset} preset, {cfg.dataset}: {shape.clips} clips, {shape.classes} genres, "
             f"{shape.frames} frames x {shape.channels} channels ({shape.source})",
             f"      protocol {protocol}; per split {n_train} train / {n_val} validation / {n_test} test clips, "
             f"batch {cfg.batch_size}, up to {cfg.epochs} epochs (patience {cfg.patience}); device {cfg.device}",
             f"      run directory {run_dir}",
             f"{'unit':<13}{'jobs':>6}{'done':>6}{'to do':>7}{'per job':>10}{'to do, time':>13}   estimate"]
    for r in rows.itertuples():
        lines.append(f"{r.unit:<13}{r.jobs:>6}{r.done:>6}{r.todo:>7}{_dur(r.job_s):>10}{_dur(r.todo_s):>13}   {r.how}")
    known = rows["todo_s"].dropna()
    lines.append(f"{'total':<13}{rows.jobs.sum():>6}{rows.done.sum():>6}{rows.todo.sum():>7}{'':>10}"
                 f"{_dur(known.sum()) if len(known) else '-':>13}   one job after another (local executor); "
                 "units without an estimate not included")
    return "\n".join(lines)


def dry_run(cfg: RunConfig, run_dir: Path) -> str:
    """The plan of a run that has not extracted its features (``bench run --dry-run``); writes nothing."""
    from .executors import job_threads
    from .policy import set_threads

    set_threads(job_threads(cfg))  # the probe runs at the run's thread count
    shape = shape_without_features(cfg)
    return format_plan(plan_rows(cfg, run_dir, shape), cfg, shape, run_dir)
