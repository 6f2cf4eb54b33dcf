"""minLSTM (Feng, Tung, Ahmed, Bengio, Hajimirsadeghi 2024, "Were RNNs All We Needed?", Section 3.2).

The LSTM with its gates and candidate computed from the input alone, no output gate, no cell/hidden
split, and the two gates normalised to sum to one (the paper's length-independent scaling). One layer::

    f_t  = sigmoid(W_f x_t + b_f)     i_t = sigmoid(W_i x_t + b_i)     (from x_t only)
    f'_t = f_t / (f_t + i_t)          i'_t = i_t / (f_t + i_t)
    h~_t = g(W_h x_t + b_h)
    h_t  = f'_t * h_{t-1} + i'_t * h~_t                                h_0 = 0

i.e. ``h_t = a_t * h_{t-1} + b_t`` with ``a_t = f'_t``, ``b_t = i'_t * h~_t``, run by
:func:`models.kernels.gated_scan` (back end ``config.scan_kernel``; on the CPU one fused kernel of gates
and scan, :mod:`models.kernels.gated_cpu`).

Choices, and where the paper is silent:

- **Normalised gates, stably**: with ``d_t = log i_t - log f_t = softplus(-k_f) - softplus(-k_i)``,
  ``f'_t = sigmoid(-d_t)`` and ``i'_t = sigmoid(d_t)`` exactly; this is the paper's log-space
  formula (``log f' = -softplus(d)``, Section 3.2.3 and its appendix code) taken out of log space,
  and it never divides by a small ``f + i``.
- **Positivity** ``g`` (``x + 0.5`` for ``x >= 0``, ``sigmoid(x)`` below, :func:`models.mingru.positive`)
  on the candidate, as the paper's log-space version does; applied on every back end so the unit is
  one function whichever scan runs it.
- **Initial state** zero; **parameters** one ``Linear(hidden, 3 * hidden)`` for ``k_f``, ``k_i`` and the
  candidate (the paper's ``3 d_h d_x`` weights), PyTorch's default initialisation (the paper gives none);
  state width = ``hidden``.
- **Stacking** as minGRU (:mod:`models.mingru`): linear encoder, per layer
  ``x + dropout(minLSTM(LayerNorm(x)))``, a last LayerNorm; per-frame norms, so padding never reaches
  a valid frame.
- **Precision**: under bf16 autocast the scan inputs and the scan are float32.
"""
from __future__ import annotations

import torch
from torch import nn

from .config import ModelConfig
from .kernels.gates import positive
from .residual import GatedScanLayer, ResidualStack

__all__ = ["MinLSTMLayer", "MinLSTM"]


class MinLSTMLayer(GatedScanLayer):
    """One minLSTM layer, ``(batch, time, hidden)`` -> ``(batch, time, hidden)``.

    The projection holds 3 blocks of ``hidden``: forget, input gate pre-activations and candidate.

    Args:
        hidden: input and state width.
        kernel: back end of :func:`models.kernels.linear_scan`.
    """

    kind, blocks = "minlstm", 3

    def step(self, x_t: torch.Tensor, h: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """One frame ``(batch, hidden)``: ``h_t = f'_t h_{t-1} + i'_t g(h~_t)``; ``h`` None = zeros.

        Written as the paper's equations (``f / (f + i)``), not the stable form ``forward`` uses, so
        comparing the two checks that form too.

        Args:
            x_t: ``(batch, hidden)``, one frame.
            h: the state after the previous frame ``(batch, hidden)``, or None at the first.

        Returns:
            The output and the new state, the same tensor ``(batch, hidden)`` twice.
        """
        kf, ki, cand = self.proj(x_t).chunk(3, dim=-1)  # (batch, hidden) each
        f, i = torch.sigmoid(kf), torch.sigmoid(ki)
        h_new = i / (f + i) * positive(cand)  # (batch, hidden)
        h = h_new if h is None else f / (f + i) * h + h_new  # (batch, hidden)
        return h, h


class MinLSTM(ResidualStack):
    """minLSTM layers in pre-norm residual blocks (LayerNorm), ``config.layers`` deep at ``config.hidden``.

    Args:
        input_size: features per frame.
        config: ``hidden``, ``layers``, ``dropout``, ``time_shared_dropout`` and ``scan_kernel``.

    Shape:
        ``(batch, time, input_size)`` -> ``(batch, time, config.hidden)``.
    """

    def __init__(self, input_size: int, config: ModelConfig):
        super().__init__(input_size, config.hidden, config.layers, config.dropout,
                         lambda i: MinLSTMLayer.from_config(config, i),
                         lambda: nn.LayerNorm(config.hidden), time_shared_dropout=config.time_shared_dropout)
