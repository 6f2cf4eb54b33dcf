"""The diagonal linear recurrence ``h_t = a_t * h_{t-1} + b_t`` as a plain loop (the yardstick).

Elementwise in every channel; real or complex (the LRU's state). Slow, obviously right: the fused
back ends are tested against it, and it is the fallback for devices and dtypes without one.
"""
from __future__ import annotations

import torch

__all__ = ["linear_scan_reference"]


def linear_scan_reference(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    """``h_t = a_t * h_{t-1} + b_t`` over all time steps.

    Args:
        a: ``(batch, time, channels)`` decay per step (real, or complex for the LRU).
        b: ``(batch, time, channels)`` input per step, same dtype as ``a``.
        h0: ``(batch, channels)`` initial state; ``None`` means zeros.

    Returns:
        ``(batch, time, channels)`` states, the dtype of ``a``.
    """
    if a.shape != b.shape or a.dim() != 3:
        raise ValueError(f"a and b must both be (batch, time, channels), got {tuple(a.shape)} and {tuple(b.shape)}")
    h = b.new_zeros(b.shape[0], b.shape[2]) if h0 is None else h0  # (batch, channels)
    out = []
    for a_t, b_t in zip(a.unbind(1), b.unbind(1)):
        h = a_t * h + b_t  # (batch, channels)
        out.append(h)
    return torch.stack(out, dim=1)  # (batch, time, channels)
