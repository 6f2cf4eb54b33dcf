"""The controlled scaffolds: every unit's recurrence in one module tree, so a verdict is about the unit.

As published (``block="native"``), the units differ in more than their recurrence: PyTorch's RNN, LSTM
and GRU are one plain stack, the IndRNN has batch norm after every layer, the modern units sit in
pre-norm residual blocks with LayerNorm or RMSNorm, and each draws its dropout in its own places.
Whether a unit "wins" can then be its norm or its residual connection. Here only the recurrence
differs; everything around it is this module, for every unit:

``stack``::

    x = Linear(input, hidden)(x)
    for each layer i:  x = norm_i(layer_i(x));  x = dropout(x) between layers
                                                        (the head applies its own dropout after the last)

``residual`` (pre-norm, as the modern units' papers and Mamba's reference model)::

    x = Linear(input, hidden)(x)
    for each layer i:  x = x + dropout(layer_i(norm_i(x)))
    x = norm_out(x)

``norm`` (``ModelConfig.norm``) is one choice for every unit: none, LayerNorm (each frame alone), or
batch norm whose statistics count valid frames only (:class:`models.masked_norm.MaskedBatchNorm`).
Dropout is one :class:`models.residual.Dropout` with one mask policy (``time_shared_dropout``). Each
``layer_i`` maps ``(batch, time, hidden)`` to the same shape and is causal (the unit's own
:attr:`models.registry.Unit.layer`), so padding never reaches a valid frame: norms are per frame or
masked, and nothing else mixes frames.

The layers: one ``nn.RNN``/``nn.LSTM``/``nn.GRU`` layer each (PyTorch's fused multi-layer call stays
in ``native``; the kernel record says ``aten-layer`` here), one IndRNN layer (its bound and
initialisation as in ``native``), one minGRU or minLSTM layer, the LRU itself (without the GLU that its
paper's block adds: that is scaffold, not recurrence), and Mamba's S6 mixer (its projections,
convolution and gate are the unit).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .config import ModelConfig
from .masked_norm import MaskedBatchNorm
from .residual import Dropout

__all__ = ["Norm", "Scaffold"]


class Norm(nn.Module):
    """The scaffolds' one norm over the last axis of ``(batch, time, width)``: ``"none"``, ``"layer"``
    (per frame) or ``"batch"`` (training statistics over valid frames only). Call as ``norm(x, weight)``,
    ``weight`` a ``(batch, time, 1)`` 0/1 mask of valid frames or None (every frame valid).

    Args:
        kind: ``"none"`` (the identity), ``"layer"`` (``nn.LayerNorm``) or ``"batch"``
            (:class:`models.masked_norm.MaskedBatchNorm`).
        width: the features of the last axis.

    Raises:
        ValueError: ``kind`` is none of the three.
    """

    def __init__(self, kind: str, width: int):
        super().__init__()
        self.kind = kind
        if kind == "layer":
            self.norm = nn.LayerNorm(width)
        elif kind == "batch":
            self.norm = MaskedBatchNorm(width)
        elif kind != "none":
            raise ValueError(f"norm must be none, layer or batch, got {kind!r}")

    def forward(self, x: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """Normalise ``x``.

        Args:
            x: ``(batch, time, width)``.
            weight: ``(batch, time, 1)``, 1 for a valid frame and 0 for padding, or None (every frame
                valid); only ``"batch"`` reads it.

        Returns:
            ``(batch, time, width)``.
        """
        if self.kind == "none":
            return x
        if self.kind == "batch":
            return self.norm(x, weight)  # (batch, time, width)
        return self.norm(x)  # (batch, time, width)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}"


class Scaffold(nn.Module):
    """``config.layers`` recurrence layers of width ``config.hidden`` in the ``stack`` or ``residual`` tree.

    Args:
        input_size: features per frame.
        config: ``block`` (``"stack"`` or ``"residual"``), ``norm``, ``hidden``, ``layers``, ``dropout``
            and ``time_shared_dropout``; the rest is the layers' own.
        make_layer: ``i -> layer``, a causal module mapping ``(batch, time, hidden)`` to the same shape.

    Shape:
        ``(batch, time, input_size)`` -> ``(batch, time, config.hidden)``.
    """

    def __init__(self, input_size: int, config: ModelConfig, make_layer: Callable[[int], nn.Module]):
        super().__init__()
        if config.block not in ("stack", "residual"):
            raise ValueError(f"Scaffold builds the stack and residual blocks, got block={config.block!r}")
        hidden = config.hidden
        self.block, self.output_size = config.block, hidden
        self.encoder = nn.Linear(input_size, hidden)
        self.layers = nn.ModuleList(make_layer(i) for i in range(config.layers))  # the recurrence: all that differs
        self.norms = nn.ModuleList(Norm(config.norm, hidden) for _ in range(config.layers))
        self.dropout = Dropout(config.dropout, config.time_shared_dropout)
        self.norm_out = Norm(config.norm if config.block == "residual" else "none", hidden)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``(batch, time, input_size)`` -> ``(batch, time, hidden)``; ``lengths``: valid frames per sequence.

        Args:
            x: ``(batch, time, input_size)``.
            lengths: ``(batch,)`` valid frames per sequence, or None (every frame valid); read only by
                batch norm in training mode, to keep padding out of its statistics.

        Returns:
            ``(batch, time, config.hidden)``.
        """
        weight = self._valid_weight(x, lengths)  # (batch, time, 1) or None
        x = self.encoder(x)  # (batch, time, hidden)
        last = len(self.layers) - 1
        for i, (layer, norm) in enumerate(zip(self.layers, self.norms)):
            if self.block == "stack":
                x = norm(layer(x), weight)  # (batch, time, hidden)
                if i < last:
                    x = self.dropout(x)
            else:
                x = x + self.dropout(layer(norm(x, weight)))  # (batch, time, hidden)
        return self.norm_out(x, weight)  # (batch, time, hidden)

    def _valid_weight(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor | None:
        # only training-mode batch norm mixes frames (its statistics); built without asking whether
        # every frame is valid, which would synchronise the device
        if lengths is None or not self.training or self.norms[0].kind != "batch":
            return None
        steps = torch.arange(x.shape[1], device=x.device)  # (time,)
        return (steps[None, :] < lengths.to(x.device)[:, None]).unsqueeze(-1).to(x.dtype)  # (batch, time, 1)

    def extra_repr(self) -> str:
        return f"block={self.block!r}"
