"""The diagonal linear scan ``h_t = a_t * h_{t-1} + b_t``: every back end against the reference loop.

Outputs and every gradient (``a``, ``b``, ``h0``) in float64 and complex128, T from 1 to 5000, with a
non-zero initial state; gradcheck; the log-space scan's documented precision limits measured
honestly in float32; the dispatcher's choices. The Triton kernels run in Triton's interpreter in
``test_triton_interpreter.py`` and compile for sm_90 in ``test_triton_compile.py``; on a CUDA
machine the ``cuda`` cases here run them for real.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from models import kernels
from models.kernels import cuda, linear_scan, resolve_scan
from models.kernels.scan_reference import linear_scan_reference

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
COMPLEX = {torch.complex64: torch.float32, torch.complex128: torch.float64}


def decays(shape, dtype, gen, low=0.01, high=0.999):
    """``a`` as the units make it: in (low, high) for real dtypes (minGRU, minLSTM, Mamba); for complex
    ones (the LRU) modulus in that range and any phase."""
    real = COMPLEX.get(dtype, dtype)
    r = low + (high - low) * torch.rand(shape, generator=gen, dtype=real)
    if not dtype.is_complex:
        return r
    theta = 2 * math.pi * torch.rand(shape, generator=gen, dtype=real)
    return torch.polar(r, theta)


def inputs(batch, steps, width, dtype, seed=0, device="cpu", **kw):
    """``a, b, h0`` requiring grad (``b`` and ``h0`` of both signs / any phase) and an upstream gradient."""
    gen = torch.Generator().manual_seed(seed)
    a = decays((batch, steps, width), dtype, gen, **kw)
    b = torch.randn(batch, steps, width, generator=gen, dtype=dtype)
    h0 = torch.randn(batch, width, generator=gen, dtype=dtype)
    grad = torch.randn(batch, steps, width, generator=gen, dtype=dtype)
    return [t.to(device).requires_grad_() for t in (a, b, h0)], grad.to(device)


def run_with_grads(fn, ins, grad):
    out = fn(*ins)
    return [out, *torch.autograd.grad(out, ins, grad)]


def assert_matches_reference(kernel, ins, grad, rtol, atol):
    fast = run_with_grads(lambda a, b, h0: linear_scan(a, b, h0, kernel=kernel), ins, grad)
    ref = run_with_grads(linear_scan_reference, ins, grad)
    for name, x, y in zip(("out", "a", "b", "h0"), fast, ref):
        assert x.dtype == y.dtype, name
        torch.testing.assert_close(x, y, rtol=rtol, atol=atol, msg=lambda m: f"{kernel} {name}: {m}")


CPU_KERNELS = ["numba", "logspace"]
TOL64 = {"numba": (1e-12, 1e-12), "logspace": (1e-9, 1e-9), "triton": (1e-12, 1e-12)}


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128], ids=["float64", "complex128"])
@pytest.mark.parametrize("steps", [1, 2, 17, 449, 5000])
@pytest.mark.parametrize("kernel", CPU_KERNELS)
def test_back_end_equals_reference_loop_float64(kernel, steps, dtype):
    batch, width = (3, 5) if steps < 1000 else (2, 3)
    ins, grad = inputs(batch, steps, width, dtype, seed=steps)
    assert_matches_reference(kernel, ins, grad, *TOL64[kernel])


@pytest.mark.parametrize("kernel", CPU_KERNELS)
def test_zero_initial_state_and_zero_inputs(kernel):
    """``h0=None`` means zeros; exact zeros in ``b`` (padding) and in the upstream gradient are fine
    (the log-space scan takes log 0 = -inf there, and its hand-written backward has no 0 * inf)."""
    ins, grad = inputs(2, 40, 4, torch.float64, seed=3)
    a, b, _ = ins
    with torch.no_grad():
        b[:, 10:25] = 0.0
        grad[:, 30:] = 0.0
    fast = run_with_grads(lambda a, b: linear_scan(a, b, kernel=kernel), [a, b], grad)
    ref = run_with_grads(linear_scan_reference, [a, b], grad)
    for x, y in zip(fast, ref):
        assert torch.isfinite(x).all()
        torch.testing.assert_close(x, y, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.complex64], ids=["float32", "complex64"])
def test_numba_float32_equals_reference(dtype):
    ins, grad = inputs(4, 300, 37, dtype, seed=1)  # width 37: not a multiple of any vector width
    assert_matches_reference("numba", ins, grad, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128], ids=["float64", "complex128"])
@pytest.mark.parametrize("kernel", CPU_KERNELS)
def test_gradcheck(kernel, dtype):
    ins, _ = inputs(2, 6, 3, dtype, seed=4)
    assert torch.autograd.gradcheck(lambda a, b, h0: linear_scan(a, b, h0, kernel=kernel), ins)


def test_conjugate_and_strided_views_are_read_as_values():
    """``a.conj()`` is a lazy view in PyTorch and a transposed tensor is not contiguous: the fused
    kernels must see the values, not the raw memory."""
    ins, grad = inputs(3, 20, 4, torch.complex128, seed=5)
    a, b, h0 = ins
    a_c = a.conj()
    b_t = b.detach().transpose(0, 1).contiguous().transpose(0, 1).requires_grad_()
    for kernel in CPU_KERNELS:
        fast = run_with_grads(lambda a, b, h0: linear_scan(a, b, h0, kernel=kernel), [a_c, b_t, h0], grad)
        ref = run_with_grads(linear_scan_reference, [a_c, b_t, h0], grad)
        for x, y in zip(fast, ref):
            torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128], ids=["float64", "complex128"])
@pytest.mark.parametrize("steps", [1, 2, 449, 5000])
@pytest.mark.parametrize("kernel", CPU_KERNELS + ["reference"])
def test_one_decay_for_every_step_equals_the_expanded_loop(kernel, steps, dtype):
    """``a`` of shape ``(channels,)`` (the LRU's lambda) gives the states and gradients of the same
    decay expanded to every sequence and step, scanned by the reference loop: ``da`` summed over the
    batch and time."""
    gen = torch.Generator().manual_seed(steps)
    batch, width = (3, 5) if steps < 1000 else (2, 3)
    lam = decays((width,), dtype, gen, low=0.5).requires_grad_()
    (_, b, h0), grad = inputs(batch, steps, width, dtype, seed=steps + 1)
    fast = run_with_grads(lambda lam, b, h0: linear_scan(lam, b, h0, kernel=kernel), [lam, b, h0], grad)
    ref = run_with_grads(lambda lam, b, h0: linear_scan_reference(lam.expand_as(b), b, h0), [lam, b, h0], grad)
    assert fast[1].shape == (width,)
    for name, x, y in zip(("out", "lambda", "b", "h0"), fast, ref):
        torch.testing.assert_close(x, y, rtol=1e-9, atol=1e-9, msg=lambda m: f"{kernel} {name}: {m}")


def test_one_decay_for_every_step_gradcheck_and_float32():
    gen = torch.Generator().manual_seed(7)
    lam = decays((3,), torch.complex128, gen, low=0.5).requires_grad_()
    (_, b, h0), grad = inputs(2, 6, 3, torch.complex128, seed=8)
    assert torch.autograd.gradcheck(lambda lam, b, h0: linear_scan(lam, b, h0, kernel="numba"), [lam, b, h0])
    lam32 = lam.detach().to(torch.complex64).requires_grad_()
    b32, grad32 = b.detach().to(torch.complex64).requires_grad_(), grad.to(torch.complex64)
    fast = run_with_grads(lambda lam, b: linear_scan(lam, b), [lam32, b32], grad32)
    ref = run_with_grads(lambda lam, b: linear_scan_reference(lam.expand_as(b), b), [lam32, b32], grad32)
    for x, y in zip(fast, ref):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-5)


# --- the log-space scan's range, measured --------------------------------------------------------

def magnitude_bound(a, b, h0):
    """The scan of ``|a|`` over ``|b|`` from ``|h0|`` (float64): the size of the terms each state sums,
    the scale that rounding errors are relative to (``h`` itself may cancel to near 0)."""
    with torch.no_grad():
        return linear_scan_reference(a.abs().double(), b.abs().double(), h0.abs().double())


FLOAT32_RANGE = {  # (dtype, low, high) of |a|; the complex ones with phases in [0, 2 pi)
    "slow-decay": (torch.float32, 0.5, 0.999),
    "fast-decay": (torch.float32, 1e-4, 0.5),  # Mamba-like: exp(Delta A) with |Delta A| up to ~9
    "complex": (torch.complex64, 0.5, 0.999),  # the LRU's ring
}


@pytest.mark.parametrize("case", list(FLOAT32_RANGE))
def test_logspace_float32_error_grows_as_documented(case):
    """float32 at T = 5000: error / (eps * sum(|log|a|| + |arg a|) * magnitude) stays O(1), as the
    module docstring says, while the loop's error stays a few roundings whatever T; at fast decays
    the log-space scan really is far less precise (the limit is real, not a bound we never reach)."""
    dtype, low, high = FLOAT32_RANGE[case]
    steps = 5000
    ins, _ = inputs(2, steps, 8, dtype, seed=6, low=low, high=high)
    a, b, h0 = (t.detach() for t in ins)
    wide = torch.complex128 if dtype.is_complex else torch.float64
    exact = linear_scan_reference(a.to(wide), b.to(wide), h0.to(wide))
    scale = magnitude_bound(a, b, h0)
    log_a = a.to(wide).abs().log().abs() + (a.to(wide).angle().abs() if dtype.is_complex else 0.0)
    sum_log = torch.cumsum(log_a, dim=1)  # sum_{s<=t} (|log|a_s|| + |arg a_s|)
    eps = torch.finfo(torch.float32).eps
    err_log = (linear_scan(a, b, h0, kernel="logspace").to(wide) - exact).abs() / scale
    err_loop = (linear_scan(a, b, h0, kernel="numba").to(wide) - exact).abs() / scale
    assert float((err_log / (eps * (1 + sum_log))).max()) < 4.0
    assert float(err_loop.max()) < 8 * eps
    print(f"{case}: worst relative error logspace {float(err_log.max()):.1e}, loop {float(err_loop.max()):.1e}")
    if case == "fast-decay":
        assert float(err_log.max()) > 100 * float(err_loop.max())


def test_logspace_zero_decay_is_finite_and_resets_the_state():
    """``a = 0`` has no logarithm; it acts as the dtype's smallest normal number (documented)."""
    ins, grad = inputs(2, 50, 3, torch.float64, seed=7)
    a, b, h0 = ins
    with torch.no_grad():
        a[:, 20] = 0.0
    fast = run_with_grads(lambda a, b, h0: linear_scan(a, b, h0, kernel="logspace"), [a, b, h0], grad)
    ref = run_with_grads(linear_scan_reference, [a, b, h0], grad)
    for x, y in zip(fast, ref):
        assert torch.isfinite(x).all()
        torch.testing.assert_close(x, y, rtol=1e-6, atol=1e-9)


# --- the dispatcher -------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", kernels.SCAN_DTYPES, ids=str)
def test_auto_on_cpu_is_numba_and_records_it(dtype):
    ins, _ = inputs(2, 5, 3, dtype)
    with kernels.recording() as log:
        out = linear_scan(*ins)
    assert resolve_scan("auto", "cpu", dtype) == "numba"
    assert log == {("scan", "numba", str(dtype).removeprefix("torch."))}
    assert out.dtype == dtype and out.shape == (2, 5, 3)


@pytest.mark.parametrize("half,wide", [(torch.bfloat16, torch.float32), (torch.float16, torch.float32)])
def test_half_precision_runs_in_float32(half, wide):
    """Autocast's bf16/fp16 inputs are scanned in float32 and the states stay float32 (as the IndRNN's)."""
    ins, grad = inputs(2, 30, 4, torch.float32)
    a, b, h0 = (t.detach().to(half).requires_grad_() for t in ins)
    with kernels.recording() as log:
        out = linear_scan(a, b, h0)
    assert log == {("scan", "numba", "float32")} and out.dtype == wide
    torch.testing.assert_close(out, linear_scan_reference(a.float(), b.float(), h0.float()))
    out.backward(grad)
    assert a.grad.dtype == half and b.grad.dtype == half and h0.grad.dtype == half


def test_mixed_dtypes_are_promoted():
    """The LRU may pass a complex ``a`` with a complex ``b`` built from real inputs, or mix float32
    and float64: both are promoted to their common dtype."""
    ins, _ = inputs(2, 6, 3, torch.complex64)
    a, b, h0 = ins
    out = linear_scan(a, b.real.double(), h0)
    assert out.dtype == torch.complex128


def test_dispatcher_rejects_what_cannot_run():
    with pytest.raises(ValueError, match="unknown scan kernel"):
        resolve_scan("fast", "cpu")
    with pytest.raises(ValueError, match="runs on cuda"):
        resolve_scan("triton", "cpu")
    with pytest.raises(ValueError, match="runs on cpu"):
        resolve_scan("numba", "cuda")
    ins, _ = inputs(2, 5, 3, torch.float32)
    with pytest.raises(ValueError, match="batch, channels"):
        linear_scan(ins[0], ins[1], ins[2][:, :2])
    with pytest.raises(ValueError, match="batch, time, channels"):
        linear_scan(ins[0], ins[1][:, :3])
    with pytest.raises(ValueError, match=r"a \(channels,\)"):
        linear_scan(ins[0][0, 0, :2], ins[1])  # a per-channel decay of the wrong width


def test_auto_never_falls_back_to_the_loop(monkeypatch):
    """Issue 18: never a silent fall back to the slow loop (CUDA without triton, another device, a
    dtype no back end takes); the reference runs only when asked for by name."""
    monkeypatch.setattr(cuda, "AVAILABLE", False)
    with pytest.raises(ValueError, match="needs Triton.*'reference'"):
        resolve_scan("auto", "cuda", torch.float32)
    assert resolve_scan("reference", "cuda") == "reference"
    assert resolve_scan("logspace", "cuda") == "logspace"
    monkeypatch.setattr(cuda, "AVAILABLE", True)
    assert resolve_scan("auto", "cuda", torch.bfloat16) == "triton"
    assert resolve_scan("auto", "cuda", torch.complex128) == "triton"
    with pytest.raises(ValueError, match="no fused kernel for meta tensors"):
        resolve_scan("auto", "meta", torch.float32)
    with pytest.raises(ValueError, match="no fused kernel for torch.int64.*'reference'"):
        resolve_scan("auto", "cpu", torch.int64)
    a = torch.ones(1, 3, 2, dtype=torch.int64)
    assert linear_scan(a, a, kernel="reference").tolist() == [[[1, 1], [2, 2], [3, 3]]]


def test_empty_sequence_and_single_step():
    for kernel in ("auto", "logspace", "reference"):
        a = torch.rand(2, 0, 3)
        assert linear_scan(a, a, kernel=kernel).shape == (2, 0, 3)
        a, b, h0 = torch.rand(2, 1, 3), torch.randn(2, 1, 3), torch.randn(2, 3)
        torch.testing.assert_close(linear_scan(a, b, h0, kernel=kernel), a * h0[:, None] + b)


def test_warm_up_leaves_the_global_rng_alone():
    from models.kernels import scan_cpu
    from models.kernels.cpu import warm_once

    fresh = warm_once(scan_cpu.warm_up.__wrapped__)  # a warm-up that has not run yet in this process
    torch.manual_seed(3)
    fresh()
    after = torch.rand(3)
    torch.manual_seed(3)
    torch.testing.assert_close(after, torch.rand(3), rtol=0, atol=0)
    with pytest.raises(ValueError, match="unknown op"):
        kernels.warm_up("lstm")


@pytest.mark.skipif(not cuda.AVAILABLE, reason="needs CUDA and triton")
@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128], ids=["float64", "complex128"])
@pytest.mark.parametrize("steps", [1, 17, 449, 5000])
@pytest.mark.parametrize("kernel", ["triton", "logspace"])
def test_cuda_back_end_equals_reference_loop(kernel, steps, dtype):
    ins, grad = inputs(3, steps, 37, dtype, seed=steps, device="cuda")
    assert resolve_scan("auto", "cuda", dtype) == "triton"
    assert_matches_reference(kernel, ins, grad, *TOL64[kernel])


# --- Mamba's fused selective scan (models.kernels.selective_cpu) against the unfused form ------------

def selective_inputs(batch, steps, inner, nstate, dtype=torch.float64, seed=0, skip=False, gate=False):
    """``x, delta, A, B, C`` as a Mamba layer makes them (``delta > 0``, ``A < 0``), then ``D`` (``skip``)
    and ``z`` (``gate``, of both signs and up to +-6), requiring grad, and a ``dy``."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, steps, inner, generator=gen, dtype=dtype)
    delta = torch.nn.functional.softplus(torch.randn(batch, steps, inner, generator=gen, dtype=dtype))
    A = -torch.exp(torch.randn(inner, nstate, generator=gen, dtype=dtype))
    B, C = (torch.randn(batch, steps, nstate, generator=gen, dtype=dtype) for _ in range(2))
    D = torch.randn(inner, generator=gen, dtype=dtype)
    z = 2 * torch.randn(batch, steps, inner, generator=gen, dtype=dtype)
    dy = torch.randn(batch, steps, inner, generator=gen, dtype=dtype)
    return [t.requires_grad_() for t in (x, delta, A, B, C) + (D,) * skip + (z,) * gate], dy


def selective(fn, skip, gate, **kw):
    """``fn(x, delta, A, B, C, D=..., z=...)`` called with the inputs' optional tail by keyword."""
    def call(x, delta, A, B, C, *rest):
        extra = dict(zip(["D"] * skip + ["z"] * gate, rest))
        return fn(x, delta, A, B, C, **kw, **extra)
    return call


OPTIONAL = pytest.mark.parametrize("skip,gate", [(False, False), (True, False), (False, True), (True, True)],
                                   ids=["plain", "skip", "gate", "skip+gate"])


@OPTIONAL
@pytest.mark.parametrize("steps", [1, 15, 16, 17, 449])
def test_selective_scan_fused_equals_unfused_float64(steps, skip, gate):
    """Values and every gradient; step counts below, at and across the backward's chunk length; with
    and without the skip ``D x`` and the gate ``silu(z)`` that the fused kernel applies in its pass."""
    from models.kernels import selective_scan, selective_scan_unfused

    ins, dy = selective_inputs(3, steps, 7, 5, seed=steps, skip=skip, gate=gate)
    with kernels.recording() as ran:
        fused = run_with_grads(selective(selective_scan, skip, gate, kernel="numba"), ins, dy)
    assert ran == {("selective_scan", "numba", "float64")}
    with kernels.recording() as ran:
        ref = run_with_grads(selective(selective_scan_unfused, skip, gate, kernel="reference"), ins, dy)
    assert ran == {("scan", "reference", "float64")}
    names = ("y", "x", "delta", "A", "B", "C") + ("D",) * skip + ("z",) * gate
    assert len(fused) == len(names)
    for name, x, y in zip(names, fused, ref):
        torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-12, msg=lambda m: f"{name}: {m}")


def test_selective_scan_fused_float32_and_auto():
    from models.kernels import selective_scan, selective_scan_unfused

    ins, dy = selective_inputs(2, 100, 9, 16, dtype=torch.float32, seed=1, skip=True, gate=True)
    with torch.no_grad():
        ins[-1][0, :10] = 100.0  # sigmoids saturated both ways stay finite
        ins[-1][1, :10] = -100.0
    with kernels.recording() as ran:
        fused = run_with_grads(selective(selective_scan, True, True), ins, dy)
    assert ran == {("selective_scan", "numba", "float32")}
    ref = run_with_grads(selective(selective_scan_unfused, True, True, kernel="numba"), ins, dy)
    for x, y in zip(fused, ref):
        assert torch.isfinite(x).all()
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-4)


@OPTIONAL
def test_selective_scan_gradcheck(skip, gate):
    from models.kernels import selective_scan

    ins, _ = selective_inputs(2, 5, 3, 2, seed=2, skip=skip, gate=gate)
    assert torch.autograd.gradcheck(selective(selective_scan, skip, gate, kernel="numba"), ins)


@pytest.mark.parametrize("dtype,rtol", [(np.float32, 3e-7), (np.float64, 5e-16)])
def test_vector_exp_of_the_cpu_kernels_is_libm_exp_to_rounding(dtype, rtol):
    """The kernels' vectorisable exp (selective and gated scans) against NumPy's (within 2.5 units in
    the last place), over the whole normal range; clamped outside it."""
    from numba import njit

    from models.kernels.cpu import EXP as _EXP
    from models.kernels.cpu import exp_row

    @njit
    def run(x, c, bits_type, bias, shift):
        out, bits = np.empty_like(x), np.empty(x.shape[0], bits_type)
        exp_row(x, out, bits, bits.view(x.dtype), c, bias, shift)
        return out

    c = _EXP[dtype][0]
    x = np.concatenate([np.linspace(c[3], c[4], 200001), np.random.default_rng(0).uniform(-20, 1, 100000)]).astype(dtype)
    np.testing.assert_allclose(run(x, *_EXP[dtype]), np.exp(x), rtol=rtol, atol=0)
    low = run(np.array([c[3] - 50, -np.inf], dtype), *_EXP[dtype])
    np.testing.assert_allclose(low, np.exp(c[3]), rtol=rtol, atol=0)
    assert (low >= np.finfo(dtype).tiny).all()


def gated_inputs(kind, batch, steps, width, dtype=torch.float64, scale=1.0, seed=0):
    from models.kernels.gates import GATED

    gen = torch.Generator().manual_seed(seed)
    p = (torch.randn(batch, steps, GATED[kind][0] * width, dtype=dtype, generator=gen) * scale).requires_grad_()
    return [p], torch.randn(batch, steps, width, dtype=dtype, generator=gen)


def gated_unfused(kind, kernel):
    from models.kernels.gates import GATED

    def run(p):
        a, b = GATED[kind][1](p)
        return linear_scan(a, b, None, kernel)
    return run


@pytest.mark.parametrize("scale,tol", [(1.0, 1e-12), (30.0, 1e-8)], ids=["unit", "saturated"])
@pytest.mark.parametrize("steps", [1, 2, 17, 449])
@pytest.mark.parametrize("kind", ["mingru", "minlstm"])
def test_gated_scan_fused_equals_gates_then_reference_loop_float64(kind, steps, scale, tol):
    """The fused minGRU/minLSTM layer (gates and scan in one numba pass, own backward) against the tensor
    gates of models.kernels.gates scanned by the reference loop: states and dL/dp. At logits of +-30s
    the tolerance is PyTorch's: its softplus returns x itself above 20 (an error of log1p(e^-20), 2e-9)."""
    from models.kernels import gated_scan

    ins, dh = gated_inputs(kind, 3, steps, 6, scale=scale, seed=steps)
    with kernels.recording() as ran:
        fused = run_with_grads(lambda p: gated_scan(kind, p, "numba"), ins, dh)
    assert ran == {("gated_scan", "numba", "float64")}
    ref = run_with_grads(gated_unfused(kind, "reference"), ins, dh)
    for name, x, y in zip(("h", "dp"), fused, ref):
        torch.testing.assert_close(x, y, rtol=tol, atol=tol, msg=lambda m: f"{kind} {name}: {m}")


@pytest.mark.parametrize("kind", ["mingru", "minlstm"])
def test_gated_scan_gradcheck_and_long_sequences(kind):
    from models.kernels import gated_scan

    ins, _ = gated_inputs(kind, 2, 6, 3, seed=4)
    assert torch.autograd.gradcheck(lambda p: gated_scan(kind, p, "numba"), ins)
    ins, dh = gated_inputs(kind, 2, 5000, 8, seed=5)
    fused = run_with_grads(lambda p: gated_scan(kind, p, "numba"), ins, dh)
    ref = run_with_grads(gated_unfused(kind, "numba"), ins, dh)  # the plain scan kernel, tested above to 5000
    for x, y in zip(fused, ref):
        torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["mingru", "minlstm"])
def test_gated_scan_float32_auto_and_the_other_back_ends(kind):
    from models.kernels import gated_scan

    ins, dh = gated_inputs(kind, 4, 300, 16, dtype=torch.float32, seed=6)
    with kernels.recording() as ran:
        fused = run_with_grads(lambda p: gated_scan(kind, p), ins, dh)
    assert ran == {("gated_scan", "numba", "float32")}
    exact = run_with_grads(gated_unfused(kind, "reference"), [ins[0].detach().double().requires_grad_()], dh.double())
    for x, y in zip(fused, exact):
        torch.testing.assert_close(x, y.float(), rtol=1e-4, atol=1e-5)
    for kernel in ("logspace", "reference"):  # no fused layer there: gates as tensors, then that scan
        with kernels.recording() as ran:
            gated_scan(kind, ins[0], kernel)
        assert ran == {("scan", kernel, "float32")}
    with pytest.raises(ValueError, match=r"must be \(batch, time, "):
        gated_scan(kind, torch.zeros(2, 3, 7))
    with pytest.raises(ValueError, match="unknown kind"):
        gated_scan("gru", torch.zeros(2, 3, 6))


def test_gated_scan_saturated_gates_stay_finite():
    """Logits of +-200: every sigmoid saturates; minLSTM's f + i underflows when both gates are shut,
    and its f / (f + i) must still be the limit (1/2 when k_f = k_i), never 0/0."""
    from models.kernels import gated_scan

    for kind, blocks in (("mingru", 2), ("minlstm", 3)):
        p = torch.tensor([200.0, -200.0, 0.0, -200.0])[torch.arange(blocks * 4) % 4].reshape(1, 1, -1).repeat(1, 3, 1)
        p.requires_grad_()
        h = gated_scan(kind, p)
        h.sum().backward()
        assert torch.isfinite(h).all() and torch.isfinite(p.grad).all(), kind
    p = torch.full((1, 4, 3), -100.0)  # minLSTM, H = 1: k_f = k_i = -100, candidate -100
    p[..., 2] = 1.0  # g(1) = 1.5
    h = gated_scan("minlstm", p)
    torch.testing.assert_close(h[0, :, 0], torch.tensor([0.75, 1.125, 1.3125, 1.40625]))
