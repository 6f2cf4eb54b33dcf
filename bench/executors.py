"""Executors run jobs and hand back ``(job, tables)`` as each finishes; the caller stores them."""
from __future__ import annotations

from .jobs import run_job

__all__ = ["LocalExecutor"]


class LocalExecutor:
    """One job after another in this process: the timing reference (nothing else runs beside it)."""

    def map(self, jobs, data, cfg, progress: bool = False):
        for job in jobs:
            yield job, run_job(job, data, cfg, progress)
