"""One job = one unit on one (repeat, fold) split. A pure function from inputs to tidy tables,
so that any executor (the local loop, Dask workers) runs it the same way.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch

import models
from models.kernels import recording

from .baseline import BASELINE, clip_statistics, fit_baseline
from .config import RunConfig
from .envinfo import job_environment
from .policy import set_precision
from .schema import TABLES
from .splits import Split
from .timing import IterationTimer
from .trainer import FoldData, TrainConfig, train_fold

__all__ = ["Job", "JobData", "job_seed", "run_job", "unit_config", "format_kernels"]


@dataclass(frozen=True)
class Job:
    unit: str
    split: Split

    @property
    def key(self) -> str:
        return f"{self.unit}-r{self.split.repeat:02d}-f{self.split.fold:02d}"


@dataclass
class JobData:
    """What every job reads: the feature table (shared, read-only)."""

    x: np.ndarray  # (n, frames, channels)
    lengths: np.ndarray
    labels: np.ndarray
    clip_ids: list[str]
    n_classes: int


def job_seed(seed: int, split: Split) -> int:
    """The seed of a (repeat, fold): model init and batch order; the same for every unit."""
    return seed * 1_000_003 + split.repeat * 1_009 + split.fold


def unit_config(cfg: RunConfig, unit: str, input_dim: int, n_classes: int, frames: int) -> models.ModelConfig:
    """The architecture ``unit`` trains with in this run: the run's model options, the IndRNN's bound set
    from the sequence length (ignored by the other units), and with ``--param-budget`` the unit's own
    width (:func:`models.budget.width_for_budget`)."""
    from models.budget import width_for_budget

    mcfg = models.ModelConfig(**cfg.model_options(), max_len=frames)
    if cfg.param_budget:
        mcfg = replace(mcfg, hidden=width_for_budget(unit, input_dim, n_classes, mcfg, cfg.param_budget))
    return mcfg


def _tables(job: Job, row: dict, epochs: list[dict], timer: IterationTimer | None, pred: list[int],
            data: JobData, env: dict) -> dict[str, pd.DataFrame]:
    ids = dict(unit=job.unit, repeat=job.split.repeat, fold=job.split.fold)
    test = list(job.split.test)
    times = timer.times() if timer is not None else []
    iterations = pd.DataFrame({**ids, "iteration": np.arange(len(times)), "seconds": times,
                               "batch_size": timer.sizes[:len(times)] if timer else [],
                               "warmup": timer.is_warmup() if timer else [],
                               "partial": timer.is_partial() if timer else []})
    tables = {  # each in the columns bench/schema.py declares (it refuses any other)
        "folds": [{**ids, **row, "env_id": env["env_id"]}],
        "environment": [{**ids, **env}],
        "epochs": [{**ids, **e} for e in epochs],
        "iterations": iterations,
        "predictions": pd.DataFrame({**ids, "clip_id": [data.clip_ids[i] for i in test],
                                     "true": data.labels[test], "pred": pred if pred else [-1] * len(test)}),
    }
    return {name: TABLES[name].frame(data) for name, data in tables.items()}


def run_job(job: Job, data: JobData, cfg: RunConfig, progress: bool = False) -> dict[str, pd.DataFrame]:
    # the thread pools are set by the executor, in the thread that runs the job (bench.executors)
    set_precision(cfg.precision)  # before the model is built
    env = job_environment(cfg.device)  # where this job runs: this process, or a Dask worker
    split, seed = job.split, job_seed(cfg.seed, job.split)
    sizes = dict(n_train=len(split.train), n_val=len(split.val), n_test=len(split.test))
    if job.unit == BASELINE:  # the classic pipeline, not a recurrent unit: fit once, no iterations
        acc, pred, _, fit_s = fit_baseline(clip_statistics(data.x, data.lengths), data.labels, split, seed=seed)
        row = dict(test_acc=acc, test_auc=np.nan, epochs=0, best_epoch=0, median_iter_s=np.nan, q1_iter_s=np.nan,
                   q3_iter_s=np.nan, timed_iters=0, params=2 * data.x.shape[2] * data.n_classes + data.n_classes,
                   hidden=0, diverged=False, note="", train_s=fit_s, kernels="", **sizes)
        return _tables(job, row, [], None, pred, data, env)

    mcfg = unit_config(cfg, job.unit, data.x.shape[2], data.n_classes, data.x.shape[1])  # before seeding
    torch.manual_seed(seed)
    model = models.build(job.unit, data.x.shape[2], data.n_classes, mcfg)
    model = model.to(cfg.device)
    fold_data = FoldData.build(data.x, data.lengths, data.labels, split.train, data.n_classes, cfg.device)
    tc = TrainConfig(**cfg.train_options())
    timer = IterationTimer(cfg.device, warmup=cfg.warmup_iters, batch_size=cfg.batch_size)
    t0 = time.perf_counter()
    with recording() as ran:  # the kernel and dtype each recurrence really ran, not the ones asked for
        out = train_fold(model, fold_data, split, tc, timer, seed, progress, desc=job.key)
    train_s = time.perf_counter() - t0
    t = timer.summary()
    row = dict(test_acc=out.test_acc, test_auc=out.test_auc, epochs=len(out.epochs), best_epoch=out.best_epoch,
               median_iter_s=t.median, q1_iter_s=t.q1, q3_iter_s=t.q3, timed_iters=t.n,
               params=sum(p.numel() for p in model.parameters()), hidden=mcfg.hidden, diverged=out.diverged,
               note=out.note, train_s=train_s, kernels=format_kernels(ran), **sizes)
    return _tables(job, row, out.epochs, timer, out.test_pred, data, env)


def format_kernels(ran: set) -> str:
    """``{(op, kernel, dtype)}`` as one sorted string, e.g. ``indrnn:numba:float32``; ``;`` between ops."""
    return ";".join(":".join(r) for r in sorted(ran))
