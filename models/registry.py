"""The unit table: a name -> a function building the encoder. Adding a unit is one entry."""
from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Callable

from torch import nn

from .classifier import SequenceClassifier
from .config import ModelConfig
from .indrnn import IndRNN
from .lru import LRU
from .mamba import Mamba
from .mingru import MinGRU
from .minlstm import MinLSTM
from .torch_units import TorchRecurrent

__all__ = ["UNITS", "PAPER_UNITS", "MODERN_UNITS", "available", "build"]

# name -> (input_dim, config) -> encoder: encoder(x, lengths) maps (batch, time, input_dim) to (batch, time, hidden)
UNITS: dict[str, Callable[[int, ModelConfig], nn.Module]] = {
    "rnn": partial(TorchRecurrent, "rnn_tanh"),  # Elman RNN, tanh (PyTorch's default)
    "rnn_relu": partial(TorchRecurrent, "rnn_relu"),
    "lstm": partial(TorchRecurrent, "lstm"),
    "gru": partial(TorchRecurrent, "gru"),
    "indrnn": IndRNN,
    # Baseline, not a recurrent model: the IndRNN stack without u * h_{t-1} (the cost floor).
    "indrnn_norec": lambda input_dim, config: IndRNN(input_dim, replace(config, recurrent=False)),
    # Diagonal linear recurrences, run by models.kernels.linear_scan (issue 20)
    "mingru": MinGRU,  # Feng et al. 2024
    "minlstm": MinLSTM,  # Feng et al. 2024
    "lru": LRU,  # Orvieto et al. 2023
    "mamba": Mamba,  # Gu & Dao 2023, the S6 block
}

# The units the paper compares (what "--units all" means).
PAPER_UNITS: tuple[str, ...] = ("rnn", "lstm", "gru", "indrnn")
# The modern diagonal linear recurrences (what "--units modern" means).
MODERN_UNITS: tuple[str, ...] = ("mingru", "minlstm", "lru", "mamba")


def available() -> list[str]:
    """Registered unit names, in table order."""
    return list(UNITS)


def build(name: str, input_dim: int, n_classes: int, config: ModelConfig | None = None) -> SequenceClassifier:
    """Build a classifier: ``model(x, lengths=None)`` maps ``(batch, time, input_dim)`` to logits.

    Args:
        name: a key of :data:`UNITS`.
        input_dim: features per time step (374 for the default scattering).
        n_classes: number of classes (10 genres).
        config: architecture; ``None`` means ``ModelConfig()`` (5 x 128, dropout 0.5).

    Returns:
        ``SequenceClassifier`` with the unit's encoder and the shared head.
    """
    if name not in UNITS:
        raise ValueError(f"unknown unit {name!r}; available: {', '.join(UNITS)}")
    if input_dim < 1 or n_classes < 2:
        raise ValueError(f"need input_dim >= 1 and n_classes >= 2, got {input_dim} and {n_classes}")
    config = ModelConfig() if config is None else config
    return SequenceClassifier(UNITS[name](input_dim, config), n_classes, config.dropout, config.readout)
