"""The IndRNN recurrence as a plain loop of tensor operations; autograd derives its backward.

Slow (one small kernel launch per time step and several per step in the backward) but obviously
right: it is the yardstick the fused kernels are tested against, and the fallback for devices and
dtypes that have no fused kernel.
"""
from __future__ import annotations

import torch

__all__ = ["recurrence_reference"]


def recurrence_reference(z: torch.Tensor, u: torch.Tensor, b: torch.Tensor,
                         h0: torch.Tensor | None = None) -> torch.Tensor:
    """``h_t = relu(z_t + b + u * h_{t-1})`` over all time steps.

    Args:
        z: ``(batch, time, hidden)`` input projections ``W x_t`` for every step.
        u: ``(hidden,)`` recurrent weights (one scalar per neuron).
        b: ``(hidden,)`` bias.
        h0: ``(batch, hidden)`` initial state; ``None`` means zeros.

    Returns:
        ``(batch, time, hidden)`` hidden states.
    """
    h = z.new_zeros(z.shape[0], z.shape[2]) if h0 is None else h0  # (batch, hidden)
    out = []
    for z_t in z.unbind(1):  # one view per step; unlike z[:, t], its backward is one stack, not T adds
        h = torch.relu(z_t + b + u * h)  # (batch, hidden)
        out.append(h)
    return torch.stack(out, dim=1)  # (batch, time, hidden)
