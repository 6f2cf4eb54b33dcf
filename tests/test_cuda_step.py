"""CUDA only (skipped without a GPU): the whole-step CUDA graph trains exactly like the eager step,
and a graphed step never waits on the host."""
from __future__ import annotations

import pytest
import torch

import models
from bench.measure.policy import set_precision
from bench.measure.speed import SpeedConfig, measure_speed, summarise_speed
from bench.execution.step import TrainStep, make_optimizer
from bench.measure.timing import IterationTimer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

UNITS = models.available()  # every registered unit


def _losses(unit: str, mode: str, steps: int = 9, batch: int = 4, dropout: float = 0.0):
    set_precision("fp32")
    torch.manual_seed(0)  # the same seed: the same dropout masks in both modes (graph-safe philox offsets)
    cfg = models.ModelConfig(hidden=16, layers=2, dropout=dropout, batch_norm=True, max_len=12)
    model = models.build(unit, 6, 3, cfg).cuda()
    opt = make_optimizer(model, 1e-2, step=mode)
    step = TrainStep(model, opt, clip_grad=1.0, mode=mode, batch_size=batch, graph_warmup=3)
    gen = torch.Generator().manual_seed(1)
    timer = IterationTimer("cuda", warmup=0, batch_size=batch)
    losses = []
    for i in range(steps):
        n = batch if i != 5 else batch - 1  # one partial batch: eager inside graph mode
        x = torch.randn(n, 12, 6, generator=gen).cuda()
        lengths = torch.randint(3, 13, (n,), generator=gen).cuda()
        y = torch.randint(0, 3, (n,), generator=gen).cuda()
        losses.append(step(x, lengths, y, timer).item())
    return losses, timer, [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("dropout", [0.0, 0.5])  # both presets train with dropout
@pytest.mark.parametrize("unit", UNITS)
def test_graph_step_trains_like_eager(unit, dropout):
    eager, _, p_eager = _losses(unit, "eager", dropout=dropout)
    graph, timer, p_graph = _losses(unit, "graph", dropout=dropout)
    assert graph == pytest.approx(eager, rel=1e-5, abs=1e-6)
    for a, b in zip(p_graph, p_eager):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    # three eager warm-up steps and the capture are flagged; the partial batch is flagged partial
    assert timer.is_warmup()[:4] == [True] * 4 and not any(timer.is_warmup()[4:])
    assert timer.is_partial() == [i == 5 for i in range(9)]


@pytest.mark.parametrize("mode", ["eager", "graph"])
@pytest.mark.parametrize("unit", ["lstm", "indrnn"])
def test_step_has_no_host_sync(unit, mode):
    """Neither step waits on the host: the eager step's Python code (masking, batch norm over valid
    frames, clipping) can sync, so it is checked too; the graphed step's input copies likewise."""
    torch.manual_seed(0)
    cfg = models.ModelConfig(hidden=16, layers=2, dropout=0.5, batch_norm=True, max_len=12)
    model = models.build(unit, 6, 3, cfg).cuda()
    step = TrainStep(model, make_optimizer(model, 1e-3, step=mode), 1.0, mode=mode, batch_size=4)
    x, lengths, y = torch.randn(4, 12, 6).cuda(), torch.tensor([12, 5, 9, 1]).cuda(), torch.tensor([0, 1, 2, 0]).cuda()
    timer = IterationTimer("cuda", warmup=0, batch_size=4)
    for _ in range(4):  # warm-up and capture
        step(x, lengths, y, timer)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            step(x, lengths, y, timer)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert all(t > 0 for t in timer.times())


def test_speed_on_cuda_times_eager_and_graph():
    cfg = SpeedConfig(units=("rnn", "indrnn"), batch=4, frames=16, features=6, hidden=8, layers=2, rounds=3,
                      warmup=2, device="cuda", modes=("eager", "graph"))
    summary = summarise_speed(measure_speed(cfg, progress=False))
    assert set(summary["mode"]) == {"eager", "graph"} and (summary.median_s > 0).all()
    assert (summary.wall_median_s >= summary.median_s * 0.5).all()
