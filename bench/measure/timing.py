"""The one timing harness every unit goes through.

One *iteration* is one training step on a batch already gathered on the device (see
:mod:`bench.execution.step`). On CPU each iteration is bracketed by ``time.perf_counter()`` (monotonic, high
resolution). On CUDA each is bracketed by a pair of CUDA events; the events are only read (and the
device synchronised) in :meth:`IterationTimer.times`, so timing never stalls the training loop.

Every iteration is recorded with its batch size. Summaries keep only *steady, full* iterations:
the first ``warmup`` iterations, any iteration the step flags as warm-up (a CUDA graph's eager
warm-up and its capture) and partial batches (smaller than ``batch_size``, the last of an epoch)
are recorded but left out.
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
    """Median and quartiles of the seconds per iteration (NaN, with ``n = 0``, when none was timed).

    Attributes:
        median: seconds.
        q1: first quartile, seconds.
        q3: third quartile, seconds.
        n: iterations summarised (warm-up and partial batches excluded).
    """

    median: float  # seconds
    q1: float
    q3: float
    n: int  # iterations summarised (warm-up and partial batches excluded)

    @property
    def iqr(self) -> float:
        """The interquartile range ``q3 - q1``, seconds."""
        return self.q3 - self.q1


def summarize(seconds) -> TimeSummary:
    """Median and quartiles (numpy's linear interpolation) of ``seconds``.

    Args:
        seconds (Iterable[float]): the times to summarise (the steady iterations).

    Returns:
        The :class:`TimeSummary`.

    Examples:
        >>> from bench.measure.timing import summarize
        >>> summarize([0.2, 0.1, 0.4, 0.3, 0.5])
        TimeSummary(median=0.3, q1=0.2, q3=0.4, n=5)
    """
    s = np.asarray(list(seconds), dtype=float)
    if s.size == 0:
        return TimeSummary(float("nan"), float("nan"), float("nan"), 0)
    q1, med, q3 = np.percentile(s, [25, 50, 75])
    return TimeSummary(float(med), float(q1), float(q3), int(s.size))


class IterationTimer:
    """Times iterations on ``device``; ``with timer.iteration(batch_size): ...`` around each one.

    Args:
        device: where the work runs (CUDA: events; otherwise a monotonic clock).
        warmup: the first iterations flagged as warm-up.
        batch_size: the full batch size; smaller batches are flagged partial (None: none is).
    """

    def __init__(self, device: str | torch.device = "cpu", warmup: int = 5, batch_size: int | None = None):
        self.device = torch.device(device)
        self.warmup, self.batch_size = warmup, batch_size
        self._cpu: list[float] = []
        self._events: list[tuple[torch.cuda.Event, torch.cuda.Event]] = []
        self.sizes: list[int | None] = []
        self._flagged: list[bool] = []

    @property
    def cuda(self) -> bool:
        """Whether the times are CUDA events (else a monotonic clock)."""
        return self.device.type == "cuda"

    @contextmanager
    def iteration(self, batch_size: int | None = None, warmup: bool = False):
        """Time the block as one iteration on ``batch_size`` examples; ``warmup`` flags it as such.

        Args:
            batch_size: examples in the iteration (a smaller one than the timer's is flagged partial).
            warmup: flag it as warm-up, whatever its position.
        """
        self.sizes.append(batch_size)
        self._flagged.append(warmup)
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
        """Seconds per iteration, warm-up and partial batches included, in order (synchronises CUDA once).

        Returns:
            One time per iteration.
        """
        if self.cuda:
            if self._events:
                self._events[-1][1].synchronize()
            return [s.elapsed_time(e) / 1000.0 for s, e in self._events]
        return list(self._cpu)

    def is_warmup(self) -> list[bool]:
        """Which iterations are warm-up: the first ``warmup``, and any flagged as such.

        Returns:
            One flag per iteration.
        """
        return [i < self.warmup or self._flagged[i] for i in range(len(self))]

    def is_partial(self) -> list[bool]:
        """Which iterations ran a batch smaller than the full ``batch_size``.

        Returns:
            One flag per iteration (all False when the timer has no ``batch_size``).
        """
        full = self.batch_size
        return [full is not None and n is not None and n < full for n in self.sizes[:len(self)]]

    def steady(self) -> list[bool]:
        """The iterations summaries use: neither warm-up nor a partial batch.

        Returns:
            One flag per iteration.
        """
        return [not (w or p) for w, p in zip(self.is_warmup(), self.is_partial())]

    def summary(self) -> TimeSummary:
        """The steady iterations summarised.

        Returns:
            :func:`summarize` of the times :meth:`steady` keeps.

        Examples:
            >>> import time
            >>> from bench.measure.timing import IterationTimer
            >>> timer = IterationTimer("cpu", warmup=1, batch_size=4)
            >>> for n in (4, 4, 4, 2):  # the last batch is partial
            ...     with timer.iteration(n):
            ...         time.sleep(0.001)
            >>> timer.steady(), timer.summary().n
            ([False, True, True, False], 2)
        """
        return summarize(t for t, keep in zip(self.times(), self.steady()) if keep)
