"""A short probe of one unit at a run's shape: what the plan's time estimate is made of.

A few training iterations on random inputs of the run's shape (batch, frames, channels), through the
run's own training step and timer, and a few no-grad validation batches. Random values cost what real
ones do: the units do the same arithmetic whatever the numbers.

One probe iteration on a busy machine can be ten times a free one (two OpenMP threads sharing their
cores with another process wait for each other), so a probe times several iterations for about a
second and keeps two numbers: the fastest (what the machine does when it is free) and the median (as
busy as it was while probing). It also measures how much of the machine other processes took
meanwhile (:class:`CpuMeter`), so the plan can say when its estimate was made beside other work.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

import models

from ..config import RunConfig
from ..measure.timing import IterationTimer
from .jobs import unit_config

__all__ = ["Probe", "probe_unit", "CpuMeter"]


@dataclass(frozen=True)
class Probe:
    """What a probe measured of one unit, in seconds.

    Attributes:
        fast: the fastest timed training iteration: the machine when it is free.
        typical: the median timed training iteration: the machine as busy as while probing.
        eval_s: the fastest no-grad validation batch.
        setup_s: what every job pays once: building the model and its first (warm-up) iterations.
        iters: timed training iterations.
    """

    fast: float
    typical: float
    eval_s: float
    setup_s: float
    iters: int


def probe_unit(unit: str, cfg: RunConfig, frames: int, channels: int, classes: int, seconds: float = 1.0,
               min_iters: int = 5, max_iters: int = 40) -> Probe:
    """Probe ``unit`` at the run's shape: two warm-up iterations, then timed ones for about ``seconds``
    (at least ``min_iters``, at most ``max_iters``), then three validation batches.

    The probe draws from its own generator and restores the global RNG, so it never shifts a run's seeds.
    It runs on the threads and under the subnormal policy in force (:func:`bench.measure.policy.apply_policy`).

    Args:
        unit: a registered unit.
        cfg: the run's configuration (model options, batch size, step, precision, device).
        frames: frames per clip.
        channels: features per frame.
        classes: classes.
        seconds: how long to keep timing iterations.
        min_iters: timed iterations at least.
        max_iters: timed iterations at most.

    Returns:
        What was measured.
    """
    from .step import TrainStep, make_optimizer

    gen = torch.Generator().manual_seed(0)
    dev = torch.device(cfg.device)
    x = torch.randn(cfg.batch_size, frames, channels, generator=gen).to(dev)
    y = torch.randint(0, classes, (cfg.batch_size,), generator=gen).to(dev)
    lengths = torch.full((cfg.batch_size,), frames, dtype=torch.long, device=dev)
    state = torch.get_rng_state()
    t0 = time.perf_counter()
    model = models.build(unit, channels, classes, unit_config(cfg, unit, channels, classes, frames)).to(dev)
    opt = make_optimizer(model, cfg.lr, cfg.weight_decay, cfg.step, cfg.fused_adam)
    step = TrainStep(model, opt, cfg.clip_grad, cfg.precision, cfg.step, cfg.batch_size)  # the run's own step
    warm = 2 + (4 if cfg.step == "graph" else 0)  # graph: 3 eager warm-ups and the capture first
    timer = IterationTimer(cfg.device, warmup=warm, batch_size=cfg.batch_size)
    for _ in range(warm):
        step(x, lengths, y, timer)
    timer.times()  # synchronises CUDA
    setup_s = time.perf_counter() - t0
    started = time.perf_counter()
    while len(timer) - warm < min_iters or (time.perf_counter() - started < seconds and len(timer) - warm < max_iters):
        step(x, lengths, y, timer)
    steady = [t for t, keep in zip(timer.times(), timer.steady()) if keep]
    model.eval()
    evals = []
    with torch.no_grad():
        for _ in range(3):
            t1 = time.perf_counter()
            model(x, lengths).argmax(1).cpu()
            evals.append(time.perf_counter() - t1)
    torch.set_rng_state(state)  # dropout drew from it
    steady.sort()
    return Probe(steady[0], steady[len(steady) // 2], min(evals), setup_s, len(steady))


class CpuMeter:
    """How many cores other processes used while the block ran (Linux's ``/proc/stat``; None elsewhere).

    ``with CpuMeter() as m: ...`` then ``m.others``: busy cores of the whole machine minus this process's
    own CPU time, per second of wall time.
    """

    def __enter__(self) -> "CpuMeter":
        self.others: float | None = None
        self._start = (_machine_busy_s(), _own_cpu_s(), time.perf_counter())
        return self

    def __exit__(self, *exc) -> None:
        busy, own, wall = _machine_busy_s(), _own_cpu_s(), time.perf_counter()
        if busy is not None and self._start[0] is not None and wall > self._start[2]:
            self.others = max(0.0, ((busy - self._start[0]) - (own - self._start[1])) / (wall - self._start[2]))


def _machine_busy_s() -> float | None:
    """Seconds of CPU time the whole machine spent busy since boot (all cores; idle and iowait excluded)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    ticks = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def _own_cpu_s() -> float:
    t = os.times()
    return t.user + t.system
