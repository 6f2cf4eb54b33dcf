"""The unit table: a name -> how to build it. Adding a unit is one entry.

Each entry (:class:`Unit`) gives the unit two ways: ``native``, its stack as published, and
``layer``, one recurrence layer, which the controlled scaffolds (:mod:`models.scaffold`) wrap in the
same module tree as every other unit. ``ModelConfig.block`` chooses between them, once per run.
What each must do is the unit contract (:mod:`models.contract`).

Units from outside the project (plugins: an installed package's entry point, or a
``module:factory`` spec, :mod:`models.plugins`) are found by the same lookup, :func:`resolve`, so
everything that builds a unit takes a plugin's name as it takes a built-in's.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import Callable

from torch import nn

from .classifier import SequenceClassifier
from .config import ModelConfig
from .indrnn import IndRNN, IndRNNLayer
from .lru import LRU, LRULayer
from .mamba import Mamba, MambaMixer
from .mingru import MinGRU, MinGRULayer
from .minlstm import MinLSTM, MinLSTMLayer
from .plugins import Plugin, find, installed
from .scaffold import Scaffold
from .torch_units import TorchRecurrent

__all__ = ["Unit", "UNITS", "PAPER_UNITS", "MODERN_UNITS", "available", "build", "encoder", "resolve", "provenance"]


@dataclass(frozen=True)
class Unit:
    """One registered unit.

    Attributes:
        native: ``(input_dim, config) -> encoder``, the unit as published; the encoder maps
            ``(batch, time, input_dim)`` (and the valid lengths) to ``(batch, time, config.hidden)``.
        layer: ``(config, i) -> layer``, its recurrence alone for layer ``i``: a causal module mapping
            ``(batch, time, config.hidden)`` to the same shape, for the ``stack`` and ``residual`` scaffolds.
    """

    native: Callable[[int, ModelConfig], nn.Module]
    layer: Callable[[ModelConfig, int], nn.Module]


def _torch(kind: str) -> Unit:
    return Unit(partial(TorchRecurrent, kind),
                lambda config, i: TorchRecurrent(kind, config.hidden, config, single=True))


def _no_recurrence(config: ModelConfig) -> ModelConfig:
    return replace(config, recurrent=False)


UNITS: dict[str, Unit] = {
    "rnn": _torch("rnn_tanh"),  # Elman RNN, tanh (PyTorch's default)
    "rnn_relu": _torch("rnn_relu"),
    "lstm": _torch("lstm"),
    "gru": _torch("gru"),
    "indrnn": Unit(IndRNN, IndRNNLayer.from_config),
    # Baseline, not a recurrent model: the IndRNN stack without u * h_{t-1} (the cost floor).
    "indrnn_norec": Unit(lambda input_dim, config: IndRNN(input_dim, _no_recurrence(config)),
                         lambda config, i: IndRNNLayer.from_config(_no_recurrence(config), i)),
    # Diagonal linear recurrences, run by models.kernels.linear_scan (issue 20)
    "mingru": Unit(MinGRU, MinGRULayer.from_config),  # Feng et al. 2024
    "minlstm": Unit(MinLSTM, MinLSTMLayer.from_config),  # Feng et al. 2024
    "lru": Unit(LRU, LRULayer.from_config),  # Orvieto et al. 2023
    "mamba": Unit(Mamba, MambaMixer.from_config),  # Gu & Dao 2023, the S6 block
}
"""Every registered unit: name -> :class:`Unit`, in the order tables list them.

:func:`build` reads it, ``--units`` accepts its keys (``bench units`` lists them); adding a unit is one
entry of this table, ``"name": Unit(native, layer)``. ``indrnn_norec`` is a cost baseline (the IndRNN
stack without its recurrence), not a recurrent model."""

# The units the paper compares (what "--units all" means).
PAPER_UNITS: tuple[str, ...] = ("rnn", "lstm", "gru", "indrnn")
"""The four units Wu et al. compare: what ``--units all`` means (``bench.config.PAPER_UNITS`` is equal, tested)."""
# The modern diagonal linear recurrences (what "--units modern" means).
MODERN_UNITS: tuple[str, ...] = ("mingru", "minlstm", "lru", "mamba")
"""The diagonal linear recurrences (minGRU, minLSTM, LRU, Mamba): what ``--units modern`` means."""


def available() -> list[str]:
    """Unit names: the built-in table in its order, then the units installed packages declare (by name).

    Returns:
        The keys of :data:`UNITS`, then the installed plugins' names, as a new list.

    Raises:
        models.plugins.PluginError: an installed plugin takes a built-in's name, or two declare one name.
    """
    return list(UNITS) + installed(reserved=UNITS)


def resolve(name: str) -> Unit:
    """The unit called ``name``: a built-in (:data:`UNITS`), an installed plugin or a ``module:factory`` spec.

    Args:
        name: a unit name or a ``module:factory`` spec.

    Returns:
        The unit, both ways to build it.

    Raises:
        ValueError: no such unit; a :class:`models.plugins.PluginError` for a plugin that cannot load.
    """
    unit = UNITS.get(name)
    if unit is not None:
        return unit
    plugin = _plugin(name)
    return Unit(plugin.native, plugin.layer)


def provenance(name: str) -> str:
    """Where unit ``name``'s code comes from.

    Args:
        name: a unit name or a ``module:factory`` spec.

    Returns:
        Empty for a built-in, else the plugin's distribution and version and its factory's file hash
            (:attr:`models.plugins.Plugin.provenance`).
    """
    return "" if name in UNITS else _plugin(name).provenance


def _plugin(name: str) -> Plugin:
    plugin = find(name)
    if plugin is None:
        raise ValueError(f"unknown unit {name!r}; available: {', '.join(available())}, or a module:factory spec")
    return plugin


def build(name: str, input_dim: int, n_classes: int, config: ModelConfig | None = None) -> SequenceClassifier:
    """Build a classifier: ``model(x, lengths=None)`` maps ``(batch, time, input_dim)`` to logits.

    Args:
        name: a key of :data:`UNITS`, an installed plugin's name or a ``module:factory`` spec.
        input_dim: features per time step (374 for the default scattering).
        n_classes: number of classes (10 genres).
        config: architecture; ``None`` means ``ModelConfig()`` (5 x 128, dropout 0.5, as published).
            ``config.block`` chooses the unit as published or in a controlled scaffold.

    Returns:
        ``SequenceClassifier`` with the unit's encoder and the shared head, in training mode, on torch's
            default device (move it with ``.to(device)``).

    Raises:
        ValueError: ``name`` is not registered, ``input_dim < 1`` or ``n_classes < 2``.

    Examples:
        >>> import torch, models
        >>> model = models.build("indrnn", 374, 10, models.ModelConfig(hidden=64, layers=3, block="residual"))
        >>> model(torch.randn(2, 59, 374), torch.tensor([59, 40])).shape
        torch.Size([2, 10])
        >>> models.build("lstm", 374, 10).head  # ModelConfig(): 5 x 128, as published
        Linear(in_features=128, out_features=10, bias=True)
    """
    unit = resolve(name)
    if input_dim < 1 or n_classes < 2:
        raise ValueError(f"need input_dim >= 1 and n_classes >= 2, got {input_dim} and {n_classes}")
    config = ModelConfig() if config is None else config
    return SequenceClassifier(_encoder(unit, input_dim, config), n_classes, config.dropout, config.readout)


def encoder(name: str, input_dim: int, config: ModelConfig) -> nn.Module:
    """Unit ``name``'s encoder in ``config.block``: as published, or its layers in a :class:`Scaffold`.

    Args:
        name: a unit name or a ``module:factory`` spec (:func:`resolve`).
        input_dim: features per time step.
        config: the architecture; ``config.block`` chooses ``native`` (``Unit.native``) or a scaffold
            (``stack``, ``residual``) around ``config.layers`` of ``Unit.layer``.

    Returns:
        The encoder, ``(batch, time, input_dim)`` -> ``(batch, time, config.hidden)``, with an
            ``output_size`` attribute (its width).
    """
    return _encoder(resolve(name), input_dim, config)


def _encoder(unit: Unit, input_dim: int, config: ModelConfig) -> nn.Module:
    if config.block == "native":
        return unit.native(input_dim, config)
    return Scaffold(input_dim, config, lambda i: unit.layer(config, i))
