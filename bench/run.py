"""``bench run``: plan the jobs, skip those already stored, run the rest, keep every result."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

import models
from features import FeatureSet

from .baseline import BASELINE
from .config import RunConfig
from .envinfo import MACHINE_FIELDS, environment
from .executors import LocalExecutor, job_threads
from .jobs import Job, JobData, budget_for
from .plan import DataShape, SplitPlan, format_plan, plan_rows, protocol_label
from .splits import Split
from .policy import apply_policy, set_precision
from .store import ResultsStore, RunMismatch, config_hash

__all__ = ["default_run_dir", "plan", "run", "run_identity", "summary_table"]


def run_identity(cfg: RunConfig) -> dict:
    """What identifies a run (``metadata.json``'s ``config``, hashed into its id and default directory): its
    options, and for each plugin unit its code (:func:`models.provenance`), so that a changed plugin is
    another run and never resumes into old results. A run of built-in units only is its options alone."""
    plugins = {unit: source for unit in cfg.units if (source := models.provenance(unit))}
    return {**cfg.to_dict(), "plugins": plugins} if plugins else cfg.to_dict()


def default_run_dir(cfg: RunConfig, root: str | Path = "runs") -> Path:
    """Same options (and plugins), same directory: running the command again resumes it."""
    digest = config_hash(run_identity(cfg))[:8]
    return Path(root) / f"{cfg.dataset}-{cfg.preset}-{digest}"


def plan(cfg: RunConfig, splits: list[Split]) -> list[Job]:
    units = list(cfg.units) + ([BASELINE] if cfg.baseline else [])
    return [Job(u, s) for s in splits for u in units]  # fold-major: every unit sees a fold in turn


def check_environment(known: pd.DataFrame, env: dict, allow_mixed: bool, where: str) -> None:
    """Refuse to add timings from ``env`` to a run whose jobs ran elsewhere, unless ``allow_mixed``."""
    if allow_mixed or known.empty or env["env_id"] in set(known["env_id"]):
        return
    first = known.iloc[0]
    diff = [f"{k}: {first[k]} -> {env[k]}" for k in MACHINE_FIELDS if str(first.get(k)) != str(env.get(k))]
    raise RunMismatch(f"{where}: its {len(known)} finished job(s) ran in another environment ({'; '.join(diff)}); "
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
    """Run every job not yet in ``run_dir``; results are stored as each job finishes."""
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
    the report's timing table), time ratio to ``reference``."""
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
