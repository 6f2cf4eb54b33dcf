"""The plan of a run, before any work: jobs in total, done and to do per unit, and the time left.

``bench run --dry-run`` prints it and stops; every run prints it first. The job list needs the config
(``repeats x folds`` splits for ``cv``), the split file for ``filtered`` and ``file`` (one fixed
split, or one per fold number it names) and the run directory (jobs already stored); a real run
shows its own splits' exact sizes (:meth:`SplitPlan.from_splits`). The time estimate needs the data's shape:

* from finished jobs, when the run directory has some: the median ``train_s`` of the unit's jobs;
* otherwise from a short probe: a few training iterations of the unit on random inputs of the run's
  shape (batch, frames, channels), through the same timer as training, plus one no-grad validation
  batch; times the iterations of a job at its maximum epoch count. That is an upper bound: early
  stopping (``patience``) usually ends a job sooner. Random values cost what real ones do: the units
  do the same arithmetic whatever the numbers.

Without features (a dry run before extraction), frames and channels come from the scattering
transform's own shape probe (no audio is read) and the clips and classes from the data set's listing
(gtzan, folder) or the corpus config (synthetic).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import models
from features import GTZAN_GENRES, FeatureConfig, Scatterer, folder_clips, gtzan_clips

from .baseline import BASELINE
from .config import MAX_JOBS, ConfigError, RunConfig
from .jobs import Job, unit_config
from .splits import Split
from .store import ResultsStore
from .timing import IterationTimer

__all__ = ["DataShape", "SplitPlan", "split_plan", "planned_jobs", "shape_without_features", "probe_unit",
           "plan_rows", "format_plan", "dry_run", "job_count", "check_job_count", "cap_batch"]


@dataclass(frozen=True)
class DataShape:
    clips: int
    frames: int
    channels: int
    classes: int
    source: str  # where the numbers come from, said in the plan
    clip_paths: tuple[str, ...] = ()  # "<class>/<file name>" of every clip, when the data set was listed


@dataclass(frozen=True)
class SplitPlan:
    """The splits of a run as the plan shows them: their keys, sizes (fewest, most) and a label."""

    keys: tuple[tuple[int, int], ...]  # (repeat, fold) of every split, in run order
    train: tuple[int, int]
    val: tuple[int, int]
    test: tuple[int, int]
    label: str

    @classmethod
    def from_splits(cls, splits: list[Split], label: str) -> "SplitPlan":
        """Exact, from the splits a run made."""
        span = lambda part: (min(len(getattr(s, part)) for s in splits), max(len(getattr(s, part)) for s in splits))  # noqa: E731
        return cls(tuple((s.repeat, s.fold) for s in splits), span("train"), span("val"), span("test"), label)


def protocol_label(cfg: RunConfig, n_splits: int) -> str:
    if cfg.protocol == "cv":
        return f"{cfg.repeats}x{cfg.folds}-fold cv"
    if cfg.protocol == "filtered":
        return "artist-filtered GTZAN split (one fixed split)"
    return (f"split file {cfg.split_file}: " + ("one fixed split" if n_splits == 1 else f"{n_splits} folds"))


def _carved(rest: int, cfg: RunConfig, classes: int) -> tuple[int, int]:
    """(train, validation) after the validation clips are carved from ``rest`` (as splits.carve_validation)."""
    val = max(int(round(cfg.val_fraction * rest)), classes)
    return rest - val, val


def split_plan(cfg: RunConfig, shape: DataShape) -> SplitPlan:
    """The splits ``cfg.protocol`` will make on data of ``shape``, without features (cv: to rounding).

    Split-file protocols read the file; with the data set's listing (``shape.clip_paths``) its rows
    are matched to the clips first, so a wrong file fails here as it would in the run.
    """
    if cfg.protocol == "cv":
        keys = tuple((r, f) for r in range(cfg.repeats) for f in range(cfg.folds))
        tests = (shape.clips // cfg.folds, math.ceil(shape.clips / cfg.folds))
        (tr_hi, va_hi), (tr_lo, va_lo) = _carved(shape.clips - tests[0], cfg, shape.classes), \
            _carved(shape.clips - tests[1], cfg, shape.classes)
        return SplitPlan(keys, (tr_lo, tr_hi), (va_lo, va_hi), tests, protocol_label(cfg, len(keys)))
    from .protocols import split_file_path
    from .splitfile import PARTS, match_clips, read_split_file

    path = split_file_path(cfg)
    rows = read_split_file(path)
    parts = (match_clips(rows, list(shape.clip_paths), [], str(path)) if shape.clip_paths
             else list(rows.values()))
    used = [p for p in parts if p != "exclude"]
    folds = sorted({p for p in used if p not in PARTS}, key=int)
    if folds:
        sizes = [(_carved(len(used) - used.count(f), cfg, shape.classes), used.count(f)) for f in folds]
        span = lambda xs: (min(xs), max(xs))  # noqa: E731
        return SplitPlan(tuple((0, f) for f in range(len(folds))), span([tv[0] for tv, _ in sizes]),
                         span([tv[1] for tv, _ in sizes]), span([t for _, t in sizes]), protocol_label(cfg, len(folds)))
    train, val, test = used.count("train"), used.count("val"), used.count("test")
    if val == 0:
        train, val = _carved(train, cfg, shape.classes)
    return SplitPlan(((0, 0),), (train, train), (val, val), (test, test), protocol_label(cfg, 1))


def planned_jobs(cfg: RunConfig, splits: SplitPlan) -> list[Job]:
    """Every job of the run in run order (fold-major), keyed as the run keys them."""
    units = list(cfg.units) + ([BASELINE] if cfg.baseline else [])
    return [Job(u, Split(r, f, 0, (), (), ())) for r, f in splits.keys for u in units]


def shape_without_features(cfg: RunConfig) -> DataShape:
    """Clips, frames, channels and classes of the run's data, without extracting features."""
    fc = FeatureConfig(duration=cfg.seconds, J=cfg.J, Q=cfg.Q)
    scat = Scatterer(fc)  # builds the filter bank and transforms one silent clip: its output shape
    if cfg.dataset in ("gtzan", "folder"):
        clips = gtzan_clips(cfg.data_dir) if cfg.dataset == "gtzan" else folder_clips(cfg.data_dir)
        n, classes, what = len(clips), len({c.genre for c in clips}), f"{cfg.data_dir} listed"
        paths = tuple(c.rel for c in clips)
    else:
        n, classes, what = cfg.clips_per_genre * len(GTZAN_GENRES), len(GTZAN_GENRES), "synthetic corpus config"
        paths = ()
    return DataShape(n, scat.n_frames, scat.n_channels, classes,
                     f"{what}; frames x channels from the scattering transform's shape, features not extracted", paths)


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


def plan_rows(cfg: RunConfig, run_dir: Path, shape: DataShape, splits: SplitPlan, probe: bool = True) -> pd.DataFrame:
    """Per unit: ``jobs, done, todo, job_s`` (seconds per job, an upper bound when probed),
    ``todo_s`` and ``how`` (where the estimate comes from)."""
    store = ResultsStore(run_dir)
    done = store.done()
    jobs = planned_jobs(cfg, splits)
    finished = _finished_seconds(store, done)
    n_train, n_val = splits.train[1], splits.val[1]  # the largest split: an upper bound
    cfg, _ = cap_batch(cfg, splits.train[0])  # the probe never builds a batch larger than a training set
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
            trials = max(cfg.tune, 1)  # --tune: each job trains that many trials
            job_s = trials * cfg.epochs * (batches * it_s + val_batches * ev_s)
            how = (f"at most: probe {it_s:.3g} s/iter x {batches} iter + {val_batches} val. batch x {ev_s:.3g} s, "
                   f"x {cfg.epochs} epochs" + (f" x {trials} trials" if cfg.tune else ""))
        rows.append(dict(unit=unit, jobs=len(keys), done=n_done, todo=len(keys) - n_done, job_s=job_s,
                         todo_s=(len(keys) - n_done) * job_s, how=how))
    return pd.DataFrame(rows)


def _dur(s: float) -> str:
    if not np.isfinite(s):
        return "-"
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min" if s < 7200 else f"{s / 3600:.1f} h"


def _span(lo_hi: tuple[int, int]) -> str:
    return str(lo_hi[0]) if lo_hi[0] == lo_hi[1] else f"{lo_hi[0]}-{lo_hi[1]}"


def format_plan(rows: pd.DataFrame, cfg: RunConfig, shape: DataShape, splits: SplitPlan, run_dir: Path) -> str:
    kind = "classes" if cfg.dataset == "folder" else "genres"
    lines = [f"plan: {cfg.preset} preset, {cfg.dataset}: {shape.clips} clips, {shape.classes} {kind}, "
             f"{shape.frames} frames x {shape.channels} channels ({shape.source})",
             f"      protocol {splits.label}; per split {_span(splits.train)} train / {_span(splits.val)} validation / "
             f"{_span(splits.test)} test clips, "
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
    from .policy import apply_policy

    apply_policy(job_threads(cfg), cfg.subnormals)  # the probe runs under the run's policy
    shape = shape_without_features(cfg)
    splits = split_plan(cfg, shape)
    return format_plan(plan_rows(cfg, run_dir, shape, splits), cfg, shape, splits, run_dir)


def job_count(cfg: RunConfig) -> int:
    """Jobs of the run, counted without listing them (``repeats x folds`` splits for cv; a split file's
    folds are not known before it is read, so it counts as one split here)."""
    splits = cfg.repeats * cfg.folds if cfg.protocol == "cv" else 1
    return splits * (len(cfg.units) + bool(cfg.baseline))


def check_job_count(cfg: RunConfig, yes: bool) -> str:
    """The line that states the job count; a ConfigError (before any work) above MAX_JOBS without --yes."""
    units = len(cfg.units) + bool(cfg.baseline)
    what = (f"{cfg.repeats} repeat(s) x {cfg.folds} fold(s) x {units} unit(s)" if cfg.protocol == "cv"
            else f"{units} unit(s) per split")
    n = job_count(cfg)
    if n > MAX_JOBS and not yes:
        raise ConfigError(f"--repeats {cfg.repeats} and --folds {cfg.folds} make {what} = {n} jobs, more than "
                          f"{MAX_JOBS}: check the numbers, or add --yes to run them all")
    return f"jobs: {what} = {n}" + (" (confirmed by --yes)" if n > MAX_JOBS else "")


def cap_batch(cfg: RunConfig, n_train: int) -> tuple[RunConfig, str | None]:
    """``cfg`` with its batch size capped at ``n_train`` (the smallest training set of the run's splits),
    and the note that says so (None when nothing changed). A larger batch would only cost memory."""
    if n_train < 1 or cfg.batch_size <= n_train:
        return cfg, None
    return replace(cfg, batch_size=n_train), (f"note: --batch-size {cfg.batch_size} is larger than the training set "
                                              f"({n_train} clips): capped at {n_train}")
