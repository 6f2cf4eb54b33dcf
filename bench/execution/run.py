"""``bench run``: plan the jobs, skip those already stored, run the rest, keep every result.

:func:`run_command` is the whole command (``python -m bench run`` calls it with the configuration its
arguments make): the checks before any work, the run directory's lock, the features and splits, then
:func:`run`, the core, for a caller who holds the features and splits already.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from tqdm import tqdm

import models
from features import FeatureSet

from ..config import ConfigError, RunConfig
from ..measure.envinfo import MACHINE_FIELDS, environment
from ..measure.policy import apply_policy, set_precision
from ..protocol.splits import Split
from ..results.store import ResultsStore, RunMismatch, config_hash
from .baseline import BASELINE
from .executors import LocalExecutor, job_threads
from .jobs import Job, JobData, budget_for
from .plan import DataShape, SplitPlan, format_plan, plan_rows, protocol_label
from .warmup import compile_kernels

__all__ = ["run_command", "default_run_dir", "plan", "run", "run_identity", "summary_table", "format_summary"]


def run_identity(cfg: RunConfig) -> dict:
    """What identifies a run (``metadata.json``'s ``config``, hashed into its id and default directory).

    Args:
        cfg: the configuration.

    Returns:
        Its options, and for each plugin unit its code (:func:`models.provenance`) under ``plugins``, so
            that a changed plugin is another run and never resumes into old results. A run of built-in
            units only is its options alone.
    """
    plugins = {unit: source for unit in cfg.units if (source := models.provenance(unit))}
    return {**cfg.to_dict(), "plugins": plugins} if plugins else cfg.to_dict()


def default_run_dir(cfg: RunConfig, root: str | Path = "runs") -> Path:
    """Same options (and plugins), same directory: running the command again resumes it.

    Args:
        cfg: the configuration.
        root: the folder of the runs.

    Returns:
        ``root / "<dataset>-<preset>-<first 8 hex digits of the run identity's hash>"``.
    """
    digest = config_hash(run_identity(cfg))[:8]
    return Path(root) / f"{cfg.dataset}-{cfg.preset}-{digest}"


def plan(cfg: RunConfig, splits: list[Split]) -> list[Job]:
    """Every job of a run, in the order they run.

    Args:
        cfg: the configuration (its ``units`` and ``baseline``).
        splits: the run's splits.

    Returns:
        One :class:`bench.execution.jobs.Job` per unit (and the baseline, last) per split, fold-major: every unit
            sees a fold in turn.
    """
    units = list(cfg.units) + ([BASELINE] if cfg.baseline else [])
    return [Job(u, s) for s in splits for u in units]  # fold-major: every unit sees a fold in turn


def check_environment(known: pd.DataFrame, env: dict, allow_mixed: bool, where: str) -> None:
    """Refuse to add timings from ``env`` to a run whose jobs ran elsewhere, unless ``allow_mixed``."""
    if allow_mixed or known.empty or env["env_id"] in set(known["env_id"]):
        return
    first = known.iloc[0]
    diff = [f"{k}: {first[k]} -> {env[k]}" for k in MACHINE_FIELDS if str(first.get(k)) != str(env.get(k))]
    what = "another environment" if len(known) == 1 else f"{len(known)} other environments"  # one row per env_id
    raise RunMismatch(f"{where}: its finished jobs ran in {what} ({'; '.join(diff)}); "
                      "their times would mix with these. Use another --out, or --allow-mixed to add to it "
                      "(the report then separates the environments)")


def check_plugin(key: str, loaded: str, expected: str, where: str) -> None:
    """Refuse a job whose plugin code (as the process that ran it loaded it) is not the run's: a Dask
    worker with another version installed. Nothing of the job is stored."""
    if loaded != expected:
        raise RunMismatch(f"{where}: job {key} ran plugin code {loaded or 'none'!r}, this run's is {expected!r}; "
                          "install the same plugin version wherever jobs run")


def run(cfg: RunConfig, fs: FeatureSet, run_dir: Path, splits: list[Split], executor=None,
        progress: bool = True, allow_mixed: bool = False) -> ResultsStore:
    """Run every job not yet in ``run_dir``; results are stored as each job finishes.

    The core of ``bench run``, for a caller who holds the features and splits already. In order: the
    run's threads, subnormal policy and precision are put in force (:func:`bench.measure.policy.apply_policy`);
    the jobs are planned (:func:`plan`); the store is opened (created, or checked to hold this
    configuration, these features and these splits: anything else is refused); the plan is printed,
    with an estimate; the jobs not yet stored run on ``executor``, each stored whole as it finishes;
    then the top-level tables are built and the session is recorded in ``metadata.json``. Calling it
    again resumes: finished jobs are skipped.

    What the command adds around it (:func:`run_command`): the checks before any work (output folders,
    the job count, the splits against the data set's listing), the run directory's lock
    (:func:`bench.results.runlock.run_lock`), the batch size capped at the smallest training part,
    ``config.toml``, the printed summary and the report; ``--device auto`` is resolved by the command line.

    Args:
        cfg: the configuration; ``cfg.device`` must be a concrete device (``cpu``, ``cuda``, ``cuda:N``):
            ``"auto"`` is resolved by the command line (:func:`bench.measure.policy.resolve_device`).
        fs: the feature table (:func:`features.build_features`).
        run_dir: the run directory, created if needed (:func:`default_run_dir` names one after the
            configuration).
        splits: the splits to run (:func:`bench.protocol.protocols.protocol_splits`), stored as ``splits.json``.
        executor (LocalExecutor | DaskExecutor | None): a :class:`bench.execution.executors.LocalExecutor` (None: one,
            one job after another) or a
            :class:`bench.execution.executors.DaskExecutor`.
        progress: show progress bars.
        allow_mixed: add to a run whose finished jobs ran in another environment (machine, library
            builds, commit, threads, subnormal policy) instead of refusing.

    Returns:
        The run's :class:`bench.results.store.ResultsStore`: ``store.table("folds")`` and the other tables hold
            every finished job.

    Raises:
        RunMismatch: ``run_dir`` holds a run of another configuration, other features or other splits,
            or (without ``allow_mixed``) jobs timed in another environment.
        PolicyError: the thread count or the subnormal policy cannot be put in force here.

    Examples:
        A small protocol on the synthetic corpus, the steps ``bench run`` takes (about a minute on 2
        cores, most of it computing the features once; the feature cache is the one ``bench run``
        uses)::

            from pathlib import Path

            from bench.config import preset
            from bench.protocol.protocols import protocol_splits
            from bench.execution.run import run
            from features import FeatureConfig, build_features, dataset_clips

            cfg = preset("quick", units=("indrnn",), baseline=False, folds=2, epochs=2, batch_size=8,
                         warmup_iters=1, clips_per_genre=4, seconds=2.0, device="cpu")
            cache = Path(".cache")
            clips = dataset_clips(cfg.dataset, cfg.data_dir, cache, {"clips_per_genre": cfg.clips_per_genre,
                                                                     "duration": cfg.seconds, "seed": cfg.corpus_seed})
            features = FeatureConfig(duration=cfg.seconds, J=cfg.J, Q=cfg.Q, min_seconds=cfg.min_seconds)
            fs, _ = build_features(clips, features, cache, tag=f"features-{cfg.dataset}")
            store = run(cfg, fs, Path("runs/example"), protocol_splits(cfg, fs))
            store.table("folds")[["unit", "fold", "test_acc", "median_iter_s"]]  # one row per job
    """
    threads = job_threads(cfg)
    apply_policy(threads, cfg.subnormals)  # as every job will (the plan's probe runs under it too)
    set_precision(cfg.precision)
    jobs = plan(cfg, splits)
    store = ResultsStore(run_dir)
    identity = run_identity(cfg)
    meta = {"config": identity, "environment": environment(cfg.device),
            "features": {"shape": list(fs.shape), "cache": str(fs.path), "fingerprint": fs.fingerprint,
                         "config": fs.config, "frames": fs.frames, "genres": fs.genres, "skipped": fs.skipped,
                         "extraction": fs.extraction},
            "jobs": len(jobs), "started": _now(),
            "param_budget": budget_for(cfg, fs.shape[2], len(fs.genres), fs.shape[1])}
    store.open(meta, [s.to_dict() for s in dict.fromkeys(j.split for j in jobs)])  # damaged parts: moved aside
    done = store.done()
    todo = [j for j in jobs if j.key not in done]
    executor = executor or LocalExecutor()
    known = store.environments()
    shape = DataShape(len(fs), fs.shape[1], fs.shape[2], len(fs.genres), "features as extracted")
    split_plan = SplitPlan.from_splits(splits, protocol_label(cfg, len(splits)))
    compile_kernels(dict.fromkeys(j.unit for j in todo if j.unit != BASELINE), cfg.device,
                    models.ModelConfig(**cfg.model_options()), progress)  # first use: said once, before the probe
    print(format_plan(plan_rows(cfg, run_dir, shape, split_plan, probe=bool(todo)), cfg, shape, split_plan, run_dir))
    if done:
        print(f"resuming {run_dir}: {len(jobs) - len(todo)} of {len(jobs)} jobs already done")
    data = JobData(fs.x, fs.lengths, fs.labels, fs.clip_ids, len(fs.genres), fingerprint=fs.fingerprint,
                   study_storage=cfg.tune_storage or f"sqlite:///{Path(run_dir).resolve() / 'tuning.db'}",
                   study_prefix=Path(run_dir).name)
    session = {**executor.describe(), "threads": threads, "started": _now(), "jobs_todo": len(todo), "finished": None}
    sessions = store.metadata().get("sessions", [])
    store.update_metadata(sessions=sessions + [session])  # recorded now: a killed session is listed too
    bar = tqdm(total=len(todo), desc="jobs", unit="job", disable=not progress)

    def check_env(env: dict) -> None:
        """Before any job trains (this process, or each Dask worker under the run's policy) and as each
        result arrives: the same environment as the jobs already known, unless --allow-mixed."""
        nonlocal known
        check_environment(known, env, allow_mixed, str(run_dir))
        if env["env_id"] not in set(known.get("env_id", [])):
            known = pd.concat([known, pd.DataFrame([env])], ignore_index=True)

    for job, tables in executor.map(todo, data, cfg, progress, check_env=check_env):
        check_env(tables["environment"].iloc[0].to_dict())
        check_plugin(job.key, tables["environment"].iloc[0].get("plugin") or "",
                     identity.get("plugins", {}).get(job.unit, ""), str(run_dir))
        store.write_job(job.key, tables)  # its own folder only: the same cost at job 1 and job 400
        bar.update()
        row = tables["folds"].iloc[0]
        bar.set_postfix_str(f"{job.key} acc={row.test_acc:.2f}")
    bar.close()
    if todo or not store.is_current() or not store.has_exports():
        store.consolidate(csv=True)  # the top-level tables and their CSV exports, built once
    store.update_metadata(finished=_now(), sessions=sessions + [{**session, "finished": _now()}])
    return store


def run_command(cfg: RunConfig, out: Path | None = None, cache_dir: Path = Path(".cache"), executor: str = "local",
                scheduler: str | None = None, workers: int = 2, threads_per_worker: int = 1, dry_run: bool = False,
                yes: bool = False, allow_mixed: bool = False, report: Callable[[Path], int] | None = None,
                show: Callable[[object], str] = str) -> int:
    """``python -m bench run``: everything the command does with the configuration its arguments make.

    In order, each refusing before anything is written: the execution settings this machine must honour,
    the plugin units' contract (:func:`bench.execution.checkunit.check_plugins`), the executor, the output
    folders, the job count; then, under the run directory's lock (:func:`bench.results.runlock.run_lock`),
    the splits against the data set's listing, the features (:func:`bench.protocol.dataset.load_features`),
    the splits (:func:`bench.protocol.protocols.protocol_splits`), the batch size capped at the smallest
    training part, :func:`run`, ``config.toml``, the summary and ``report``. Calling it again resumes.

    Args:
        cfg: the configuration (:func:`bench.options.resolve`); ``cfg.device`` a concrete device.
        out: the run directory; None: :func:`default_run_dir`.
        cache_dir: where the synthetic corpus and the feature caches live.
        executor: ``local`` (one job after another, the timing reference) or ``dask``.
        scheduler: an existing Dask scheduler's address; None starts a LocalCluster.
        workers: LocalCluster worker processes.
        threads_per_worker: LocalCluster threads per worker.
        dry_run: print the plan and stop: no feature extracted, nothing written.
        yes: run more jobs than :data:`bench.config.MAX_JOBS`.
        allow_mixed: add to a run whose finished jobs ran in another environment.
        report: called with the run directory once the jobs are done, returning an exit status (the
            command line passes its report, which renders with :mod:`reports`); None: no report.
        show: how a skipped clip's reason is printed (the command line passes :func:`reports.page.visible`).

    Returns:
        The exit status: 0, or the report's.

    Raises:
        ConfigError: an option this run cannot honour (an output folder that is a file, a run directory
            inside the data folder, too many jobs without ``yes``, a plugin unit that breaks the contract).
        PolicyError: the thread count or the step mode cannot be honoured on this machine.
        RunLocked: another process writes the run directory.
        RunMismatch: ``out`` holds a run of another configuration.

    Examples:
        ``python -m bench run --units indrnn --no-baseline --folds 2 --epochs 2 --batch-size 8
        --clips-per-genre 4 --seconds 2 --device cpu --out runs/example --no-report`` from Python::

            from pathlib import Path

            from bench.config import preset
            from bench.execution.run import run_command

            cfg = preset("quick", units=("indrnn",), baseline=False, folds=2, epochs=2, batch_size=8,
                         clips_per_genre=4, seconds=2.0, device="cpu")
            status = run_command(cfg, Path("runs/example"))  # 0; the same call again resumes
    """
    from ..measure.envinfo import device_name
    from .checkunit import check_plugins
    from .executors import make_executor
    from .plan import check_job_count

    _check_execution(cfg, executor)
    check_plugins(cfg)  # a plugin that breaks the unit contract is refused before anything is written
    engine = make_executor(executor, scheduler, workers, threads_per_worker)  # fail fast
    print(f"device: {cfg.device} ({device_name(cfg.device)}), precision {cfg.precision}, {cfg.step} step, "
          f"threads {cfg.threads or 'default'}, subnormals {cfg.subnormals}")
    run_dir = out or default_run_dir(cfg)
    _check_out(run_dir, cache_dir, cfg)
    print(check_job_count(cfg, yes))  # counted, not listed: 10^9 repeats fail here, at once
    if dry_run:
        from ..protocol.protocols import check_listing
        from .plan import dry_run as plan_only

        check_listing(cfg, cache_dir)  # what the run would refuse, the dry run refuses
        print(plan_only(cfg, run_dir))
        return 0
    from ..results.runlock import run_lock

    with run_lock(run_dir, "bench run"):  # one writer at a time; a second fails here, before any work
        return _run_locked(cfg, run_dir, cache_dir, engine, allow_mixed, report, show)


def _check_execution(cfg: RunConfig, executor: str) -> None:
    """Refuse, before anything is written, what this machine cannot honour."""
    from ..measure.policy import check_threads
    from .step import check_graph_device

    if cfg.step == "graph":
        check_graph_device(cfg.device)
    if executor == "local":  # a Dask worker's own pool is checked where the job runs
        check_threads(cfg.threads)


def _check_out(run_dir: Path, cache_dir: Path, cfg: RunConfig) -> None:
    """Where a run writes, checked before any work: folders, not files, and the run directory never inside
    the data folder (nothing is ever written there)."""
    for option, folder in (("--cache-dir", Path(cache_dir)), ("--out", Path(run_dir))):
        if folder.exists() and not folder.is_dir():  # found now, not after every clip is scattered
            raise ConfigError(f"{option} {folder} is a file, not a folder")
    if cfg.data_dir:
        data, out = Path(cfg.data_dir).resolve(), Path(run_dir).resolve()
        if out == data or data in out.parents:
            raise ConfigError(f"--out {run_dir} lies inside --data-dir {cfg.data_dir}; nothing is ever written into a "
                              "data folder: choose a run directory outside it")


def _run_locked(cfg: RunConfig, run_dir: Path, cache_dir: Path, executor, allow_mixed: bool,
                report: Callable[[Path], int] | None, show: Callable[[object], str]) -> int:
    from ..options import write_toml
    from ..protocol.dataset import load_features
    from ..protocol.protocols import check_listing, protocol_splits
    from .plan import cap_batch

    t0 = time.perf_counter()
    policy = apply_policy(job_threads(cfg), cfg.subnormals)  # the scattering runs under the run's threads and policy
    check_listing(cfg, cache_dir)  # splits that cannot be made fail before any feature is computed
    fs, cached = load_features(cfg.dataset, cfg.data_dir, cache_dir, cfg.device, cfg.seconds,
                               cfg.clips_per_genre or None, cfg.corpus_seed, cfg.J, cfg.Q, min_seconds=cfg.min_seconds,
                               policy=policy)
    data_s = time.perf_counter() - t0
    scatter_s = 0.0 if cached else fs.extraction.get("seconds", 0.0)
    if fs.skipped:
        print(f"skipped {len(fs.skipped)} clip(s): " + "; ".join(show(r) for _, r in fs.skipped))
    splits = protocol_splits(cfg, fs)
    cfg, note = cap_batch(cfg, min(len(s.train) for s in splits))  # before any work, and recorded as run
    if note:
        print(note)
    t_run = time.perf_counter()
    store = run(cfg, fs, run_dir, splits, executor, allow_mixed=allow_mixed)
    run_s = time.perf_counter() - t_run
    write_toml(cfg, run_dir / "config.toml")
    print(f"\n{cfg.preset} preset, {cfg.dataset} ({len(fs)} clips, {fs.shape[1]} frames x {fs.shape[2]} channels), "
          f"protocol {cfg.protocol} ({f'{cfg.repeats}x{cfg.folds}-fold' if cfg.protocol == 'cv' else f'{len(splits)} split(s) from a file'}), "
          f"device {cfg.device}")
    print(format_summary(store.table("folds"), store.table("iterations"), order=[*cfg.units, BASELINE],
                         n_classes=len(fs.genres)))
    print(f"\nresults: {run_dir}  (wall time {time.perf_counter() - t0:.0f} s)")
    rc, t_report = 0, time.perf_counter()
    if report is not None:
        rc = report(run_dir)
    print(f"where the time went: {data_s - scatter_s:.0f} s listing{' and writing' if cfg.dataset == 'synthetic' else ''} "
          f"the clips, {scatter_s:.0f} s scattering{' (cached)' if cached else _in_processes(fs.extraction)}, "
          f"{run_s:.0f} s training the jobs "
          f"(plan and probe included), {time.perf_counter() - t_report:.0f} s the report; "
          f"{time.perf_counter() - t0:.0f} s in all")
    return rc


def _in_processes(extraction: dict) -> str:
    n = extraction.get("processes", 1)
    return f" in {n} processes of {extraction.get('threads_per_process')} thread(s)" if n > 1 else ""


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def steady_iterations(iterations: pd.DataFrame) -> pd.Series:
    """Rows that summaries use: not warm-up, not a partial batch (runs before the column: none flagged)."""
    keep = ~iterations["warmup"].astype(bool)
    if "partial" in iterations:
        keep &= ~iterations["partial"].astype(bool)
    return keep


def summary_table(folds: pd.DataFrame, iterations: pd.DataFrame, reference: str = "indrnn",
                  order: list[str] | None = None, n_classes: int | None = None) -> pd.DataFrame:
    """Per unit: mean +- std test accuracy over every fold, a diverged fold scored at chance accuracy
    (1 / ``n_classes``; the report's rule), and the mean over finished folds only; median seconds per
    iteration (every steady iteration of every fold pooled: warm-up and partial batches excluded, as in
    the report's timing table), time ratio to ``reference``.

    Args:
        folds: the run's ``folds`` table.
        iterations: its ``iterations`` table.
        reference: the unit time ratios are taken to.
        order: units to list first, in this order (the rest follow as they appear).
        n_classes: classes, for the chance accuracy of a diverged fold; None scores it NaN.

    Returns:
        One row per unit (the index): ``jobs``, ``diverged``, ``acc_mean``, ``acc_std``,
            ``acc_mean_finished``, ``params``, ``median_iter_s``, ``time_ratio``.
    """
    finished = ~folds["diverged"].astype(bool) & folds["test_acc"].notna()
    chance = 1.0 / n_classes if n_classes else np.nan
    folds = folds.assign(acc=folds["test_acc"].where(finished, chance), finished=finished)
    g = folds.groupby("unit", sort=False)
    timed = iterations[steady_iterations(iterations)] if not iterations.empty else iterations
    pooled = timed.groupby("unit")["seconds"].median() if not timed.empty else pd.Series(dtype=float)
    out = pd.DataFrame({
        "jobs": g.size(),
        "diverged": (~folds["finished"]).groupby(folds["unit"], sort=False).sum().astype(int),
        "acc_mean": g["acc"].mean(),
        "acc_std": g["acc"].std(ddof=1),
        "acc_mean_finished": folds[finished].groupby("unit", sort=False)["test_acc"].mean(),
        "params": g["params"].first(),
    })
    out["median_iter_s"] = pooled.reindex(out.index)
    out["time_ratio"] = out["median_iter_s"] / out["median_iter_s"].get(reference, np.nan)
    first = [u for u in (order or []) if u in out.index]
    return out.loc[first + [u for u in out.index if u not in first]]


def format_summary(folds: pd.DataFrame, iterations: pd.DataFrame, reference: str = "indrnn",
                   order: list[str] | None = None, n_classes: int | None = None) -> str:
    """:func:`summary_table` as the lines ``bench run`` prints at its end.

    Args:
        folds: the run's ``folds`` table.
        iterations: its ``iterations`` table.
        reference: the unit time ratios are taken to.
        order: units to list first.
        n_classes: classes, for the chance accuracy of a diverged fold.

    Returns:
        A header and one line per unit: jobs, accuracy (mean +- std, %), milliseconds per iteration, the
            ratio to ``reference`` and parameters; diverged folds are counted on the unit's line.
    """
    s = summary_table(folds, iterations, reference, order, n_classes)
    w = max([12] + [len(u) + 1 for u in s.index])  # a plugin's module:factory name is long
    lines = [f"{'unit':<{w}}{'jobs':>5}{'accuracy':>18}{'ms/iter':>10}{'x ' + reference:>10}{'params':>10}"]
    for unit, r in s.iterrows():
        ms = "-" if np.isnan(r.median_iter_s) else f"{1000 * r.median_iter_s:.1f}"
        ratio = "-" if np.isnan(r.time_ratio) else f"{r.time_ratio:.2f}"
        finished = ("none finished" if np.isnan(r.acc_mean_finished)
                    else f"finished folds only: {100 * r.acc_mean_finished:.1f} %")
        div = f"  ({int(r.diverged)} diverged, at chance; {finished})" if r.diverged else ""
        lines.append(f"{unit:<{w}}{int(r.jobs):>5}{100 * r.acc_mean:>10.1f} +- {100 * np.nan_to_num(r.acc_std):4.1f} %"
                     f"{ms:>10}{ratio:>10}{int(r.params):>10}{div}")
    return "\n".join(lines)
