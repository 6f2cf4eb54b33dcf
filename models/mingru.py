"""minGRU (Feng, Tung, Ahmed, Bengio, Hajimirsadeghi 2024, "Were RNNs All We Needed?", Section 3.1).

The GRU with its gate and candidate computed from the input alone, so that the recurrence is a
diagonal *linear* one and every step can be computed at once by a scan. One layer::

    z_t  = sigmoid(k_t)              k_t  = W_z x_t + b_z      (update gate, from x_t only)
    h~_t = g(W_h x_t + b_h)                                    (candidate, from x_t only, no tanh)
    h_t  = (1 - z_t) * h_{t-1} + z_t * h~_t                    h_0 = 0

i.e. ``h_t = a_t * h_{t-1} + b_t`` with ``a_t = 1 - z_t = sigmoid(-k_t)`` and ``b_t = z_t * h~_t``,
run by :func:`models.kernels.gated_scan` (the back end is ``config.scan_kernel``; on the CPU the gates
and the scan run in one fused kernel, :mod:`models.kernels.gated_cpu`).

Choices, and where the paper is silent:

- **Positivity** ``g(x) = x + 0.5`` for ``x >= 0``, ``sigmoid(x)`` otherwise: the paper's log-space
  version (Section 3.1.3 and its appendix code) needs a positive candidate and applies this ``g``
  to it. We apply it always, whatever back end runs the scan, so the unit computes the same
  function on every back end (including the log-space one) and matches the paper's log-space model.
  ``1 - z_t`` is computed as ``sigmoid(-k_t)``, the form the log-space code takes (no cancellation).
- **Initial state** zero (the paper's code starts from a given ``h_0``; a classifier has none).
- **Parameters**: one ``Linear(hidden, 2 * hidden)`` gives ``k`` and the candidate (the paper's
  ``Linear_dh`` twice, ``2 d_h d_x`` weights); PyTorch's default initialisation (the paper gives none).
  The state width equals ``hidden`` (no expansion, no output projection).
- **Stacking** (:class:`models.residual.ResidualStack`): a linear encoder to ``hidden``, then per
  layer ``x + dropout(minGRU(LayerNorm(x)))``, then a last LayerNorm. The paper stacks its minimal
  RNNs with residual connections and normalisation between layers (its experiments' appendix) but
  does not fix one block for classification; this is the plainest such block, with no MLP, so the
  unit's cost and parameters are the recurrence's own. LayerNorm normalises each frame alone, so
  padding never reaches a valid frame.
- **Precision**: under bf16 autocast the gates and the scan are float32 (:func:`models.kernels.gated_scan`
  widens the projection), as for the IndRNN's recurrence.
"""
from __future__ import annotations

import torch
from torch import nn

from .config import ModelConfig
from .kernels.gates import positive
from .residual import GatedScanLayer, ResidualStack

__all__ = ["MinGRULayer", "MinGRU", "positive"]  # positive: from models.kernels.gates


class MinGRULayer(GatedScanLayer):
    """One minGRU layer, ``(batch, time, hidden)`` -> ``(batch, time, hidden)``.

    The projection holds 2 blocks of ``hidden``: gate pre-activation k and candidate, from the input only.

    Args:
        hidden: input and state width.
        kernel: back end of :func:`models.kernels.linear_scan`.
    """

    kind, blocks = "mingru", 2

    def step(self, x_t: torch.Tensor, h: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """One frame ``(batch, hidden)``: ``h_t = (1 - z_t) h_{t-1} + z_t g(h~_t)``; ``h`` None = zeros.

        Written as the paper's equations (``1 - z``), so comparing it with ``forward`` checks the
        coefficients as well as the scan.

        Args:
            x_t: ``(batch, hidden)``, one frame.
            h: the state after the previous frame ``(batch, hidden)``, or None at the first.

        Returns:
            The output and the new state, the same tensor ``(batch, hidden)`` twice.
        """
        k, cand = self.proj(x_t).chunk(2, dim=-1)  # (batch, hidden) each
        z = torch.sigmoid(k)
        h = z * positive(cand) if h is None else (1 - z) * h + z * positive(cand)  # (batch, hidden)
        return h, h


class MinGRU(ResidualStack):
    """minGRU layers in pre-norm residual blocks (LayerNorm), ``config.layers`` deep at ``config.hidden``.

    Args:
        input_size: features per frame.
        config: ``hidden``, ``layers``, ``dropout``, ``time_shared_dropout`` and ``scan_kernel``.

    Shape:
        ``(batch, time, input_size)`` -> ``(batch, time, config.hidden)``.
    """

    def __init__(self, input_size: int, config: ModelConfig):
        super().__init__(input_size, config.hidden, config.layers, config.dropout,
                         lambda i: MinGRULayer.from_config(config, i),
                         lambda: nn.LayerNorm(config.hidden), time_shared_dropout=config.time_shared_dropout)

