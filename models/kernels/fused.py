"""The autograd function both fused kernels share; a backend only launches its forward and backward.

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

__all__ = ["FusedRecurrence", "fused_recurrence"]


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
