"""Fused CPU layers of minGRU and minLSTM (numba): gates and scan in one pass over the projection.

Run as tensor operations (:mod:`.gates`, then :func:`models.kernels.linear_scan`), a minGRU layer makes
about a dozen passes over ``(batch, time, hidden)`` tensors forward and as many backward (two
sigmoids, the positive map ``g``, products, the scan, and autograd's saved copies of each); at the
paper's shapes that traffic, not the scan, is most of the layer's time. Here one forward pass reads the
projection ``p`` (``(batch, time, 2 H)`` or ``3 H``) and writes only the states ``h``; the backward
recomputes the gates from ``p`` and writes only ``dL/dp``. Same equations as :mod:`.gates`:

minGRU, ``p = [k, c]``::

    z = sigmoid(k), a = 1 - z, b = z g(c);      h_t = a h_{t-1} + b
    G_t = dL/dh_t + a_{t+1} G_{t+1}
    dL/dk = G a z (g - h_{t-1}),   dL/dc = G z g'(c)

minLSTM, ``p = [k_f, k_i, c]``, ``f = sigmoid(k_f)``, ``i = sigmoid(k_i)``, ``f' = f / (f + i)``, ``i' = 1 - f'``::

    h_t = f' h_{t-1} + i' g(c);   with D = G f' i' (g - h_{t-1}):
    dL/dk_f = -D (1 - f),   dL/dk_i = D (1 - i),   dL/dc = G i' g'(c)

``f'`` is computed without dividing by a small ``f + i``: with ``m = max(-k_i, -k_f, 0)``,
``A = e^{-m} + e^{-k_i - m}`` (proportional to ``1 / i``) and ``B = e^{-m} + e^{-k_f - m}`` (to
``1 / f``), ``f' = A / (A + B)``; every exponent is <= 0 and ``A + B >= 1``. ``g(c) = c + 1/2`` for
``c >= 0``, ``sigmoid(c)`` below.

The exponentials are :func:`.cpu.exp_row`'s (vectorised; libm's ``exp`` is a scalar call), whose
arguments are clamped to the normal range: a sigmoid of ``k`` below about -87 (float32) reads
``1e-38`` rather than a subnormal or 0, far below anything a state can resolve. Parallel over the
batch (``prange``), compiled like the package's other kernels (:data:`.cpu.JIT`); :func:`warm_up`
loads both dtypes of both units.
"""
from __future__ import annotations

import numpy as np
import torch
from numba import njit, prange
from torch.autograd.function import once_differentiable

from .cpu import EXP, JIT, as_numpy, exp_row, sigmoid_pair, warm_once

__all__ = ["gated_scan_cpu", "warm_up", "KINDS"]

KINDS = {"mingru": 2, "minlstm": 3}  # blocks of H in the projection


@njit(inline="always")
def _positive(x, e, zero, one, half):  # pragma: no cover - compiled
    """``g(x)`` and ``g'(x)`` from ``e = exp(min(x, 0))``."""
    s = e / (one + e)  # sigmoid(x) where x < 0
    return (x + half, one) if x >= zero else (s, s * (one - s))


@njit(inline="always")
def _mingru_exps(p, i, t, width, zero, arg, e, bits, scale, c, bias, shift):  # pragma: no cover - compiled
    """Step ``t``'s exponentials: ``e[0] = exp(-|k|)``, ``e[1] = exp(min(c, 0))``."""
    for j in range(width):
        arg[0, j] = -abs(p[i, t, j])
    for j in range(width):
        arg[1, j] = min(p[i, t, width + j], zero)
    for r in range(2):
        exp_row(arg[r], e[r], bits, scale, c, bias, shift)


@njit(inline="always")
def _mingru_gates(p, i, t, j, width, e, zero, one, half):  # pragma: no cover - compiled
    """``a = 1 - z``, ``z = sigmoid(k)``, ``g(c)`` and ``g'(c)`` of channel ``j`` at step ``t``."""
    z, a = sigmoid_pair(p[i, t, j], e[0, j], zero, one)
    g, dg = _positive(p[i, t, width + j], e[1, j], zero, one, half)
    return a, z, g, dg


@njit(**JIT)
def _mingru_forward(p, h, c, bits_type, bias, shift):  # pragma: no cover - compiled
    batch, steps, width = h.shape
    zero, one, half = h.dtype.type(0), h.dtype.type(1), h.dtype.type(0.5)
    for i in prange(batch):
        arg, e = np.empty((2, width), h.dtype), np.empty((2, width), h.dtype)
        bits = np.empty(width, bits_type)
        scale = bits.view(h.dtype)
        prev = np.zeros(width, h.dtype)
        for t in range(steps):
            _mingru_exps(p, i, t, width, zero, arg, e, bits, scale, c, bias, shift)
            for j in range(width):
                a, z, g, _ = _mingru_gates(p, i, t, j, width, e, zero, one, half)
                v = a * prev[j] + z * g
                prev[j] = v
                h[i, t, j] = v


@njit(**JIT)
def _mingru_backward(dh, p, h, dp, c, bits_type, bias, shift):  # pragma: no cover - compiled
    batch, steps, width = h.shape
    zero, one, half = h.dtype.type(0), h.dtype.type(1), h.dtype.type(0.5)
    for i in prange(batch):
        arg, e = np.empty((2, width), h.dtype), np.empty((2, width), h.dtype)
        bits = np.empty(width, bits_type)
        scale = bits.view(h.dtype)
        carry = np.zeros(width, h.dtype)  # a_{t+1} G_{t+1}
        for t in range(steps - 1, -1, -1):
            before, live = max(t - 1, 0), one if t > 0 else zero  # h_{t-1}, and h_0 = 0
            _mingru_exps(p, i, t, width, zero, arg, e, bits, scale, c, bias, shift)
            for j in range(width):
                a, z, g, dg = _mingru_gates(p, i, t, j, width, e, zero, one, half)
                G = dh[i, t, j] + carry[j]
                dp[i, t, j] = G * a * z * (g - live * h[i, before, j])
                dp[i, t, width + j] = G * z * dg
                carry[j] = a * G


@njit(inline="always")
def _minlstm_exps(p, i, t, width, zero, arg, e, bits, scale, c, bias, shift):  # pragma: no cover - compiled
    """Step ``t``'s exponentials, with ``m = max(-k_i, -k_f, 0)``: ``e[0] = e^{-m}``,
    ``e[1] = e^{-k_i - m}``, ``e[2] = e^{-k_f - m}``, ``e[3] = exp(min(c, 0))``."""
    for j in range(width):
        kf, ki = p[i, t, j], p[i, t, width + j]
        m = max(max(-ki, -kf), zero)
        arg[0, j] = -m
        arg[1, j] = -ki - m
        arg[2, j] = -kf - m
        arg[3, j] = min(p[i, t, 2 * width + j], zero)
    for r in range(4):
        exp_row(arg[r], e[r], bits, scale, c, bias, shift)


@njit(inline="always")
def _minlstm_gates(p, i, t, j, width, e, zero, one, half):  # pragma: no cover - compiled
    """``A`` (~ 1 / i), ``B`` (~ 1 / f), ``f' = A / (A + B)``, ``g(c)`` and ``g'(c)`` of channel ``j``."""
    A = e[0, j] + e[1, j]
    B = e[0, j] + e[2, j]
    g, dg = _positive(p[i, t, 2 * width + j], e[3, j], zero, one, half)
    return A, B, A / (A + B), g, dg


@njit(**JIT)
def _minlstm_forward(p, h, c, bits_type, bias, shift):  # pragma: no cover - compiled
    batch, steps, width = h.shape
    zero, one, half = h.dtype.type(0), h.dtype.type(1), h.dtype.type(0.5)
    for i in prange(batch):
        arg, e = np.empty((4, width), h.dtype), np.empty((4, width), h.dtype)
        bits = np.empty(width, bits_type)
        scale = bits.view(h.dtype)
        prev = np.zeros(width, h.dtype)
        for t in range(steps):
            _minlstm_exps(p, i, t, width, zero, arg, e, bits, scale, c, bias, shift)
            for j in range(width):
                _, _, fp, g, _ = _minlstm_gates(p, i, t, j, width, e, zero, one, half)
                v = fp * prev[j] + (one - fp) * g
                prev[j] = v
                h[i, t, j] = v


@njit(**JIT)
def _minlstm_backward(dh, p, h, dp, c, bits_type, bias, shift):  # pragma: no cover - compiled
    batch, steps, width = h.shape
    zero, one, half = h.dtype.type(0), h.dtype.type(1), h.dtype.type(0.5)
    for i in prange(batch):
        arg, e = np.empty((4, width), h.dtype), np.empty((4, width), h.dtype)
        bits = np.empty(width, bits_type)
        scale = bits.view(h.dtype)
        carry = np.zeros(width, h.dtype)  # f'_{t+1} G_{t+1}
        for t in range(steps - 1, -1, -1):
            before, live = max(t - 1, 0), one if t > 0 else zero
            _minlstm_exps(p, i, t, width, zero, arg, e, bits, scale, c, bias, shift)
            for j in range(width):
                A, B, fp, g, dg = _minlstm_gates(p, i, t, j, width, e, zero, one, half)
                ip = one - fp
                G = dh[i, t, j] + carry[j]
                D = G * fp * ip * (g - live * h[i, before, j])
                dp[i, t, j] = -D * e[2, j] / B  # 1 - f = e^{-k_f - m} / B
                dp[i, t, width + j] = D * e[1, j] / A  # 1 - i = e^{-k_i - m} / A
                dp[i, t, 2 * width + j] = G * ip * dg
                carry[j] = fp * G


_KERNELS = {"mingru": (_mingru_forward, _mingru_backward), "minlstm": (_minlstm_forward, _minlstm_backward)}


class GatedScan(torch.autograd.Function):
    """A minGRU or minLSTM layer's states from its projection, with the hand-written backward above."""

    @staticmethod
    def forward(ctx, p, kind):
        p = p.contiguous()
        h = p.new_empty(p.shape[0], p.shape[1], p.shape[2] // KINDS[kind])  # (batch, time, H)
        _KERNELS[kind][0](as_numpy(p), h.numpy(), *EXP[h.numpy().dtype.type])
        ctx.kind = kind
        ctx.save_for_backward(p, h)
        return h

    @staticmethod
    @once_differentiable
    def backward(ctx, dh):
        p, h = ctx.saved_tensors
        dp = torch.empty_like(p)  # (batch, time, blocks * H)
        _KERNELS[ctx.kind][1](as_numpy(dh), as_numpy(p), as_numpy(h), dp.numpy(), *EXP[dp.numpy().dtype.type])
        return dp, None


def gated_scan_cpu(kind: str, p: torch.Tensor) -> torch.Tensor:
    """Fused layer; same contract as :func:`models.kernels.gated_scan` (float32/float64 CPU tensors)."""
    return GatedScan.apply(p, kind)


@warm_once
def warm_up(gen: torch.Generator) -> None:
    """Compile (first run) or load from the on-disk cache both dtypes of both units' loops."""
    for kind, blocks in KINDS.items():
        for dtype in (torch.float32, torch.float64):
            p = torch.randn(2, 3, 4 * blocks, dtype=dtype, generator=gen, requires_grad=True)
            gated_scan_cpu(kind, p).sum().backward()
