"""The modern units' recurrences alone: every back end, forward and forward+backward.

Run for real (a few minutes on 2 cores; on a CUDA machine the CUDA back ends are timed instead)::

    pytest tests/benchmarks/test_bench_scan.py --benchmark-enable --benchmark-columns=median,iqr,rounds

Three operations, each called with one back end by name:

* ``models.kernels.linear_scan`` (``a`` in (0, 1), as the units make it): float32 at width 128
  (minGRU, minLSTM at the suite's width) and 256 (Mamba-like: expand 2), and complex64 at width 128
  (the LRU's state); forward+backward takes the gradients of ``a``, ``b`` and ``h0``;
* ``models.kernels.gated_scan``, a minGRU (``2 x 128``) and a minLSTM (``3 x 128``) layer from its
  projection: the fused back end does gates and scan in one pass, the others build the gates as
  tensors and scan them;
* ``models.kernels.selective_scan`` at Mamba's defaults (E 256, N 16) with skip and gate: the fused
  back end keeps the state in a per-sequence buffer, the others materialise ``(batch, time, E * N)``.

All at the paper preset's batch 32 x T 449. On CUDA each call ends with a ``synchronize()``, so the
clock measures the kernels, not their launch. Inputs, JIT compile and warm-up are outside the timed
region. The execution policy is ``bench run``'s default (``bench.measure.policy``: numba's OpenMP pool first,
subnormals flushed in every thread); without it numba's default pool measured a 3.8 ms IQR on a
3.8 ms forward here.

``test_scan_speedups`` prints each back end's median over the reference loop's; ``test_fused_gate``
fails when a fused back end (numba on CPU, triton on CUDA) is not at least 3x faster than the loop
measured in the same session (issue 20's target). The reference loop is marked ``unstable_timing``
(its time swings between sessions on a shared VM), like the IndRNN's.
"""
from __future__ import annotations

import pytest
import torch

from bench.measure import policy
from models import kernels
from models.kernels import cuda, gated_scan, linear_scan, selective_scan

policy.apply_policy(None, "flush")  # the policy bench run uses by default: numba's pool, subnormals flushed

DEVICE = "cuda" if cuda.AVAILABLE else "cpu"
FUSED = "triton" if DEVICE == "cuda" else "numba"
BATCH, FRAMES = 32, 449
SHAPES = {"f32_w128": (torch.float32, 128), "f32_w256": (torch.float32, 256), "c64_w128": (torch.complex64, 128)}
GATED = {"mingru_w128": ("mingru", 2), "minlstm_w128": ("minlstm", 3)}  # kind, blocks of 128 in the projection
SELECTIVE = {"mamba_e256_n16": (256, 16)}  # E, N
GATE = 3.0  # each fused back end at least this many times faster than the reference loop
MEDIANS: dict[tuple[str, str, str], float] = {}  # (kernel, case id, direction) -> median seconds

KERNELS = [FUSED, "logspace", pytest.param("reference", marks=pytest.mark.unstable_timing)]
WARM = {"numba": ("scan", "gated_scan", "selective_scan")}


def scan_inputs(dtype, width, seed=0):
    g = torch.Generator().manual_seed(seed)
    real = torch.float32 if dtype == torch.complex64 else dtype
    a = 0.05 + 0.9 * torch.rand(BATCH, FRAMES, width, generator=g, dtype=real)
    if dtype.is_complex:
        a = torch.polar(a, torch.rand(a.shape, generator=g, dtype=real))
    b = torch.randn(BATCH, FRAMES, width, generator=g, dtype=dtype)
    h0 = torch.randn(BATCH, width, generator=g, dtype=dtype)
    grad = torch.randn(BATCH, FRAMES, width, generator=g, dtype=dtype)
    return [t.to(DEVICE).requires_grad_() for t in (a, b, h0)], grad.to(DEVICE)


def case(case_id, seed=0):
    """``(inputs, upstream gradient, run(inputs, kernel))`` of one benchmark case."""
    g = torch.Generator().manual_seed(seed)
    if case_id in SHAPES:
        ins, grad = scan_inputs(*SHAPES[case_id], seed)
        return ins, grad, lambda ins, kernel: linear_scan(*ins, kernel=kernel)
    if case_id in GATED:
        kind, blocks = GATED[case_id]
        p = torch.randn(BATCH, FRAMES, blocks * 128, generator=g)
        grad = torch.randn(BATCH, FRAMES, 128, generator=g)
        return [p.to(DEVICE).requires_grad_()], grad.to(DEVICE), lambda ins, kernel: gated_scan(kind, *ins, kernel)
    inner, nstate = SELECTIVE[case_id]
    x, z = (torch.randn(BATCH, FRAMES, inner, generator=g) for _ in range(2))
    delta = torch.nn.functional.softplus(torch.randn(BATCH, FRAMES, inner, generator=g) - 4)  # ~0.001..0.1
    A = -torch.arange(1.0, nstate + 1).repeat(inner, 1)  # S4D-real, as Mamba starts
    B, C = (torch.randn(BATCH, FRAMES, nstate, generator=g) for _ in range(2))
    D = torch.ones(inner)
    grad = torch.randn(BATCH, FRAMES, inner, generator=g)
    ins = [t.to(DEVICE).requires_grad_() for t in (x, delta, A, B, C, D, z)]
    return ins, grad.to(DEVICE), lambda ins, kernel: selective_scan(*ins[:5], kernel, D=ins[5], z=ins[6])


CASES = list(SHAPES) + list(GATED) + list(SELECTIVE)


@pytest.mark.parametrize("direction", ["forward", "forward_backward"])
@pytest.mark.parametrize("case_id", CASES)
@pytest.mark.parametrize("kernel", KERNELS)
def test_scan(benchmark, kernel, case_id, direction):
    for op in WARM.get(kernel, ()):
        kernels.warm_up(op)
    ins, grad, run = case(case_id)
    sync = torch.cuda.synchronize if DEVICE == "cuda" else (lambda: None)

    def forward():
        with torch.no_grad():
            out = run(ins, kernel)
        sync()
        return out

    def forward_backward():
        grads = torch.autograd.grad(run(ins, kernel), ins, grad)
        sync()
        return grads

    fn = forward if direction == "forward" else forward_backward
    benchmark.group = f"{case_id} {direction}: batch {BATCH}, T {FRAMES}, on {DEVICE}"
    benchmark.extra_info.update(kernel=kernel, case=case_id, frames=FRAMES, batch=BATCH,
                                device=DEVICE, torch_threads=torch.get_num_threads())
    # the fused kernels take milliseconds and this VM's calls have a long tail (p50 0.95 ms, p90 3.9 ms
    # for one 32 x 449 x 256 scan), so they get many rounds; the loop and the log-space scan are slow and steady
    rounds, warmup = (30, 3) if kernel == FUSED else (3, 1)
    result = benchmark.pedantic(fn, rounds=rounds, warmup_rounds=warmup, iterations=1)
    assert all(torch.isfinite(torch.view_as_real(t) if t.is_complex() else t).all()
               for t in ([result] if direction == "forward" else result))
    if benchmark.stats is not None and getattr(benchmark.stats, "stats", None) is not None:
        MEDIANS[kernel, case_id, direction] = benchmark.stats.stats.median


def speedups() -> dict[tuple[str, str, str], float]:
    """reference median / back end median for every timed (back end, shape, direction)."""
    return {k: MEDIANS[("reference", *k[1:])] / v for k, v in MEDIANS.items()
            if k[0] != "reference" and ("reference", *k[1:]) in MEDIANS}


def test_scan_speedups(capsys):
    if not MEDIANS:
        pytest.skip("benchmarks disabled: run with --benchmark-enable for the speed-ups")
    with capsys.disabled():
        print(f"\nscans on {DEVICE}, batch {BATCH}, T {FRAMES}: median ms, and speed-up over the reference loop")
        for (kernel, case_id, direction), s in sorted(speedups().items()):
            print(f"  {case_id:14s} {direction:16s} {kernel:9s} {1e3 * MEDIANS[kernel, case_id, direction]:8.2f} ms"
                  f"  reference {1e3 * MEDIANS['reference', case_id, direction]:8.2f} ms  {s:6.1f}x")


def test_fused_gate():
    """Issue 20: the fused back end at least 3x faster than the reference loop, at every shape."""
    if not MEDIANS:
        pytest.skip("benchmarks disabled: the gate needs --benchmark-enable")
    ratios = {k: s for k, s in speedups().items() if k[0] == FUSED}
    if not ratios:
        pytest.skip("the reference loop was not timed (deselected with -m 'not unstable_timing'?)")
    missed = [f"{shape_id} {direction}: {s:.1f}x" for (_, shape_id, direction), s in ratios.items() if s < GATE]
    assert not missed, f"{FUSED} less than {GATE}x faster than the reference loop: " + "; ".join(missed)
