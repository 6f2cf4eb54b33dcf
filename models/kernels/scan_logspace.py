"""The diagonal linear recurrence ``h_t = a_t * h_{t-1} + b_t`` as a parallel scan in log space.

Unrolled, the recurrence is a weighted prefix sum: with ``A_t = a_1 a_2 ... a_t`` (``A_0 = 1``),

    h_t = A_t * (h0 + sum_{s <= t} b_s / A_s).

Heinsen (2023, "Efficient parallelization of a ubiquitous sequential computation", arXiv:2311.06281)
computes it with two prefix operations that PyTorch runs in parallel over time: ``log A`` is a
cumulative sum of ``log a``, and the sum becomes a cumulative log-sum-exp, so

    h_t = exp( log A_t + logcumsumexp_{s <= t}( log b_s - log A_s ) ),

with ``h0`` as an extra first term (``s = 0``). Prefix sums and log-sum-exps parallelise as a
Blelloch scan does (Blelloch 1990, "Prefix sums and their applications"): ``O(T)`` work in
``O(log T)`` parallel steps instead of ``T`` dependent ones.

Signs and phases. ``log b`` needs ``b > 0``. Heinsen takes the logarithms in complex arithmetic; we
do not, because PyTorch's complex ``logcumsumexp`` returns nan across large dynamic ranges (torch
2.13, complex128: ``[1e-17j, 700]`` gives ``nan``), which long sequences reach. Instead every
log-sum-exp is real and the signs are split: the magnitudes ``|A_t|`` come from ``cumsum(log|a|)``,
the terms ``b_s / A_s`` are summed with positive and with negative weights apart and subtracted only
at the end. Real tensors: the weight is the sign of ``b_s / A_s`` (``a < 0`` flips the sign of every
later ``A``). Complex tensors (the LRU): the phase ``arg A_t`` is a ``cumsum`` of ``arg a``, and the
real and imaginary parts of ``sum b_s / A_s`` are two such signed sums (weights ``cos`` and ``sin``
of ``arg(b_s / A_s)``), turned back by ``exp(i arg A_t)``. Two real log-sum-exps per real scan, four
per complex one.

Backward. The gradient of a linear scan is a linear scan run backwards in time,
``g_t = dL/dh_t + conj(a_{t+1}) g_{t+1}`` (see :mod:`.scan_cpu`), so the backward is the same
log-space scan on time-reversed inputs, then ``dL/da_t = g_t conj(h_{t-1})``, ``dL/db_t = g_t`` and
``dL/dh0 = conj(a_1) g_1``. Written by hand rather than left to autograd, because autograd through
``log b`` gives ``0 * inf = nan`` wherever ``b`` (or ``h0``, or an upstream gradient) is exactly 0,
which padded frames and zero initial states produce all the time.

Range (what this back end cannot do that the loop can; tested in tests/test_scan_kernel.py):

* **Precision falls with** ``sum_{s<=t} (|log|a_s|| + |arg a_s|)``. The result comes from adding
  two logarithms (and, for complex, phases) of that size and exponentiating, so its error is about
  ``eps`` times that sum, relative to the sum of the magnitudes of the terms (``h`` itself may cancel).
  float64 (eps 1.1e-16) loses nothing that matters at T = 5000 (about 1e-12). float32 (eps 1.2e-7)
  at T = 5000, measured (tests/test_scan_kernel.py, worst over a batch): about 1e-4 with ``|a|`` in
  (0.5, 1), real or complex with any phase (the LRU's ring), and 1.5e-3 with ``a`` in (1e-4, 0.5)
  (Mamba-like ``exp(Delta A)``), where the loop stays at 2e-7 whatever T. ``cumsum`` itself cannot
  overflow (it would need ``sum |log a| > 3e38``).
* **a = 0** (or an ``a`` that underflowed to 0) has no logarithm: ``log |a|`` is floored at the
  log of the dtype's smallest normal number (-87 in float32, -708 in float64), so a zero decay acts
  as ``1e-38`` (``1e-308``): the state is reset up to that factor, and ``sum |log a|`` grows by
  87 (708) per such step, which costs precision as above.
* Memory and time: a dozen temporaries of ``(batch, time + 1, channels)``; no fused kernel, so it
  moves many times the bytes of the loop kernels. Whether that pays on a device is what
  ``bench speed`` with several scan back ends measures.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

__all__ = ["linear_scan_logspace", "solve_logspace"]


def _signed_sum(log_mag: torch.Tensor, rho: torch.Tensor, w: torch.Tensor, skip: int) -> torch.Tensor:
    """``|A_t| * sum_{s<=t} exp(rho_s) * w_s`` for a real weight ``w``, by two real log-sum-exps.

    The positive and the negative weights are summed apart (``log 0 = -inf`` drops the others) and
    subtracted only after ``exp``; ``skip`` drops the leading ``h0`` row of the sums.
    """
    pos = torch.logcumsumexp(rho + torch.log(w.clamp(min=0)), dim=1)[:, skip:]
    neg = torch.logcumsumexp(rho + torch.log((-w).clamp(min=0)), dim=1)[:, skip:]
    return torch.exp(log_mag + pos) - torch.exp(log_mag + neg)


def solve_logspace(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    """``h_t = a_t h_{t-1} + b_t`` by ``cumsum`` and ``logcumsumexp`` (no autograd; any device).

    Args:
        a, b: ``(batch, time, channels)`` of one dtype (float32/64, complex64/128).
        h0: ``(batch, channels)`` or ``None`` for zeros.

    Returns:
        ``(batch, time, channels)`` states, the dtype of ``a``.
    """
    real = a.real.dtype if a.is_complex() else a.dtype
    floor = math.log(torch.finfo(real).tiny)  # log|a| for a = 0: see "Range" above
    log_mag = torch.cumsum(torch.log(a.abs()).clamp(min=floor), dim=1)  # log|A_t|, (batch, time, channels)
    if h0 is not None:  # h0 is the s = 0 term, with A_0 = 1
        b = torch.cat([h0.unsqueeze(1), b], dim=1)  # (batch, time + 1, channels)
    skip = 0 if h0 is None else 1
    log_mag_s = F.pad(log_mag, (0, 0, skip, 0))  # log|A_s| for every term s
    rho = torch.log(b.abs()) - log_mag_s  # log|b_s / A_s|; b = 0 gives -inf, exp(-inf) = 0
    if a.is_complex():
        phase = torch.cumsum(torch.angle(a), dim=1)  # arg A_t
        phi = torch.angle(b) - F.pad(phase, (0, 0, skip, 0))  # arg(b_s / A_s)
        re = _signed_sum(log_mag, rho, torch.cos(phi), skip)  # |A_t| Re sum_s b_s / A_s
        im = _signed_sum(log_mag, rho, torch.sin(phi), skip)
        return torch.complex(re, im) * torch.polar(torch.ones_like(phase), phase)
    sign_prod = 1 - 2 * (torch.cumsum((a < 0).to(torch.int32), dim=1) % 2).to(real)  # sign of A_t
    sign_terms = torch.sign(b) * F.pad(sign_prod, (0, 0, skip, 0), value=1.0)  # sign of b_s / A_s
    return sign_prod * _signed_sum(log_mag, rho, sign_terms, skip)


class LogspaceScan(torch.autograd.Function):
    """The log-space scan forward, and the reverse log-space scan as its backward."""

    @staticmethod
    def forward(ctx, a, b, h0):
        out = solve_logspace(a, b, h0)
        ctx.save_for_backward(a, out, h0)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        a, out, h0 = ctx.saved_tensors
        # g_t = grad_t + conj(a_{t+1}) g_{t+1}: a forward scan over reversed time whose first step
        # (t = T) has no successor, so its coefficient is 1 on a zero state.
        coef = torch.cat([a[:, 1:].conj(), torch.ones_like(a[:, :1])], dim=1)  # conj(a_{t+1})
        g = solve_logspace(coef.flip(1), grad_out.resolve_conj().flip(1)).flip(1)  # (batch, time, channels)
        h_prev = torch.cat([h0.unsqueeze(1), out[:, :-1]], dim=1)  # h_{t-1}
        return g * h_prev.conj(), g, a[:, 0].conj() * g[:, 0]


def linear_scan_logspace(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    """Log-space parallel scan; same contract as :func:`models.kernels.scan_reference.linear_scan_reference`."""
    if h0 is None:
        h0 = a.new_zeros(a.shape[0], a.shape[2])  # (batch, channels)
    return LogspaceScan.apply(a, b, h0)
