"""Inputs for the recurrence-kernel tests, and a runner for Triton's interpreter.

Shared by ``test_indrnn_kernel.py`` (kernels on their own device) and ``test_triton_interpreter.py``
(the CUDA kernels' logic on CPU). ``TRITON_INTERPRET=1`` only takes effect if it is set before
triton is imported, and pytest's own process may already have imported triton
(``models.kernels.cuda`` does), so the interpreter tests run this file in a fresh process::

    TRITON_INTERPRET=1 python tests/kernel_cases.py '<JSON list of cases>'

It prints one JSON line: for each case, the worst error of the output and of every gradient against
the reference loop as a fraction of the allowed error (``|fast - ref| / (atol + rtol |ref|)``: <= 1
passes, as in ``torch.testing.assert_close``), and a few facts about the case.

Why the inputs keep off relu's kink: two correct kernels that add in different orders (a scan, an
FMA) may disagree on the sign of a pre-activation within rounding of 0; then one entry of dL/dz
differs by O(1) although both are right. Random inputs are therefore nudged so that every
pre-activation is at least a margin away from 0, and the kink itself is tested with exact
arithmetic (small integers, u in {-1, 0, 1}), where there is no rounding and the kernels must agree.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from models.kernels import cuda  # noqa: E402
from models.kernels.reference import recurrence_reference  # noqa: E402

TOL = {torch.float32: (1e-4, 1e-4), torch.float64: (1e-10, 1e-10)}  # (rtol, atol)


def off_the_kink(z, u, b, h0, margin: float = 1e-3):
    """``z`` shifted where needed so every pre-activation of the reference loop is >= margin from 0.

    The margin grows with the terms being added (``margin * (1 + |u h|)``), since rounding does.
    """
    z, h = z.clone(), h0
    for t in range(z.shape[1]):
        pre = z[:, t] + b + u * h  # (batch, hidden)
        gap = margin * (1 + (u * h).abs())
        z[:, t] += torch.where(pre.abs() < gap, torch.where(pre >= 0, gap, -gap), 0.0)
        h = torch.relu(z[:, t] + b + u * h)
    return z


def random_inputs(shape, dtype=torch.float32, device="cpu", seed=0, u_max=1.1):
    """Fresh ``[z, u, b, h0]`` (requiring grad): u in [-u_max, u_max] with u[0] < 0, positive h0."""
    g = torch.Generator().manual_seed(seed)
    batch, steps, hidden = shape
    z = torch.randn(batch, steps, hidden, generator=g, dtype=dtype)
    u = (torch.rand(hidden, generator=g, dtype=dtype) * 2 - 1) * u_max
    u[0] = -0.9 * u_max  # at least one negative weight even when hidden == 1
    b = 0.3 * torch.randn(hidden, generator=g, dtype=dtype)
    h0 = torch.rand(batch, hidden, generator=g, dtype=dtype) + 0.1
    z = off_the_kink(z, u, b, h0)
    return [t.to(device).requires_grad_() for t in (z, u, b, h0)]


def exact_inputs(shape, dtype=torch.float32, device="cpu", seed=0):
    """Small integers and u in {-1, 0, 1}: every sum exact in any order (a scan's tree too), and
    pre-activations exactly 0 at many steps."""
    g = torch.Generator().manual_seed(seed)
    batch, steps, hidden = shape
    z = torch.randint(-3, 4, (batch, steps, hidden), generator=g).to(dtype)
    u = torch.tensor([-1.0, 1.0, 0.0], dtype=dtype).repeat(hidden)[:hidden]
    b = torch.randint(-1, 2, (hidden,), generator=g).to(dtype)
    h0 = torch.randint(0, 3, (batch, hidden), generator=g).to(dtype)
    return [t.to(device).requires_grad_() for t in (z, u, b, h0)]


def worst_errors(fast_fn, ins, grad_seed=123) -> dict:
    """Worst error of ``fast_fn(*ins)`` and its gradients against the reference, per tensor."""
    fast = fast_fn(*ins)
    ref = recurrence_reference(*ins)
    grad = torch.randn(ref.shape, generator=torch.Generator().manual_seed(grad_seed), dtype=ref.dtype)
    grad = grad.to(ref.device)
    pairs = zip(("out", "z", "u", "b", "h0"), (fast, *torch.autograd.grad(fast, ins, grad)),
                (ref, *torch.autograd.grad(ref, ins, grad)))
    rtol, atol = TOL[ref.dtype]
    with torch.no_grad():
        worst = {name: float(((a - b).abs() / (atol + rtol * b.abs())).max()) for name, a, b in pairs}
        return {"worst": worst, "zeros": int((ref == 0).sum()), "positive": int((ref > 0).sum()),
                "min_out": float(fast.min()), "finite": bool(torch.isfinite(fast).all())}


def scan_worst_errors(case: dict) -> dict:
    """One linear-scan case (``kernel`` "scan_triton"): the Triton scan at ``chunk``/``block`` against
    the reference loop, output and the gradients of ``a``, ``b``, ``h0``, real or complex."""
    from models.kernels import scan_cuda
    from models.kernels.scan_reference import linear_scan_reference

    dtype = getattr(torch, case["dtype"])
    real = {torch.complex64: torch.float32, torch.complex128: torch.float64}.get(dtype, dtype)
    g = torch.Generator().manual_seed(case.get("seed", 0))
    batch, steps, width = case["shape"]
    r = 0.01 + 0.98 * torch.rand(batch, steps, width, generator=g, dtype=real)  # |a| < 1, as every unit's
    a = torch.polar(r, 6.3 * torch.rand(r.shape, generator=g, dtype=real)) if dtype.is_complex else r
    b, grad = (torch.randn(batch, steps, width, generator=g, dtype=dtype) for _ in range(2))
    h0 = torch.randn(batch, width, generator=g, dtype=dtype)
    ins = [t.requires_grad_() for t in (a, b, h0)]
    backend = scan_cuda.TritonScan(chunk=case["chunk"], block=case["block"], num_warps=1)
    fast = scan_cuda.linear_scan_cuda(*ins, backend=backend)
    ref = linear_scan_reference(*ins)
    pairs = zip(("out", "a", "b", "h0"), (fast, *torch.autograd.grad(fast, ins, grad)),
                (ref, *torch.autograd.grad(ref, ins, grad)))
    rtol, atol = TOL[real]
    with torch.no_grad():
        worst = {name: float(((x - y).abs() / (atol + rtol * y.abs())).max()) for name, x, y in pairs}
        return {"worst": worst, "finite": bool(torch.isfinite(torch.view_as_real(fast) if dtype.is_complex
                                                              else fast).all())}


def run(case: dict) -> dict:
    """One interpreter case: ``kernel`` ("triton" with ``chunk``/``block``, or "triton_loop"; or
    "scan_triton", the linear scan's), ``dtype``, ``shape``, and optionally ``seed``, ``u_max``, ``exact``."""
    from models.kernels.cuda_loop import recurrence_cuda_loop

    if case["kernel"] == "scan_triton":
        return scan_worst_errors(case)
    dtype = getattr(torch, case["dtype"])
    if case.get("exact"):
        ins = exact_inputs(case["shape"], dtype, seed=case.get("seed", 0))
    else:
        ins = random_inputs(case["shape"], dtype, seed=case.get("seed", 0), u_max=case.get("u_max", 1.1))
    if case["kernel"] == "triton":
        backend = cuda.ScanBackend(chunk=case["chunk"], block=case["block"], num_warps=1)
        return worst_errors(lambda *a: cuda.recurrence_cuda(*a, backend=backend), ins)
    return worst_errors(recurrence_cuda_loop, ins)


if cuda.triton is not None:
    tl = cuda.tl

    @cuda.triton.jit
    def _associativity_kernel(m_ptr, h_ptr, out_ptr, N: tl.constexpr):
        """For maps x, y, w (rows of ``m``, 4 components each): (x then y) then w, x then (y then w)."""
        i = tl.arange(0, N)
        h = tl.load(h_ptr + i)
        xa, xb, xc, xd = (tl.load(m_ptr + 0 * N + i), tl.load(m_ptr + 1 * N + i),
                          tl.load(m_ptr + 2 * N + i), tl.load(m_ptr + 3 * N + i))
        ya, yb, yc, yd = (tl.load(m_ptr + 4 * N + i), tl.load(m_ptr + 5 * N + i),
                          tl.load(m_ptr + 6 * N + i), tl.load(m_ptr + 7 * N + i))
        wa, wb, wc, wd = (tl.load(m_ptr + 8 * N + i), tl.load(m_ptr + 9 * N + i),
                          tl.load(m_ptr + 10 * N + i), tl.load(m_ptr + 11 * N + i))
        # the forward's clamp maps (a, c, lo, hi): value at h
        pa, pc, pl, ph = cuda._compose_clamp(xa, xb, xc, xd, ya, yb, yc, yd)
        la, lc, ll, lh = cuda._compose_clamp(pa, pc, pl, ph, wa, wb, wc, wd)
        qa, qc, ql, qh = cuda._compose_clamp(ya, yb, yc, yd, wa, wb, wc, wd)
        ra, rc, rl, rh = cuda._compose_clamp(xa, xb, xc, xd, qa, qc, ql, qh)
        tl.store(out_ptr + 0 * N + i, tl.minimum(tl.maximum(la * h + lc, ll), lh))
        tl.store(out_ptr + 1 * N + i, tl.minimum(tl.maximum(ra * h + rc, rl), rh))
        # the backward's affine maps (a, b, c, d): both components at g = h
        pa, pb, pc, pd = cuda._compose_affine2(xa, xb, xc, xd, ya, yb, yc, yd)
        la, lb, lc, ld = cuda._compose_affine2(pa, pb, pc, pd, wa, wb, wc, wd)
        qa, qb, qc, qd = cuda._compose_affine2(ya, yb, yc, yd, wa, wb, wc, wd)
        ra, rb, rc, rd = cuda._compose_affine2(xa, xb, xc, xd, qa, qb, qc, qd)
        tl.store(out_ptr + 2 * N + i, la * h + lb)
        tl.store(out_ptr + 3 * N + i, ra * h + rb)
        tl.store(out_ptr + 4 * N + i, lc * h + ld)
        tl.store(out_ptr + 5 * N + i, rc * h + rd)


def associativity(n: int = 4096, seed: int = 0) -> dict:
    """Both groupings of three random maps against applying them one by one (float64).

    The interpreter scans strictly left to right; a GPU combines in a tree, so the combine
    functions must be associative. Clamp maps have scales of both signs, exact zeros, collapsed
    (``lo == hi``) and unbounded (``hi = BIG``) ranges, as compositions of real steps do.
    """
    g = torch.Generator().manual_seed(seed)
    dt = torch.float64

    def clamp_maps():
        a = torch.rand(n, generator=g, dtype=dt) * 3 - 1.5
        a[torch.rand(n, generator=g) < 0.1] = 0.0
        c = torch.randn(n, generator=g, dtype=dt)
        lo = torch.randn(n, generator=g, dtype=dt).clamp(min=0)
        hi = lo + torch.randn(n, generator=g, dtype=dt).abs()
        hi[torch.rand(n, generator=g) < 0.3] = cuda.BIG
        collapsed = torch.rand(n, generator=g) < 0.1
        return [a, c, lo, torch.where(collapsed, lo, hi)]

    maps = [clamp_maps() for _ in range(3)]
    h = torch.randn(n, generator=g, dtype=dt).abs() * 3
    out = torch.empty(6, n, dtype=dt)
    _associativity_kernel[(1,)](torch.stack([t for m in maps for t in m]), h, out, N=n)
    want = h
    for a, c, lo, hi in maps:  # one step after the other
        want = torch.minimum(torch.maximum(a * want + c, lo), hi)
    # the same numbers read as backward maps (a, b, c, d), x applied first: each map feeds its
    # first component (g_t) on; the last map's second component is g_{t+1} of its step
    (xa, xb, _, _), (ya, yb, _, _), (wa, wb, wc, wd) = maps
    first = wa * (ya * (xa * h + xb) + yb) + wb
    second = wc * (ya * (xa * h + xb) + yb) + wd
    err = lambda x, y: float(((x - y).abs() / (1e-12 + 1e-12 * y.abs())).max())  # noqa: E731
    return {"clamp_left": err(out[0], want), "clamp_right": err(out[1], want),
            "affine_left": err(out[2], first), "affine_right": err(out[3], first),
            "affine_next_left": err(out[4], second), "affine_next_right": err(out[5], second),
            "collapsed": int((maps[0][2] == maps[0][3]).sum()), "negative": int((maps[1][0] < 0).sum())}


def main(cases: list[dict]) -> list[dict]:
    assert os.environ.get("TRITON_INTERPRET") == "1", "run with TRITON_INTERPRET=1"
    return [associativity(**c["associativity"]) if "associativity" in c else run(c) for c in cases]


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
