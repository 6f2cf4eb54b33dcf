"""``--tune N``: the same tuning budget for every unit, so that a ranking is not an artefact of one recipe.

Greff et al. (2017, *LSTM: A Search Space Odyssey*) and Melis et al. (2018) showed that comparisons of
recurrent units reverse once each gets the same tuning budget. Here every unit, and the baseline, gets
N trials per (repeat, fold) over one declared search space (``tune_*`` options: learning rate and weight
decay on a log scale, dropout, readout). Each trial trains on the outer split's training part and is
scored on its validation part only; the trial with the highest validation accuracy (then the lowest
validation loss, then the lowest index) is chosen, and its test accuracy is the fold's result. The test
part never drives a choice: every trial's test accuracy is recorded, and read by nobody here.

One Optuna study per job (``<run>/<unit>-rNN-fNN``) in the run's storage: SQLite ``tuning.db`` in the run
directory, or ``--tune-storage URL`` (any SQLAlchemy URL, for a cluster). Each trial's whole result is
stored with it (a JSON user attribute and its SHA-256), so:

- a job killed in the middle of a trial resumes with its finished trials kept; the interrupted one
  (left ``RUNNING``) is marked failed and run again under the same index; none is counted twice;
- a stored result whose checksum does not match is not trusted: its trial is run again, and said;
- a study made from other features (another fingerprint) is refused.

Samplers (``--tune-sampler``):

- ``sobol`` (default): trial k is point k of one scrambled Sobol sequence seeded by ``--seed``, the
  same point for every unit and fold (every unit sees the same candidate recipes), whatever ran before;
- ``random``: point k drawn uniformly from a generator seeded by ``(seed, k)``, also order-free;
- ``tpe``: Optuna's TPE, sequential (trial k depends on trials 0..k-1), seeded per index so a resumed
  study proposes what an uninterrupted one would have.

The first two enqueue their point into Optuna (it stores and tells, it does not choose), so a run on a
Dask cluster equals a local one trial by trial. ``--tune-prune`` adds Optuna's MedianPruner on
validation loss (recorded as the trial's state). The baseline is tuned over the same weight-decay range
(as its L2 penalty, :func:`bench.execution.baseline.c_for_weight_decay`) and the same N trials.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
import warnings
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..config import RunConfig
from .baseline import BASELINE

if TYPE_CHECKING:  # for the signature only: bench.execution.jobs imports this module when it tunes
    from .jobs import Job, JobData

__all__ = ["DIMENSIONS", "point", "recipe_at", "study_name", "tune_job", "choose", "TuningError"]

DIMENSIONS = ("lr", "dropout", "weight_decay", "readout")  # the search space's axes, in the design's order
"""The search space's axes, in the order of a design point's coordinates (:func:`point`)."""
# what a trials row takes from the trial's folds row (bench.results.schema's trials table)
ROW_COLUMNS = (*DIMENSIONS, "test_acc", "epochs", "best_epoch", "median_iter_s", "params", "hidden", "train_s")


class TuningError(RuntimeError):
    """A study that cannot be used for this run (other inputs, another sampler, a broken storage)."""


def point(cfg: RunConfig, k: int) -> np.ndarray:
    """The k-th point in ``[0, 1)^4`` of an order-free sampler (``sobol`` or ``random``); one per dimension.

    Args:
        cfg: the run's configuration (``tune_sampler`` and ``seed``).
        k: the trial's index, from 0.

    Returns:
        ``(4,)`` coordinates, one per axis of :data:`DIMENSIONS`; the same for every unit and fold.
    """
    if cfg.tune_sampler == "random":
        return np.random.default_rng([cfg.seed, k]).random(len(DIMENSIONS))
    from scipy.stats import qmc

    engine = qmc.Sobol(len(DIMENSIONS), scramble=True, seed=cfg.seed)
    with warnings.catch_warnings():  # balance properties need 2^m points in all: the budget is the user's
        warnings.simplefilter("ignore", UserWarning)
        return engine.random(k + 1)[k]  # the first k + 1 points: the same prefix whatever the budget


def _log_scale(u: float, low: float, high: float) -> float:
    return float(math.exp(math.log(low) + u * (math.log(high) - math.log(low))))


def recipe_at(cfg: RunConfig, u: np.ndarray) -> dict:
    """The point ``u`` as a recipe: ``{lr, dropout, weight_decay, readout}`` within the run's ranges.

    Args:
        cfg: the run's configuration (the ``tune_*`` ranges).
        u: a point of ``[0, 1)^4`` (:func:`point`).

    Returns:
        The recipe: learning rate and weight decay on a log scale, dropout linear, a readout of
            ``tune_readouts``.

    Examples:
        >>> import numpy as np
        >>> from bench.config import preset
        >>> from bench.execution.tune import recipe_at
        >>> r = recipe_at(preset("quick"), np.array([0.5, 0.5, 0.0, 0.9]))  # lr in [1e-4, 1e-2], log scale
        >>> round(r["lr"], 6), r["dropout"], round(r["weight_decay"], 9), r["readout"]
        (0.001, 0.25, 1e-06, 'mean')
    """
    readouts = list(cfg.tune_readouts)
    return dict(lr=_log_scale(u[0], cfg.tune_lr_min, cfg.tune_lr_max),
                dropout=float(cfg.tune_dropout_min + u[1] * (cfg.tune_dropout_max - cfg.tune_dropout_min)),
                weight_decay=_log_scale(u[2], cfg.tune_wd_min, cfg.tune_wd_max),
                readout=readouts[min(int(u[3] * len(readouts)), len(readouts) - 1)])


def distributions(cfg: RunConfig, unit: str) -> dict:
    """The Optuna distributions of the declared space (the baseline: weight decay only)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    space = {"lr": FloatDistribution(cfg.tune_lr_min, cfg.tune_lr_max, log=True),
             "dropout": FloatDistribution(cfg.tune_dropout_min, cfg.tune_dropout_max),
             "weight_decay": FloatDistribution(cfg.tune_wd_min, cfg.tune_wd_max, log=True),
             "readout": CategoricalDistribution(list(cfg.tune_readouts))}
    return {"weight_decay": space["weight_decay"]} if unit == BASELINE else space


def study_name(prefix: str, job_key: str) -> str:
    """The Optuna study of one job.

    Args:
        prefix: the run's part (its directory's name), or ``""``.
        job_key: the job's key (:attr:`bench.execution.jobs.Job.key`).

    Returns:
        ``<prefix>/<job_key>``, or ``job_key`` without a prefix.
    """
    return f"{prefix}/{job_key}" if prefix else job_key


def _storage(url: str):
    import optuna

    if url.startswith("sqlite"):  # several local workers may write at once: wait for the file lock
        return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 120}})
    return optuna.storages.RDBStorage(url)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _stored(trial) -> tuple[int, dict] | None:
    """A finished trial's (index, result), or None when its result is missing or does not match its checksum."""
    text, digest, index = (trial.user_attrs.get(k) for k in ("result", "sha256", "index"))
    if text is None or index is None or _digest(text) != digest:
        return None
    return int(index), json.loads(text)


def _open_study(cfg: RunConfig, job, storage_url: str, prefix: str, fingerprint: str):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = study_name(prefix, job.key)
    study = optuna.create_study(storage=_storage(storage_url), study_name=name, direction="minimize",
                                load_if_exists=True)
    identity = {"fingerprint": fingerprint, "sampler": cfg.tune_sampler, "unit": job.unit,
                "split": [job.split.repeat, job.split.fold]}
    known = study.user_attrs.get("identity")
    if known is None:
        study.set_user_attr("identity", identity)
    elif known != identity:
        diff = ", ".join(f"{k}: {known.get(k)} -> {v}" for k, v in identity.items() if known.get(k) != v)
        raise TuningError(f"study {name!r} in {storage_url} was made for other inputs ({diff}); its trials would mix "
                          "with these. Use another --out or --tune-storage")
    return study


def _recover(study) -> dict[int, dict]:
    """Finished trials by index (each index once); interrupted or damaged ones marked failed, to be rerun."""
    from optuna.trial import TrialState

    done: dict[int, dict] = {}
    for t in study.get_trials(deepcopy=False):
        if t.state == TrialState.RUNNING:  # the job was killed in this trial: it runs again
            study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        elif t.state in (TrialState.COMPLETE, TrialState.PRUNED):
            stored = _stored(t)
            if stored is None:
                # a finished trial cannot be reopened: it stays, ignored, and its index runs again
                print(f"warning: study {study.study_name!r}: trial {t.number} has no result that matches its "
                      "checksum; it is run again")
            elif stored[0] not in done:
                done[stored[0]] = stored[1]
    return done


def _ask(study, cfg: RunConfig, k: int, space: dict):
    """Trial ``k``: the order-free samplers' point enqueued, or TPE's proposal seeded by ``(seed, k)``."""
    import optuna

    if cfg.tune_sampler == "tpe":
        study.sampler = optuna.samplers.TPESampler(seed=(cfg.seed * 1_000_003 + k) % 2**32)
    else:
        params = recipe_at(cfg, point(cfg, k))
        study.enqueue_trial({name: params[name] for name in space})
    trial = study.ask(space)
    trial.set_user_attr("index", k)  # the trial's place in the design, whatever Optuna numbers it
    return trial


def _pruner(cfg: RunConfig, unit: str):
    import optuna

    if cfg.tune_prune and unit != BASELINE:
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=2)
    return optuna.pruners.NopPruner()


def choose(results: dict[int, dict]) -> int:
    """The chosen trial's index: finished (not pruned, not diverged) first, then the highest validation
    accuracy, the lowest validation loss, the lowest index. Test accuracy is never read.

    Args:
        results: trial index -> its result (``state``, ``val_acc``, ``val_loss``; :func:`bench.execution.jobs.fit`).

    Returns:
        The index of the chosen trial.

    Examples:
        >>> from bench.execution.tune import choose
        >>> choose({0: dict(state="complete", val_acc=0.8, val_loss=0.9),
        ...         1: dict(state="complete", val_acc=0.8, val_loss=0.7),
        ...         2: dict(state="pruned", val_acc=0.9, val_loss=0.5)})
        1
    """
    def key(k: int):
        r = results[k]
        acc, loss = r["val_acc"], r["val_loss"]
        return (r["state"] != "complete", -(acc if np.isfinite(acc) else -1.0),
                loss if np.isfinite(loss) else math.inf, k)
    return min(results, key=key)


def tune_job(job: "Job", data: "JobData", cfg: RunConfig, fit: Callable) -> tuple[dict, int, list[dict]]:
    """Run the job's missing trials and choose one.

    Args:
        job: the (unit, split) job.
        data: its :class:`bench.execution.jobs.JobData` (``study_storage``, ``study_prefix``, ``fingerprint``).
        cfg: the run's configuration (``tune`` trials, the space, the sampler).
        fit: ``fit(recipe, stop) -> result`` trains one trial (:func:`bench.execution.jobs.fit`).

    Returns:
        The chosen trial's result, its index, and one ``trials`` row per trial (index order).

    Raises:
        TuningError: the job's study in the storage was made for other inputs (features, sampler, unit,
            split).
    """
    from optuna.trial import TrialState

    from .jobs import Recipe

    storage = data.study_storage or "sqlite:///tuning.db"
    study = _open_study(cfg, job, storage, data.study_prefix, data.fingerprint)
    study.pruner = _pruner(cfg, job.unit)
    space = distributions(cfg, job.unit)
    results = _recover(study)
    overhead: dict[int, float] = {}
    for k in range(cfg.tune):
        if k in results:
            continue
        t0 = time.perf_counter()
        trial = _ask(study, cfg, k, space)
        p = trial.params
        recipe = Recipe(p.get("lr", math.nan), p.get("dropout", math.nan), p["weight_decay"], p.get("readout", ""))
        asked = time.perf_counter() - t0

        def stop(epoch: int, val_loss: float, trial=trial) -> bool:
            trial.report(val_loss, epoch)
            return trial.should_prune()

        result = fit(recipe, stop)
        t1 = time.perf_counter()
        text = json.dumps(result, default=_json_default, allow_nan=True)
        trial.set_user_attr("result", text)
        trial.set_user_attr("sha256", _digest(text))
        error = 1.0 - result["val_acc"] if np.isfinite(result["val_acc"]) else 1.0
        study.tell(trial, None if result["state"] == "pruned" else error,
                   state=TrialState.PRUNED if result["state"] == "pruned" else TrialState.COMPLETE)
        overhead[k] = asked + time.perf_counter() - t1
        results[k] = json.loads(text)
    index = choose(results)
    rows = [dict(trial=k, **{c: r["row"][c] for c in ROW_COLUMNS}, state=r["state"], val_acc=r["val_acc"],
                 val_loss=r["val_loss"], overhead_s=overhead.get(k, math.nan), chosen=k == index)
            for k, r in sorted(results.items())]
    chosen = results[index]
    tuning_s = sum(r["train_s"] for r in rows) + sum(overhead.values())
    chosen = {**chosen, "row": {**chosen["row"], "train_s": tuning_s}}
    return chosen, index, rows


def _json_default(v):
    if isinstance(v, (np.floating, np.integer, np.bool_)):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"not JSON-serialisable: {type(v).__name__}")
