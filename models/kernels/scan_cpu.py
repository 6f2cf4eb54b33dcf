"""Fused CPU kernel for the diagonal linear recurrence ``h_t = a_t * h_{t-1} + b_t`` (numba).

Every channel of every sequence is its own scalar chain. As in the IndRNN's kernel (:mod:`.cpu`),
numba runs the sequences of the batch in parallel (``prange``), each walks time in order, and the
innermost loop runs over all contiguous channels, which LLVM vectorises. (Splitting a sequence's
channels into blocks of 64 as extra parallel tasks measured 5x slower on a 2-core machine: variable
loop bounds stopped the vectorisation; the batch alone keeps any CPU of up to ``batch`` cores busy.)
Real (float32, float64) and complex (complex64, complex128: the LRU's state) tensors take the same
code; numba compiles one version per dtype. ``a`` may hold one row per sequence, ``(batch, 1,
channels)``, for a decay that never changes over time (the LRU's ``lambda``): the kernels read that row
at every step and add its gradient up over time, so neither the forward's copy of ``a`` nor a full
``(batch, time, channels)`` gradient is ever made.

Backward (the reverse scan). With ``g_t = dL/dh_t`` in total (from above and through ``h_{t+1}``)::

    g_t  = dL/dh_t|above + conj(a_{t+1}) g_{t+1}        (g_T = dL/dh_T|above)
    dL/da_t = g_t conj(h_{t-1}),   dL/db_t = g_t,   dL/dh0 = conj(a_1) g_1     (h_0 = h0, t = 1..T)

since ``h_t`` reaches the loss only directly and through ``h_{t+1} = a_{t+1} h_t + b_{t+1}``;
``conj`` is PyTorch's convention for complex gradients (the identity for real tensors). One reverse
pass computes all three from the saved ``a`` and states. (In the code time runs 0..T-1, so the
first step's previous state is ``h0`` and ``dL/dh0 = conj(a[0]) g[0]``.)

The kernels compile like the IndRNN's (:data:`.cpu.JIT`: numba's thread pool, on-disk cache), and
:func:`warm_up` compiles (or loads) every dtype, so no compile lands in a timed step.
"""
from __future__ import annotations

import numpy as np
import torch
from numba import njit, prange

from .cpu import JIT, as_numpy, warm_once
from .fused import fused_scan

__all__ = ["NumbaScan", "linear_scan_cpu", "warm_up", "DTYPES"]

DTYPES = (torch.float32, torch.float64, torch.complex64, torch.complex128)


@njit(**JIT)
def _scan_forward(a, b, h0, out):  # pragma: no cover - compiled
    # a is (batch, time, width), or (batch, 1, width): one decay for every step (the LRU's lambda)
    batch, steps, width = b.shape
    per_step = 1 if a.shape[1] == steps else 0
    for i in prange(batch):
        for j in range(width):
            out[i, 0, j] = a[i, 0, j] * h0[i, j] + b[i, 0, j]
        for t in range(1, steps):
            ta = t * per_step
            for j in range(width):
                out[i, t, j] = a[i, ta, j] * out[i, t - 1, j] + b[i, t, j]


@njit(inline="always")
def _reverse_step(grad, a, out, db, carry, i, t, ta, j):  # pragma: no cover - compiled
    """One channel of one step of the reverse scan: ``g_t`` into ``db``, the carry to step ``t - 1``,
    and ``dL/da_t = g_t conj(h_{t-1})`` returned."""
    g = grad[i, t, j] + carry[j]  # g_t = dL/dh_t
    db[i, t, j] = g
    carry[j] = a[i, ta, j].conjugate() * g
    return g * out[i, t - 1, j].conjugate()


@njit(**JIT)
def _scan_backward(grad, a, out, h0, da, db, dh0):  # pragma: no cover - compiled
    # carry = conj(a_{t+1}) g_{t+1}, what reaches h_t through the next step; one row per sequence,
    # as in the IndRNN's backward (measured 1.4x faster for complex64 than reading g back from db).
    # With one decay for every step, dL/da sums over time in a row ``acc``. The two cases have their
    # own inner loops: a branch inside one loop measured 1.7x slower for complex64.
    batch, steps, width = grad.shape
    per_step = a.shape[1] == steps
    for i in prange(batch):
        carry = np.zeros(width, a.dtype)
        acc = np.zeros(width, a.dtype)
        for t in range(steps - 1, 0, -1):
            if per_step:
                for j in range(width):
                    da[i, t, j] = _reverse_step(grad, a, out, db, carry, i, t, t, j)
            else:
                for j in range(width):
                    acc[j] += _reverse_step(grad, a, out, db, carry, i, t, 0, j)
        for j in range(width):  # t = 0 reads the initial state
            g = grad[i, 0, j] + carry[j]
            db[i, 0, j] = g
            da[i, 0, j] = acc[j] + g * h0[i, j].conjugate()
            dh0[i, j] = a[i, 0, j].conjugate() * g


class NumbaScan:
    """Launches the numba scan loops on CPU tensors (through zero-copy NumPy views)."""

    @staticmethod
    def scan_forward(a, b, h0, out):
        _scan_forward(as_numpy(a), as_numpy(b), as_numpy(h0), out.numpy())

    @staticmethod
    def scan_backward(grad_out, a, out, h0, da, db, dh0):
        _scan_backward(as_numpy(grad_out), as_numpy(a), as_numpy(out), as_numpy(h0), da.numpy(), db.numpy(),
                       dh0.numpy())


def linear_scan_cpu(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    """Fused CPU scan; the contract of :func:`models.kernels.scan_reference.linear_scan_reference`, and
    ``a`` may also be ``(batch, 1, channels)``: one decay for every step (its gradient summed over time)."""
    return fused_scan(NumbaScan, a, b, h0)


@warm_once
def warm_up(gen: torch.Generator) -> None:
    """Compile (first run) or load from the on-disk cache every dtype version of both loops."""
    for dtype in DTYPES:
        a = torch.rand(2, 3, 4, dtype=dtype, generator=gen, requires_grad=True)
        b = torch.randn(2, 3, 4, dtype=dtype, generator=gen, requires_grad=True)
        h0 = torch.randn(2, 4, dtype=dtype, generator=gen, requires_grad=True)
        linear_scan_cpu(a, b, h0).abs().sum().backward()
