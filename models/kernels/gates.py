"""The gates of minGRU and minLSTM as tensor operations: the scan coefficients ``a``, ``b`` of
``h_t = a_t * h_{t-1} + b_t`` from a layer's input projection (Feng et al. 2024, Sections 3.1, 3.2).

These define the two units; :func:`models.kernels.gated_scan` runs them with any scan back end, and
the fused CPU kernels (:mod:`.gated_cpu`), which compute the same numbers inside the scan, are
tested against them.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["GATED", "positive", "mingru_coefficients", "minlstm_coefficients"]


def positive(x: torch.Tensor) -> torch.Tensor:
    """Feng et al.'s ``g``: ``x + 0.5`` for ``x >= 0``, ``sigmoid(x)`` below; continuous, always > 0.

    Computed as ``relu(x) + sigmoid(min(x, 0))``, the same numbers (``sigmoid(0) = 0.5``) in two
    cheap passes: ``torch.where`` with its backward is about twice as slow on the CPU.

    Args:
        x: any tensor (the candidate ``h~``).

    Returns:
        ``g(x)``, elementwise, the shape of ``x``.
    """
    return torch.relu(x) + torch.sigmoid(x.clamp(max=0))


def mingru_coefficients(p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``p = [k, h~]`` ``(..., 2 H)`` -> ``a = 1 - z = sigmoid(-k)``, ``b = z * g(h~)`` with ``z = sigmoid(k)``."""
    k, cand = p.chunk(2, dim=-1)  # (..., H) each
    return torch.sigmoid(-k), torch.sigmoid(k) * positive(cand)


def minlstm_coefficients(p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``p = [k_f, k_i, h~]`` ``(..., 3 H)`` -> ``a = f / (f + i)``, ``b = i / (f + i) * g(h~)``.

    With ``d = log i - log f = softplus(-k_f) - softplus(-k_i)``: ``a = sigmoid(-d)``, ``b = sigmoid(d) g(h~)``
    exactly, never dividing by a small ``f + i``.
    """
    kf, ki, cand = p.chunk(3, dim=-1)  # (..., H) each
    d = F.softplus(-kf) - F.softplus(-ki)  # log i - log f
    return torch.sigmoid(-d), torch.sigmoid(d) * positive(cand)


GATED = {"mingru": (2, mingru_coefficients), "minlstm": (3, minlstm_coefficients)}  # kind: (blocks of H in p, a, b)
