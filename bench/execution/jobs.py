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
from models.cost import macs_per_frame
from models.kernels import recording

from ..config import RunConfig
from ..measure.envinfo import job_environment
from ..measure.policy import set_precision
from ..measure.timing import IterationTimer
from ..protocol.splits import Split
from ..results.schema import TABLES
from .baseline import BASELINE, c_for_weight_decay, clip_statistics, fit_baseline, score_baseline
from .trainer import FoldData, TrainConfig, train_fold

__all__ = ["Job", "JobData", "Recipe", "fit", "job_seed", "run_job", "unit_config", "budget_for", "format_kernels"]


@dataclass(frozen=True)
class Job:
    """One unit (or the baseline) on one split: the unit of work, of storage and of resumption.

    Attributes:
        unit: a registered unit's name, or :data:`bench.execution.baseline.BASELINE`.
        split: the (repeat, fold) split it trains, validates and tests on.
    """

    unit: str
    split: Split

    @property
    def key(self) -> str:
        """``<unit>-rNN-fNN``: the job's folder under ``parts/`` and its name everywhere."""
        return f"{self.unit}-r{self.split.repeat:02d}-f{self.split.fold:02d}"


@dataclass
class JobData:
    """What every job reads: the feature table (shared, read-only).

    Attributes:
        x: ``(n, frames, channels)`` features.
        lengths: ``(n,)`` valid frames per clip.
        labels: ``(n,)`` class indices.
        clip_ids: each clip's id (the ``predictions`` table's ``clip_id``).
        n_classes: classes.
        study_storage: ``--tune``: the Optuna storage URL of the run's studies.
        study_prefix: ``--tune``: the run's part of each study's name (its directory's name).
        fingerprint: the features' fingerprint; a study made on other inputs is refused.
    """

    x: np.ndarray  # (n, frames, channels)
    lengths: np.ndarray
    labels: np.ndarray
    clip_ids: list[str]
    n_classes: int
    study_storage: str = ""  # --tune: the Optuna storage URL of the run's studies
    study_prefix: str = ""  # --tune: the run's part of each study's name (its directory name), "<prefix>/<job>"
    fingerprint: str = ""  # the features' fingerprint: a study made on other inputs is refused


def job_seed(seed: int, split: Split) -> int:
    """The seed of a (repeat, fold): model init and batch order; the same for every unit.

    Args:
        seed: the run's seed (``--seed``).
        split: the split.

    Returns:
        ``seed * 1_000_003 + repeat * 1_009 + fold``.
    """
    return seed * 1_000_003 + split.repeat * 1_009 + split.fold


def unit_config(cfg: RunConfig, unit: str, input_dim: int, n_classes: int, frames: int) -> models.ModelConfig:
    """The architecture ``unit`` trains with in this run: the run's model options, the IndRNN's bound set
    from the sequence length (ignored by the other units), and its width (:func:`budget_for`).

    Args:
        cfg: the run's configuration.
        unit: a registered unit.
        input_dim: features per frame.
        n_classes: classes.
        frames: frames per clip (the IndRNN's ``max_len``).

    Returns:
        The :class:`models.ModelConfig`; under a parameter budget its ``hidden`` is the unit's own
            (:func:`models.budget.width_for_budget`).
    """
    from models.budget import width_for_budget

    mcfg = models.ModelConfig(**cfg.model_options(), max_len=frames)
    budget = budget_for(cfg, input_dim, n_classes, frames)
    if budget:
        mcfg = replace(mcfg, hidden=width_for_budget(unit, input_dim, n_classes, mcfg, budget))
    return mcfg


def budget_for(cfg: RunConfig, input_dim: int, n_classes: int, frames: int) -> int:
    """The run's parameter budget (0: equal width): ``--param-budget`` when given, else
    :func:`models.budget.default_budget` (equal width in ``native``; in ``stack`` and ``residual`` the
    IndRNN's count at ``--hidden`` in the same scaffold).

    Args:
        cfg: the run's configuration.
        input_dim: features per frame.
        n_classes: classes.
        frames: frames per clip.

    Returns:
        The budget in parameters, 0 for equal width.
    """
    from models.budget import default_budget

    if cfg.param_budget is not None:
        return cfg.param_budget
    return default_budget(input_dim, n_classes, models.ModelConfig(**cfg.model_options(), max_len=frames))


@dataclass(frozen=True)
class Recipe:
    """What a tuner may choose per trial (``--tune``); the fixed recipe is the run's own values.

    Attributes:
        lr: Adam's learning rate.
        dropout: the model's dropout.
        weight_decay: Adam's weight decay (the baseline: its L2 penalty, :func:`bench.execution.baseline.c_for_weight_decay`).
        readout: the head's readout, ``"last"`` or ``"mean"``.
    """

    lr: float
    dropout: float
    weight_decay: float
    readout: str

    @classmethod
    def of(cls, cfg: RunConfig) -> "Recipe":
        """The run's fixed recipe.

        Args:
            cfg: the run's configuration (``lr``, ``dropout``, ``weight_decay``, ``readout``).

        Returns:
            The recipe.
        """
        return cls(cfg.lr, cfg.dropout, cfg.weight_decay, cfg.readout)


def fit(job: Job, data: JobData, cfg: RunConfig, recipe: Recipe | None = None, progress: bool = False,
        stop=None) -> dict:
    """Train and test ``job.unit`` on its split once: with the run's fixed recipe (``recipe`` None), or a
    tuning trial's. Returns a JSON-able result: ``row`` (the ``folds`` columns), ``epochs``, ``iterations``
    (columns), ``pred``, ``val_acc`` and ``val_loss`` of the tested weights, ``state``.

    The baseline's fixed recipe fits on training + validation with ``C = 1``; as a trial it fits on the
    training part only, with ``C`` from the trial's weight decay, and is chosen on validation like a unit.

    Args:
        job: the unit and split.
        data: the feature table.
        cfg: the run's configuration (device, training options, model options).
        recipe: a tuning trial's recipe, or None for the run's own.
        progress: show the epoch bar.
        stop (Callable[[int, float], bool] | None): ``stop(epoch, val_loss)``, a pruner's hook
            (:func:`bench.execution.trainer.train_fold`).

    Returns:
        ``row`` (the ``folds`` columns), ``epochs`` (one dict per epoch), ``iterations`` (columns),
            ``pred`` (the test clips' predicted classes), ``val_acc`` and ``val_loss`` of the tested weights,
            and ``state`` (``complete``, ``diverged`` or ``pruned``).
    """
    split, seed = job.split, job_seed(cfg.seed, job.split)
    sizes = dict(n_train=len(split.train), n_val=len(split.val), n_test=len(split.test))
    if job.unit == BASELINE:  # the classic pipeline, not a recurrent unit: fit once, no iterations
        stats = clip_statistics(data.x, data.lengths)
        if recipe is None:
            acc, pred, _, fit_s = fit_baseline(stats, data.labels, split, seed=seed)
            scored = dict(val_acc=np.nan, val_loss=np.nan, test_acc=acc, pred=pred, fit_s=fit_s)
        else:
            C = c_for_weight_decay(recipe.weight_decay, len(split.train))
            scored = score_baseline(stats, data.labels, split, C, seed=seed)
        row = dict(test_acc=scored["test_acc"], test_auc=np.nan, epochs=0, best_epoch=0, median_iter_s=np.nan,
                   q1_iter_s=np.nan, q3_iter_s=np.nan, timed_iters=0,
                   params=2 * data.x.shape[2] * data.n_classes + data.n_classes, hidden=0, macs_per_frame=0,
                   diverged=False, note="",
                   train_s=scored["fit_s"], kernels="", **sizes, lr=np.nan, dropout=np.nan,
                   weight_decay=np.nan if recipe is None else recipe.weight_decay, readout="")
        return dict(row=row, epochs=[], iterations={}, pred=scored["pred"], val_acc=scored["val_acc"],
                    val_loss=scored["val_loss"], state="complete")

    recipe = recipe or Recipe.of(cfg)
    mcfg = unit_config(cfg, job.unit, data.x.shape[2], data.n_classes, data.x.shape[1])  # before seeding
    mcfg = replace(mcfg, dropout=recipe.dropout, readout=recipe.readout)
    torch.manual_seed(seed)  # the same initial weights and batch order for every trial and unit of a fold
    model = models.build(job.unit, data.x.shape[2], data.n_classes, mcfg)
    model = model.to(cfg.device)
    fold_data = FoldData.build(data.x, data.lengths, data.labels, split.train, data.n_classes, cfg.device)
    tc = TrainConfig(**{**cfg.train_options(), "lr": recipe.lr, "weight_decay": recipe.weight_decay})
    timer = IterationTimer(cfg.device, warmup=cfg.warmup_iters, batch_size=cfg.batch_size)
    t0 = time.perf_counter()
    with recording() as ran:  # the kernel and dtype each recurrence really ran, not the ones asked for
        out = train_fold(model, fold_data, split, tc, timer, seed, progress, desc=job.key, stop=stop)
    train_s = time.perf_counter() - t0
    t = timer.summary()
    row = dict(test_acc=out.test_acc, test_auc=out.test_auc, epochs=len(out.epochs), best_epoch=out.best_epoch,
               median_iter_s=t.median, q1_iter_s=t.q1, q3_iter_s=t.q3, timed_iters=t.n,
               params=sum(p.numel() for p in model.parameters()), hidden=mcfg.hidden,
               macs_per_frame=macs_per_frame(model), diverged=out.diverged,
               note=out.note, train_s=train_s, kernels=format_kernels(ran), **sizes, lr=recipe.lr,
               dropout=recipe.dropout, weight_decay=recipe.weight_decay, readout=recipe.readout)
    times = timer.times()
    iterations = {"seconds": times, "batch_size": timer.sizes[:len(times)], "warmup": timer.is_warmup(),
                  "partial": timer.is_partial()}
    state = "diverged" if out.diverged else "pruned" if out.pruned else "complete"
    return dict(row=row, epochs=out.epochs, iterations=iterations, pred=out.test_pred,
                val_acc=out.best.get("val_acc", np.nan), val_loss=out.best.get("val_loss", np.nan), state=state)


def run_job(job: Job, data: JobData, cfg: RunConfig, progress: bool = False) -> dict[str, pd.DataFrame]:
    """One job's tables: the unit trained once with the run's recipe, or, with ``--tune N``, the trial chosen
    on validation among N (:func:`bench.execution.tune.tune_job`) and every trial in the ``trials`` table.

    A pure function of its arguments (and the environment it runs in, which it records), so every
    executor runs it the same way; the caller stores the result (:meth:`bench.results.store.ResultsStore.write_job`).

    Args:
        job: the unit and split.
        data: the feature table.
        cfg: the run's configuration.
        progress: show the epoch bar.

    Returns:
        Table name -> DataFrame in the columns :data:`bench.results.schema.TABLES` declares: ``folds`` (one row),
            ``environment`` (one row), ``epochs``, ``iterations``, ``predictions`` and, tuned, ``trials``.
    """
    # the thread pools are set by the executor, in the thread that runs the job (bench.execution.executors)
    set_precision(cfg.precision)  # before the model is built
    env = job_environment(cfg.device)  # where this job runs: this process, or a Dask worker
    if not cfg.tune:
        return _tables(job, fit(job, data, cfg, None, progress), -1, [], data, env)
    from .tune import tune_job

    chosen, index, trials = tune_job(job, data, cfg, lambda recipe, stop: fit(job, data, cfg, recipe, progress, stop))
    return _tables(job, chosen, index, trials, data, env)


def _tables(job: Job, result: dict, trial: int, trials: list[dict], data: JobData,
            env: dict) -> dict[str, pd.DataFrame]:
    ids = dict(unit=job.unit, repeat=job.split.repeat, fold=job.split.fold)
    test = list(job.split.test)
    iters = result["iterations"]
    n = len(iters.get("seconds", []))
    iterations = {**ids, "iteration": np.arange(n), **{c: iters.get(c, []) for c in
                                                        ("seconds", "batch_size", "warmup", "partial")}}
    pred = result["pred"]
    plugin = "" if job.unit == BASELINE else models.provenance(job.unit)  # the code this worker loaded
    tables = {  # each in the columns bench/results/schema.py declares (it refuses any other)
        "folds": [{**ids, **result["row"], "env_id": env["env_id"], "trial": trial}],
        "environment": [{**ids, **env, "plugin": plugin}],
        "epochs": [{**ids, **e} for e in result["epochs"]],
        "iterations": pd.DataFrame(iterations),
        "predictions": pd.DataFrame({**ids, "clip_id": [data.clip_ids[i] for i in test],
                                     "true": data.labels[test], "pred": pred if pred else [-1] * len(test)}),
    }
    if trials:
        tables["trials"] = [{**ids, **t} for t in trials]
    return {name: TABLES[name].frame(rows) for name, rows in tables.items()}


def format_kernels(ran: set) -> str:
    """``{(op, kernel, dtype)}`` as one sorted string, e.g. ``indrnn:numba:float32``; ``;`` between ops.

    Args:
        ran: what :func:`models.kernels.recording` collected.

    Returns:
        The ``kernels`` column of the ``folds`` table.
    """
    return ";".join(":".join(r) for r in sorted(ran))
