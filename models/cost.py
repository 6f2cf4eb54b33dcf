"""Multiply-adds per frame: the second measure of a unit's size, beside its parameter count.

At an equal parameter budget units still differ in work: a weight may be used once per frame (a
projection) or once per sequence (the head), and a diagonal recurrence costs one multiply-add per
state element per frame whatever its parameters. The count here is per frame of one sequence:

- every weight of two or more dimensions in the encoder (matrices, convolution kernels, PyTorch's
  ``weight_ih``/``weight_hh``) is one multiply-add per frame;
- plus each recurrence's own elementwise work, declared by the module as ``recurrent_macs()``
  (IndRNN: ``u * h``, one per neuron; minGRU/minLSTM: one per state; the LRU: a complex product, four
  per state; Mamba: ``a * h + b`` and ``C . h``, two per element of its ``E x N`` state).

The head reads one frame per sequence and is left out; norms, biases and activations are left out
(they are not multiply-adds of a product). It is an architecture count, not a measurement.
"""
from __future__ import annotations

from torch import nn

__all__ = ["macs_per_frame"]


def macs_per_frame(model: nn.Module) -> int:
    """Multiply-adds per frame of ``model``'s encoder (a :class:`models.classifier.SequenceClassifier`,
    or an encoder itself).

    Args:
        model: a classifier from :func:`models.build` (its head is left out) or an encoder.

    Returns:
        Every weight of two or more dimensions once, plus each module's ``recurrent_macs()``.

    Examples:
        >>> import models
        >>> from models.cost import macs_per_frame
        >>> config = models.ModelConfig(hidden=8, layers=1, kernel="reference")
        >>> macs_per_frame(models.build("indrnn", 4, 3, config))  # W: 8 x 4, then u * h: 8
        40
    """
    encoder = model.encoder if hasattr(model, "head") else model  # a classifier: its encoder, not the head
    products = sum(p.numel() for p in encoder.parameters() if p.dim() >= 2)
    recurrent = sum(m.recurrent_macs() for m in encoder.modules() if callable(getattr(m, "recurrent_macs", None)))
    return int(products + recurrent)
