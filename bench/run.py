"""``bench run``: plan the jobs, skip those already stored, run the rest, keep every result."""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from features import FeatureSet

from .baseline import BASELINE
from .config import RunConfig
from .envinfo import environment
from .executors import LocalExecutor
from .jobs import Job, JobData
from .splits import Split
from .store import ResultsStore

__all__ = ["default_run_dir", "plan", "run", "summary_table"]


def default_run_dir(cfg: RunConfig, root: str | Path = "runs") -> Path:
    """Same options, same directory: running the command again resumes it."""
    digest = hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True).encode()).hexdigest()[:8]
    return Path(root) / f"{cfg.dataset}-{cfg.preset}-{digest}"


def plan(cfg: RunConfig, splits: list[Split]) -> list[Job]:
    units = list(cfg.units) + ([BASELINE] if cfg.baseline else [])
    return [Job(u, s) for s in splits for u in units]  # fold-major: every unit sees a fold in turn


def run(cfg: RunConfig, fs: FeatureSet, run_dir: Path, splits: list[Split], executor=None,
        progress: bool = True) -> ResultsStore:
    """Run every job not yet in ``run_dir``; results are stored as each job finishes."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    jobs = plan(cfg, splits)
    store = ResultsStore(run_dir)
    meta = {"config": cfg.to_dict(), "environment": environment(cfg.device),
            "features": {"shape": list(fs.shape), "cache": str(fs.path), "fingerprint": fs.fingerprint,
                         "config": fs.config, "frames": fs.frames, "genres": fs.genres, "skipped": fs.skipped},
            "jobs": len(jobs), "started": _now()}
    store.open(meta, [s.to_dict() for s in dict.fromkeys(j.split for j in jobs)])
    done = store.done()
    todo = [j for j in jobs if j.key not in done]
    if done:
        print(f"resuming {run_dir}: {len(jobs) - len(todo)} of {len(jobs)} jobs already done")
    data = JobData(fs.x, fs.lengths, fs.labels, fs.clip_ids, len(fs.genres))
    executor = executor or LocalExecutor()
    session = {**executor.describe(), "started": _now(), "jobs_todo": len(todo)}
    bar = tqdm(total=len(todo), desc="jobs", unit="job", disable=not progress)
    for job, tables in executor.map(todo, data, cfg, progress):
        store.write_job(job.key, tables)
        store.consolidate()
        bar.update()
        row = tables["folds"].iloc[0]
        bar.set_postfix_str(f"{job.key} acc={row.test_acc:.2f}")
    bar.close()
    store.consolidate()
    sessions = store.metadata().get("sessions", []) + [{**session, "finished": _now()}]
    store.update_metadata(finished=_now(), sessions=sessions)  # every invocation that added jobs
    return store


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def summary_table(folds: pd.DataFrame, iterations: pd.DataFrame, reference: str = "indrnn",
                  order: list[str] | None = None) -> pd.DataFrame:
    """Per unit: mean +- std test accuracy, median seconds per iteration (every timed iteration of
    every fold pooled, warm-up excluded, as in the report's timing table), time ratio to ``reference``."""
    g = folds.groupby("unit", sort=False)
    timed = iterations[~iterations["warmup"].astype(bool)] if not iterations.empty else iterations
    pooled = timed.groupby("unit")["seconds"].median() if not timed.empty else pd.Series(dtype=float)
    out = pd.DataFrame({
        "jobs": g.size(),
        "diverged": g["diverged"].sum().astype(int),
        "acc_mean": g["test_acc"].mean(),
        "acc_std": g["test_acc"].std(ddof=1),
        "params": g["params"].first(),
    })
    out["median_iter_s"] = pooled.reindex(out.index)
    out["time_ratio"] = out["median_iter_s"] / out["median_iter_s"].get(reference, np.nan)
    first = [u for u in (order or []) if u in out.index]
    return out.loc[first + [u for u in out.index if u not in first]]


def format_summary(folds: pd.DataFrame, iterations: pd.DataFrame, reference: str = "indrnn",
                   order: list[str] | None = None) -> str:
    s = summary_table(folds, iterations, reference, order)
    lines = [f"{'unit':<12}{'jobs':>5}{'accuracy':>18}{'ms/iter':>10}{'x ' + reference:>10}{'params':>10}"]
    for unit, r in s.iterrows():
        ms = "-" if np.isnan(r.median_iter_s) else f"{1000 * r.median_iter_s:.1f}"
        ratio = "-" if np.isnan(r.time_ratio) else f"{r.time_ratio:.2f}"
        div = f" ({r.diverged} diverged)" if r.diverged else ""
        lines.append(f"{unit:<12}{int(r.jobs):>5}{100 * r.acc_mean:>10.1f} +- {100 * np.nan_to_num(r.acc_std):4.1f} %"
                     f"{ms:>10}{ratio:>10}{int(r.params):>10}{div}")
    return "\n".join(lines)
