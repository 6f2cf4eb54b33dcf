"""The autograd functions the fused kernels share; a backend only launches its forward and backward.

Two recurrences, one pattern: :class:`FusedRecurrence` (the IndRNN) and :class:`FusedScan` (the
diagonal linear scan ``h_t = a_t * h_{t-1} + b_t`` of the modern units; see :mod:`.scan_cpu`).

The function owns what is the same on every device: contiguous inputs, the output and gradient
buffers, what is saved for the backward (the output, ``u`` and ``h0``; the pre-activation is not
needed since ``relu'`` is ``[h_t > 0]``), and the reduction of the per-sequence ``du``/``db`` rows.
A backend is any object with

* ``forward(z, u, b, h0, out)``: fill ``out`` ``(batch, time, hidden)``;
* ``backward(grad_out, out, u, h0, dz, du_rows, db_rows, dh0)``: fill ``dz`` ``(batch, time, hidden)``
  and the ``(batch, hidden)`` buffers ``du_rows``, ``db_rows`` (one row per sequence, so no two
  threads or programs write one element) and ``dh0``.
"""
from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

__all__ = ["FusedRecurrence", "fused_recurrence", "FusedScan", "fused_scan"]


class FusedRecurrence(torch.autograd.Function):
    """``relu(z_t + b + u * h_{t-1})`` with a hand-written backward, run by ``backend``."""

    @staticmethod
    def forward(ctx, z, u, b, h0, backend):
        z, u, b, h0 = (t.contiguous() for t in (z, u, b, h0))
        out = torch.empty_like(z)  # (batch, time, hidden)
        backend.forward(z, u, b, h0, out)
        ctx.backend = backend
        ctx.save_for_backward(out, u, h0)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        out, u, h0 = ctx.saved_tensors
        dz = torch.empty_like(out)  # (batch, time, hidden)
        du_rows, db_rows, dh0 = (torch.empty_like(h0) for _ in range(3))  # (batch, hidden) each
        ctx.backend.backward(grad_out.contiguous(), out, u, h0, dz, du_rows, db_rows, dh0)
        return dz, du_rows.sum(0), db_rows.sum(0), dh0, None


def fused_recurrence(backend, z: torch.Tensor, u: torch.Tensor, b: torch.Tensor,
                     h0: torch.Tensor | None = None) -> torch.Tensor:
    """Run the recurrence with ``backend``; ``h0`` None means zeros."""
    if h0 is None:
        h0 = z.new_zeros(z.shape[0], z.shape[2])  # (batch, hidden)
    return FusedRecurrence.apply(z, u, b, h0, backend)


def dense(t: torch.Tensor) -> torch.Tensor:
    """``t`` as plain contiguous memory: lazy conjugate/negative views (``a.conj()``) materialised."""
    return t.resolve_conj().resolve_neg().contiguous()


class FusedScan(torch.autograd.Function):
    """``h_t = a_t * h_{t-1} + b_t`` with a hand-written backward (the reverse scan), run by ``backend``.

    A scan backend is any object with

    * ``scan_forward(a, b, h0, out)``: fill ``out`` ``(batch, time, channels)``;
    * ``scan_backward(grad_out, a, out, h0, da, db, dh0)``: fill ``da`` (``a``'s shape), ``db``
      (``(batch, time, channels)``) and ``dh0`` (``(batch, channels)``) from the saved ``a``, states
      ``out`` and ``h0``.

    ``a`` is ``(batch, time, channels)``, or ``(batch, 1, channels)`` when one decay serves every step
    (a backend that takes this form sums ``da`` over time itself); each sequence has its own row, so
    no reduction across the batch is left to do here. Complex tensors follow
    PyTorch's convention (the gradient is the conjugate Wirtinger derivative, so a product ``x * y``
    sends ``grad * conj(y)`` to ``x``); for real tensors ``conj`` is the identity.
    """

    @staticmethod
    def forward(ctx, a, b, h0, backend):
        a, b, h0 = (dense(t) for t in (a, b, h0))
        out = torch.empty_like(b)  # (batch, time, channels)
        backend.scan_forward(a, b, h0, out)
        ctx.backend = backend
        ctx.save_for_backward(a, out, h0)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        a, out, h0 = ctx.saved_tensors
        da, db = torch.empty_like(a), torch.empty_like(out)  # a's shape; (batch, time, channels)
        dh0 = torch.empty_like(h0)  # (batch, channels)
        ctx.backend.scan_backward(dense(grad_out), a, out, h0, da, db, dh0)
        return da, db, dh0, None


def fused_scan(backend, a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    """Run the linear scan with ``backend``; ``h0`` None means zeros."""
    if h0 is None:
        h0 = a.new_zeros(a.shape[0], a.shape[2])  # (batch, channels)
    return FusedScan.apply(a, b, h0, backend)
