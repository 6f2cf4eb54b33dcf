"""The one timing harness every unit goes through.

One *iteration* is forward + backward + optimiser step on one batch. On CPU each iteration is
bracketed by ``time.perf_counter()`` (monotonic, high resolution). On CUDA each is bracketed by a pair
of CUDA events; the events are only read (and the device synchronised) in :meth:`IterationTimer.times`,
so timing never stalls the training loop. The first ``warmup`` iterations are recorded but flagged,
and summaries leave them out.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["IterationTimer", "TimeSummary", "summarize"]


@dataclass(frozen=True)
class TimeSummary:
    median: float  # seconds
    q1: float
    q3: float
    n: int  # timed iterations (warm-up excluded)

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1


def summarize(seconds) -> TimeSummary:
    s = np.asarray(list(seconds), dtype=float)
    if s.size == 0:
        return TimeSummary(float("nan"), float("nan"), float("nan"), 0)
    q1, med, q3 = np.percentile(s, [25, 50, 75])
    return TimeSummary(float(med), float(q1), float(q3), int(s.size))


class IterationTimer:
    """Times iterations on ``device``; ``with timer.iteration(): ...`` around each one."""

    def __init__(self, device: str | torch.device = "cpu", warmup: int = 5):
        self.device = torch.device(device)
        self.warmup = warmup
        self._cpu: list[float] = []
        self._events: list[tuple[torch.cuda.Event, torch.cuda.Event]] = []

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    @contextmanager
    def iteration(self):
        if self.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            yield
            end.record()
            self._events.append((start, end))
        else:
            t0 = time.perf_counter()
            yield
            self._cpu.append(time.perf_counter() - t0)

    def __len__(self) -> int:
        return len(self._events) if self.cuda else len(self._cpu)

    def times(self) -> list[float]:
        """Seconds per iteration, warm-up included, in order (synchronises CUDA once)."""
        if self.cuda:
            if self._events:
                self._events[-1][1].synchronize()
            return [s.elapsed_time(e) / 1000.0 for s, e in self._events]
        return list(self._cpu)

    def is_warmup(self) -> list[bool]:
        return [i < self.warmup for i in range(len(self))]

    def summary(self) -> TimeSummary:
        return summarize(t for t, w in zip(self.times(), self.is_warmup()) if not w)
