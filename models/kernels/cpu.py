"""Fused CPU kernel for the IndRNN recurrence: numba loops inside a custom autograd function.

The recurrence ``h_t = relu(z_t + b + u * h_{t-1})`` is elementwise in the hidden units and
sequential in time, so each (sequence, neuron) pair is an independent scalar chain. The kernels
run the batch in parallel (``prange``), walk time sequentially, and keep the innermost loop on the
contiguous hidden axis so LLVM vectorises it.

Backward (reverse-mode through the chain, ``g_t`` = dL/dh_t from above plus the carry)::

    d_t      = (g_t + carry) * [h_t > 0]      # dL/dz_t = dL/db contribution
    carry    = d_t * u                        # dL/dh_{t-1} through the recurrence
    dL/du   += d_t * h_{t-1}
    dL/dh0   = carry after t = 0

``cache=True`` keeps the compiled machine code on disk (``__pycache__``), and :func:`warm_up`
compiles (or loads) both float32 and float64 versions, so no JIT compile lands in a timed step.
"""
from __future__ import annotations

import math
from functools import wraps
from typing import Callable

import numpy as np
import torch
from numba import njit, prange

from .fused import fused_recurrence

__all__ = ["JIT", "EXP", "exp_row", "sigmoid_pair", "NumbaBackend", "as_numpy", "recurrence_cpu", "warm_once", "warm_up"]

# How every numba kernel of the package compiles (the IndRNN's here, the linear scan's in
# :mod:`.scan_cpu`): parallel loops on numba's thread pool (sized by ``--threads``, see
# bench.measure.policy.set_threads) and machine code cached on disk, so a new process loads it instead of
# compiling again.
JIT = dict(parallel=True, cache=True)


# exp for every numba kernel that needs one (the selective scan's decays, the gated scans' sigmoids):
# by range reduction, x = k ln2 + r with |r| <= ln2 / 2, exp(x) = 2^k p(r), p the Taylor polynomial,
# 2^k written as exponent bits. p has degree 12 in float64 (truncation < 2e-16 relative) and 7 in
# float32 (truncation r^8 / 8! < 6e-9 relative, below float32's rounding, 6e-8: five multiply-adds
# fewer per exponential). libm's exp is a scalar call that LLVM cannot vectorise (numba has no vector
# math library here); this form vectorises and measured 6x faster. Arguments are clamped to the normal
# range, [log(smallest normal), log(largest)]: below it libm would return a subnormal (or 0 once
# subnormals are flushed), this the smallest normal number.
COEF = [1.0 / math.factorial(i) for i in range(13)]
EXP = {  # dtype: (log2 e, ln2 hi, ln2 lo, lowest, highest, 1/0!, ..., 1/12!), exponent bits' integer type, bias, shift
    np.float32: (np.array([1.4426950408889634, 0.693145751953125, 1.4286068203094173e-06, -87.0, 88.0] + COEF,
                          np.float32), np.int32, np.int32(127), np.int32(23)),
    np.float64: (np.array([1.4426950408889634, 6.93147180369123816490e-01, 1.90821492927058770002e-10,
                           -708.0, 709.0] + COEF, np.float64), np.int64, np.int64(1023), np.int64(52)),
}


@njit(inline="always")
def _reduced(v, c):  # pragma: no cover - compiled
    """``(k, r)`` with ``v = k ln2 + r``, ``|r| <= ln2 / 2``, after clamping ``v`` to the normal range."""
    v = min(max(v, c[3]), c[4])
    k = np.floor(v * c[0] + c[7])  # c[7] = 1 / 2!
    return k, (v - k * c[1]) - k * c[2]


@njit(inline="always")
def exp_row(x, out, bits, scale, c, bias, shift):  # pragma: no cover - compiled
    """``out[:] = exp(x)`` for one row; ``bits`` and ``scale`` are integer and float views of one scratch row."""
    c0, c1, c2, c3, c4, c5, c6 = c[5], c[6], c[7], c[8], c[9], c[10], c[11]
    c7, c8, c9, c10, c11, c12 = c[12], c[13], c[14], c[15], c[16], c[17]
    if x.itemsize == 4:  # float32: degree 7
        for n in range(x.shape[0]):
            k, r = _reduced(x[n], c)
            out[n] = ((((((c7 * r + c6) * r + c5) * r + c4) * r + c3) * r + c2) * r + c1) * r + c0
            bits[n] = (bits.dtype.type(k) + bias) << shift
    else:  # float64: degree 12
        for n in range(x.shape[0]):
            k, r = _reduced(x[n], c)
            p = (((((c12 * r + c11) * r + c10) * r + c9) * r + c8) * r + c7) * r + c6
            out[n] = (((((p * r + c5) * r + c4) * r + c3) * r + c2) * r + c1) * r + c0
            bits[n] = (bits.dtype.type(k) + bias) << shift
    for n in range(x.shape[0]):
        out[n] *= scale[n]


@njit(inline="always")
def sigmoid_pair(x, e, zero, one):  # pragma: no cover - compiled
    """``(sigmoid(x), 1 - sigmoid(x))`` from ``e = exp(-|x|)`` (from :func:`exp_row`): never overflows,
    and neither value comes from a subtraction that cancels."""
    inv = one / (one + e)
    return (inv, e * inv) if x >= zero else (e * inv, inv)


@njit(**JIT)
def _forward(z, u, b, h0, out):  # pragma: no cover - compiled
    batch, steps, hidden = z.shape
    zero = z.dtype.type(0)  # typed, so float32 stays float32 and the inner loop vectorises
    for i in prange(batch):
        for j in range(hidden):
            v = z[i, 0, j] + b[j] + u[j] * h0[i, j]
            out[i, 0, j] = v if v > zero else zero
        for t in range(1, steps):
            for j in range(hidden):
                v = z[i, t, j] + b[j] + u[j] * out[i, t - 1, j]
                out[i, t, j] = v if v > zero else zero


@njit(**JIT)
def _backward(grad, out, u, h0, dz, du_rows, db_rows, dh0):  # pragma: no cover - compiled
    # du_rows, db_rows, dh0: (batch, hidden), one row per sequence so threads never share a write.
    # Index the arrays directly in the inner loop (no row views): that is the form LLVM vectorises.
    batch, steps, hidden = out.shape
    zero = out.dtype.type(0)
    for i in prange(batch):
        carry = np.zeros(hidden, out.dtype)  # dL/dh_t arriving from step t+1
        du = np.zeros(hidden, out.dtype)
        db = np.zeros(hidden, out.dtype)
        for t in range(steps - 1, 0, -1):
            for j in range(hidden):
                d = grad[i, t, j] + carry[j]
                d = d if out[i, t, j] > zero else zero  # relu'(pre-activation) = [h_t > 0]
                dz[i, t, j] = d
                carry[j] = d * u[j]
                du[j] += d * out[i, t - 1, j]
                db[j] += d
        for j in range(hidden):  # t = 0 reads the initial state instead of out[t - 1]
            d = grad[i, 0, j] + carry[j]
            d = d if out[i, 0, j] > zero else zero
            dz[i, 0, j] = d
            carry[j] = d * u[j]
            du[j] += d * h0[i, j]
            db[j] += d
        dh0[i] = carry
        du_rows[i] = du
        db_rows[i] = db


def as_numpy(t: torch.Tensor) -> np.ndarray:
    """A zero-copy NumPy view of a CPU tensor's (contiguous) memory, for a numba kernel."""
    return t.detach().contiguous().numpy()


class NumbaBackend:
    """Launches the numba loops on CPU tensors (through zero-copy NumPy views)."""

    @staticmethod
    def forward(z, u, b, h0, out):
        _forward(as_numpy(z), as_numpy(u), as_numpy(b), as_numpy(h0), out.numpy())

    @staticmethod
    def backward(grad_out, out, u, h0, dz, du_rows, db_rows, dh0):
        _backward(as_numpy(grad_out), as_numpy(out), as_numpy(u), as_numpy(h0), dz.numpy(),
                  du_rows.numpy(), db_rows.numpy(), dh0.numpy())


def recurrence_cpu(z: torch.Tensor, u: torch.Tensor, b: torch.Tensor,
                   h0: torch.Tensor | None = None) -> torch.Tensor:
    """Fused CPU recurrence; same contract as :func:`models.kernels.reference.recurrence_reference`."""
    return fused_recurrence(NumbaBackend, z, u, b, h0)


def warm_once(compile_all: Callable[[torch.Generator], None]) -> Callable[[], None]:
    """A kernel module's ``warm_up()``: ``compile_all(gen)`` runs every compiled version once (a first
    run compiles, later processes load numba's disk cache), once per process, drawing its inputs from
    its own generator so warming up never shifts the global RNG."""
    done = False

    @wraps(compile_all)
    def warm_up() -> None:
        nonlocal done
        if not done:
            compile_all(torch.Generator().manual_seed(0))
            done = True

    return warm_up


@warm_once
def warm_up(gen: torch.Generator) -> None:
    """Compile (first run) or load from the on-disk cache both dtype versions of both kernels."""
    for dtype in (torch.float32, torch.float64):
        z = torch.randn(2, 3, 4, dtype=dtype, generator=gen, requires_grad=True)
        u = torch.rand(4, dtype=dtype, generator=gen, requires_grad=True)
        b = torch.zeros(4, dtype=dtype, requires_grad=True)
        recurrence_cpu(z, u, b).sum().backward()
