"""The plan of a run, before any work: jobs in total, done and to do per unit, and the time left.

``bench run --dry-run`` prints it and stops; every run prints it first. The job list needs the config
(``repeats x folds`` splits for ``cv``), the split file for ``filtered`` and ``file`` (one fixed
split, or one per fold number it names) and the run directory (jobs already stored); a real run
shows its own splits' exact sizes (:meth:`SplitPlan.from_splits`). The time estimate needs the data's shape:

* from finished jobs, when the run directory has some: the median ``train_s`` of the unit's jobs;
* otherwise from a short probe (:mod:`bench.execution.probe`): training iterations of the unit on random inputs of
  the run's shape for about a second, and a few validation batches. A job is then its setup (model,
  warm-up iterations), its epochs (training batches and validation batches each) and its test batches.
  The estimate takes the fastest probe iteration and every epoch up to ``epochs`` (what a free machine
  needs at most); its range runs from the fewest epochs early stopping allows (``patience + 1``) to all
  of them at the median probe iteration (a machine as busy as during the probe). The plan says how
  much of the machine other processes took while it probed.

Without features (a dry run before extraction), frames and channels come from the scattering
transform's own shape probe (no audio is read) and the clips and classes from the data set's listing
(gtzan, folder) or the corpus config (synthetic).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import models
from features import GTZAN_GENRES, FeatureConfig, Scatterer, folder_clips, gtzan_clips

from ..config import MAX_JOBS, ConfigError, RunConfig
from ..measure.policy import apply_policy
from ..protocol.splits import Split
from ..results.store import ResultsStore
from .baseline import BASELINE
from .executors import job_threads
from .jobs import Job
from .probe import CpuMeter, Probe, probe_unit

__all__ = ["DataShape", "SplitPlan", "split_plan", "planned_jobs", "shape_without_features",
           "plan_rows", "format_plan", "dry_run", "job_count", "check_job_count", "cap_batch"]


@dataclass(frozen=True)
class DataShape:
    """The shape of a run's data, as far as the plan needs it.

    Attributes:
        clips: clips in the data set.
        frames: frames per clip (scattering time steps).
        channels: features per frame.
        classes: genres or classes.
        source: where the numbers come from, said in the plan.
        clip_paths: ``"<class>/<file name>"`` of every clip, when the data set was listed (for split files).
    """

    clips: int
    frames: int
    channels: int
    classes: int
    source: str
    clip_paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class SplitPlan:
    """The splits of a run as the plan shows them: their keys, sizes (fewest, most) and a label.

    Attributes:
        keys: ``(repeat, fold)`` of every split, in run order.
        train: (fewest, most) training clips of a split.
        val: (fewest, most) validation clips.
        test: (fewest, most) test clips.
        label: the protocol in words, e.g. ``"1x5-fold cv"``.
    """

    keys: tuple[tuple[int, int], ...]
    train: tuple[int, int]
    val: tuple[int, int]
    test: tuple[int, int]
    label: str

    @classmethod
    def from_splits(cls, splits: list[Split], label: str) -> "SplitPlan":
        """Exact, from the splits a run made.

        Args:
            splits: the run's splits.
            label: the protocol in words (:func:`protocol_label`).

        Returns:
            The plan of those splits.
        """
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

    Args:
        cfg: the run's configuration.
        shape: the data's shape (:func:`shape_without_features`, or the extracted features').

    Returns:
        The splits' keys, sizes and label.
    """
    if cfg.protocol == "cv":
        keys = tuple((r, f) for r in range(cfg.repeats) for f in range(cfg.folds))
        tests = (shape.clips // cfg.folds, math.ceil(shape.clips / cfg.folds))
        (tr_hi, va_hi), (tr_lo, va_lo) = _carved(shape.clips - tests[0], cfg, shape.classes), \
            _carved(shape.clips - tests[1], cfg, shape.classes)
        return SplitPlan(keys, (tr_lo, tr_hi), (va_lo, va_hi), tests, protocol_label(cfg, len(keys)))
    from ..protocol.protocols import split_file_path
    from ..protocol.splitfile import PARTS, match_clips, read_split_file

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
    """Every job of the run in run order (fold-major), keyed as the run keys them.

    Args:
        cfg: the run's configuration (units, baseline).
        splits: its splits (:func:`split_plan`).

    Returns:
        One :class:`~bench.execution.jobs.Job` per unit and split; their splits carry keys, not clips.
    """
    units = list(cfg.units) + ([BASELINE] if cfg.baseline else [])
    return [Job(u, Split(r, f, 0, (), (), ())) for r, f in splits.keys for u in units]


def shape_without_features(cfg: RunConfig) -> DataShape:
    """Clips, frames, channels and classes of the run's data, without extracting features.

    Args:
        cfg: the run's configuration (data set, data folder, scattering options).

    Returns:
        The shape; frames and channels from the scattering transform of one silent clip, the clips
            from the data set's listing (gtzan, folder) or the corpus config (synthetic).
    """
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


def _finished_seconds(store: ResultsStore, done: set[str]) -> pd.DataFrame:
    """``unit, train_s`` of every finished job (read from its own part)."""
    rows = [df[["unit", "train_s"]] for k in sorted(done) if (df := store.read_parts("folds", [k])).shape[0]]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["unit", "train_s"])


def plan_rows(cfg: RunConfig, run_dir: Path, shape: DataShape, splits: SplitPlan, probe: bool = True) -> pd.DataFrame:
    """The plan's table, one row per unit (and the baseline), probing the units with nothing finished.

    Args:
        cfg: the run's configuration.
        run_dir: the run directory; its finished jobs count as done and give their units' times.
        shape: the data's shape.
        splits: the run's splits.
        probe: probe units without finished jobs (False: leave them unestimated).

    Returns:
        Columns ``unit, jobs, done, todo``; ``job_s`` (seconds per job) with its range ``job_lo`` to
            ``job_hi``; ``todo_s``, ``todo_lo``, ``todo_hi`` for the jobs to do; ``how`` (where the estimate
            comes from); ``others``, the cores other processes used while the unit was probed (NaN when not).
    """
    store = ResultsStore(run_dir)
    done = store.done()
    jobs = planned_jobs(cfg, splits)
    finished = _finished_seconds(store, done)
    n_train, n_val, n_test = splits.train[1], splits.val[1], splits.test[1]  # the largest split: an upper bound
    cfg, _ = cap_batch(cfg, splits.train[0])  # the probe never builds a batch larger than a training set
    batches = math.ceil(n_train / cfg.batch_size)
    val_batches, test_batches = math.ceil(n_val / cfg.batch_size), math.ceil(n_test / cfg.batch_size)
    rows = []
    for unit in dict.fromkeys(j.unit for j in jobs):
        keys = [j.key for j in jobs if j.unit == unit]
        n_done = sum(k in done for k in keys)
        seen = finished.loc[finished["unit"] == unit, "train_s"].dropna()
        others = math.nan
        if len(seen):
            job_s, lo, hi = float(seen.median()), float(seen.min()), float(seen.max())
            how = f"median of {len(seen)} finished job(s)"
        elif unit == BASELINE or not probe:
            job_s = lo = hi = math.nan
            how = "not estimated" + (" (a logistic-regression fit: seconds)" if unit == BASELINE else "")
        else:
            with CpuMeter() as meter:
                p = probe_unit(unit, cfg, shape.frames, shape.channels, shape.classes)
            others = meter.others if meter.others is not None else math.nan
            free, alone = p, ""  # the free machine's bound
            if others >= 0.5 and torch.device(cfg.device).type == "cpu" and job_threads(cfg) > 1:
                # Threads that share their cores with other work wait for each other: on one thread the
                # unit runs beside it almost unhindered, and n threads on a free machine take at least
                # 1/n of that. Their faster is the free machine's bound.
                apply_policy(1, cfg.subnormals)
                try:
                    one = probe_unit(unit, cfg, shape.frames, shape.channels, shape.classes)
                finally:
                    apply_policy(job_threads(cfg), cfg.subnormals)
                free = Probe(min(p.fast, one.fast), p.typical, min(p.eval_s, one.eval_s), min(p.setup_s, one.setup_s), p.iters)
                alone = f" (busy machine: on 1 thread fastest {one.fast:.3g} s)"
            trials = max(cfg.tune, 1)  # --tune: each job trains that many trials
            fewest = min(cfg.epochs, cfg.patience + 1)

            def job(q: Probe, it_s: float, epochs: int) -> float:
                return trials * (q.setup_s + epochs * (batches * it_s + val_batches * q.eval_s) + test_batches * q.eval_s)

            job_s, lo, hi = job(free, free.fast, cfg.epochs), job(free, free.fast, fewest), job(p, p.typical, cfg.epochs)
            how = (f"probe {p.iters} iter: fastest {p.fast:.3g} s, median {p.typical:.3g} s{alone}; x {batches} iter + "
                   f"{val_batches} val. batch ({free.eval_s:.3g} s), setup {free.setup_s:.3g} s, x {fewest}-{cfg.epochs} epochs"
                   + (f" x {trials} trials" if cfg.tune else ""))
        todo = len(keys) - n_done
        rows.append(dict(unit=unit, jobs=len(keys), done=n_done, todo=todo, job_s=job_s, job_lo=lo, job_hi=hi,
                         todo_s=todo * job_s, todo_lo=todo * lo, todo_hi=todo * hi, how=how, others=others))
    return pd.DataFrame(rows)


def _dur(s: float) -> str:
    if not np.isfinite(s):
        return "-"
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min" if s < 7200 else f"{s / 3600:.1f} h"


def _span(lo_hi: tuple[int, int]) -> str:
    return str(lo_hi[0]) if lo_hi[0] == lo_hi[1] else f"{lo_hi[0]}-{lo_hi[1]}"


def _range(lo: float, hi: float) -> str:
    return "" if not (np.isfinite(lo) and np.isfinite(hi)) else f"{_dur(lo)} - {_dur(hi)}"


def format_plan(rows: pd.DataFrame, cfg: RunConfig, shape: DataShape, splits: SplitPlan, run_dir: Path) -> str:
    """The plan as printed: the data and protocol, one line per unit, the total and how it was estimated.

    Args:
        rows: :func:`plan_rows`'s table.
        cfg: the run's configuration.
        shape: the data's shape.
        splits: the run's splits.
        run_dir: the run directory, named in the plan.

    Returns:
        The plan's lines.
    """
    kind = "classes" if cfg.dataset == "folder" else "genres"
    lines = [f"plan: {cfg.preset} preset, {cfg.dataset}: {shape.clips} clips, {shape.classes} {kind}, "
             f"{shape.frames} frames x {shape.channels} channels ({shape.source})",
             f"      protocol {splits.label}; per split {_span(splits.train)} train / {_span(splits.val)} validation / "
             f"{_span(splits.test)} test clips, "
             f"batch {cfg.batch_size}, up to {cfg.epochs} epochs (patience {cfg.patience}); device {cfg.device}",
             f"      run directory {run_dir}",
             f"{'unit':<13}{'jobs':>6}{'done':>6}{'to do':>7}{'per job':>10}{'to do, time':>13}{'range':>22}   estimate"]
    for r in rows.itertuples():
        lines.append(f"{r.unit:<13}{r.jobs:>6}{r.done:>6}{r.todo:>7}{_dur(r.job_s):>10}{_dur(r.todo_s):>13}"
                     f"{_range(r.todo_lo, r.todo_hi):>22}   {r.how}")
    known = rows.dropna(subset=["todo_s"])
    total = (_dur(known.todo_s.sum()), _range(known.todo_lo.sum(), known.todo_hi.sum())) if len(known) else ("-", "")
    lines.append(f"{'total':<13}{rows.jobs.sum():>6}{rows.done.sum():>6}{rows.todo.sum():>7}{'':>10}{total[0]:>13}"
                 f"{total[1]:>22}   one job after another (local executor), training only; units without an "
                 "estimate not included")
    others = rows["others"].dropna()
    if len(others):
        lines.append(f"      estimate: the fastest probe iterations at every epoch, an upper bound on a free machine; "
                     f"range: early stopping at the earliest (patience + 1 epochs) to every epoch at the median "
                     f"iteration. While probing, other processes used {others.mean():.1f} of {os.cpu_count()} cores"
                     + ("; the machine was busy: the range's upper end assumes it stays so" if others.mean() >= 0.5 else ""))
    return "\n".join(lines)


def dry_run(cfg: RunConfig, run_dir: Path) -> str:
    """The plan of a run that has not extracted its features (``bench run --dry-run``); writes nothing.

    Compiles the CPU kernels the units need first when numba has not cached them (said once).

    Args:
        cfg: the run's configuration (a resolved device, not ``"auto"``).
        run_dir: the run directory it would write.

    Returns:
        The plan, as :func:`format_plan` prints it.
    """
    from .warmup import compile_kernels

    apply_policy(job_threads(cfg), cfg.subnormals)  # the probe runs under the run's policy
    compile_kernels(cfg.units, cfg.device, models.ModelConfig(**cfg.model_options()))  # first use: said once
    shape = shape_without_features(cfg)
    splits = split_plan(cfg, shape)
    return format_plan(plan_rows(cfg, run_dir, shape, splits), cfg, shape, splits, run_dir)


def job_count(cfg: RunConfig) -> int:
    """Jobs of the run, counted without listing them.

    Args:
        cfg: the run's configuration.

    Returns:
        ``repeats x folds`` splits times the units (and the baseline) for cv; a split file's folds are not
            known before it is read, so it counts as one split here.
    """
    splits = cfg.repeats * cfg.folds if cfg.protocol == "cv" else 1
    return splits * (len(cfg.units) + bool(cfg.baseline))


def check_job_count(cfg: RunConfig, yes: bool) -> str:
    """The line that states the job count, refusing a count above ``MAX_JOBS`` unless confirmed.

    Args:
        cfg: the run's configuration.
        yes: ``--yes``, the user's confirmation of a large run.

    Returns:
        The line, e.g. ``"jobs: 1 repeat(s) x 5 fold(s) x 5 unit(s) = 25"``.

    Raises:
        ConfigError: more than ``MAX_JOBS`` jobs without ``yes`` (before any work).
    """
    units = len(cfg.units) + bool(cfg.baseline)
    what = (f"{cfg.repeats} repeat(s) x {cfg.folds} fold(s) x {units} unit(s)" if cfg.protocol == "cv"
            else f"{units} unit(s) per split")
    n = job_count(cfg)
    if n > MAX_JOBS and not yes:
        raise ConfigError(f"--repeats {cfg.repeats} and --folds {cfg.folds} make {what} = {n} jobs, more than "
                          f"{MAX_JOBS}: check the numbers, or add --yes to run them all")
    return f"jobs: {what} = {n}" + (" (confirmed by --yes)" if n > MAX_JOBS else "")


def cap_batch(cfg: RunConfig, n_train: int) -> tuple[RunConfig, str | None]:
    """The run's configuration with its batch size capped at the smallest training set.

    Args:
        cfg: the run's configuration.
        n_train: clips in the smallest training set of the run's splits.

    Returns:
        ``(cfg, note)``: ``cfg`` with ``batch_size`` at most ``n_train`` (a larger batch would only cost
            memory), and the note that says so (None when nothing changed).
    """
    if n_train < 1 or cfg.batch_size <= n_train:
        return cfg, None
    return replace(cfg, batch_size=n_train), (f"note: --batch-size {cfg.batch_size} is larger than the training set "
                                              f"({n_train} clips): capped at {n_train}")
