"""Units from outside the project (plugins): found by name, each with a record of where it came from.

Two ways in, both ending in the same object, a layer factory (the plugin form of the unit contract,
:mod:`models.contract`)::

    factory(input_size: int, config: ModelConfig) -> nn.Module   # layer(x): (batch, time, input_size)
                                                                  #        -> (batch, time, config.hidden), causal

- **An installed package** declares it under the entry-point group :data:`GROUP`; the entry point's
  name is the unit's name (``--units ln_elman``), and ``python -m bench units`` lists it::

      [project.entry-points."rnn_genre_bench.units"]
      ln_elman = "ln_elman_unit:make_layer"

- **A module on the Python path**, no packaging: ``--units path.to.module:factory`` (the same in a
  config file's ``units`` list); the whole spec is the unit's name in every table.

The suite builds the rest, as for every unit (:class:`Plugin`): in the controlled scaffolds
(``--block stack`` or ``residual``) each layer is the factory's, called with ``config.hidden``; as
published (``--block native``) a plugin has no setup of its own that the suite could know, so its
layers are stacked plainly, the first from the input width, with the run's dropout between them, as
PyTorch stacks its own RNNs (:class:`PluginStack`).

Every plugin has a provenance (:attr:`Plugin.provenance`): its distribution's name and version, and
the SHA-256 of the file that defines its factory (a module spec: that hash alone). The bench records
it per job in ``environment.csv`` and makes it part of the run's identity, so a changed plugin never
resumes into old results. Mistakes (a name taken by a built-in unit, a module that does not import,
a factory that raises or returns no module) are a :class:`PluginError`: one line naming the plugin.
"""
from __future__ import annotations

import hashlib
import importlib
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Callable, Iterable

import torch
from torch import nn

from .config import ModelConfig
from .residual import Dropout

__all__ = ["GROUP", "Plugin", "PluginError", "PluginStack", "installed", "find", "is_spec"]

GROUP = "rnn_genre_bench.units"  # the entry-point group a package declares its units under
"""The entry-point group under which an installed package declares its units (``name = "module:factory"``)."""
_SPEC = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


class PluginError(ValueError):
    """A plugin that cannot be used; the message names the plugin, where it came from and what is wrong.

    Args:
        label: the plugin's name and where it came from.
        reason: what is wrong, kept as ``reason`` (for a line that names the plugin already).
    """

    def __init__(self, label: str, reason: str):
        super().__init__(f"{label}: {reason}")
        self.reason = reason


def is_spec(name: str) -> bool:
    """Whether ``name`` reads as a ``module:factory`` spec.

    Args:
        name: a unit name as given to ``--units``.

    Returns:
        True when it has a colon (no built-in or entry-point name has one).
    """
    return ":" in name


@dataclass(frozen=True)
class Plugin:
    """A unit from outside: its name, its layer factory and where it came from.

    Attributes:
        name: the unit's name (the entry point's name, or the ``module:factory`` spec).
        factory: ``(input_size, config) -> nn.Module``, one causal recurrence layer.
        origin: where it was declared, for messages (entry point and distribution, or module and file).
        provenance: what identifies its code: ``"<distribution> <version>, <module> sha256:<hash>"``, or
            ``"<module> sha256:<hash>"`` for a module spec (the hash: the file defining the factory).
    """

    name: str
    factory: Callable[[int, ModelConfig], nn.Module]
    origin: str
    provenance: str

    @property
    def label(self) -> str:
        return f"plugin unit {self.name!r} ({self.origin})"

    def make(self, input_size: int, config: ModelConfig) -> nn.Module:
        """One layer from the factory; a factory that raises or returns no module is a :class:`PluginError`."""
        try:
            layer = self.factory(input_size, config)
        except Exception as exc:  # noqa: BLE001 - the plugin's own bug, named as such
            raise PluginError(self.label, f"its factory raised {_one_line(exc)}") from exc
        if not isinstance(layer, nn.Module):
            raise PluginError(self.label, f"its factory returned {type(layer).__name__}, not a torch.nn.Module")
        return layer

    def native(self, input_dim: int, config: ModelConfig) -> "PluginStack":
        """The unit as published: its layers stacked plainly (:class:`PluginStack`)."""
        return PluginStack(input_dim, config, self.make)

    def layer(self, config: ModelConfig, i: int) -> nn.Module:
        """Layer ``i`` of a controlled scaffold (:mod:`models.scaffold`): ``config.hidden`` wide in and out."""
        return self.make(config.hidden, config)


class PluginStack(nn.Module):
    """A plugin's layers stacked plainly: ``config.layers`` of them, the first from ``input_size``, dropout
    (one :class:`models.residual.Dropout`, the run's mask policy) between them and none after the last
    (the head has its own). No norm: as ``nn.RNN`` stacks its layers.

    Shape:
        ``(batch, time, input_size)`` -> ``(batch, time, config.hidden)``.

    Args:
        input_size: features per frame of the first layer's input.
        config: the architecture (``hidden``, ``layers``, ``dropout`` and its mask policy).
        make: the plugin's factory, ``(input_size, config) -> layer``.
    """

    def __init__(self, input_size: int, config: ModelConfig, make: Callable[[int, ModelConfig], nn.Module]):
        super().__init__()
        self.output_size = config.hidden
        self.layers = nn.ModuleList(make(input_size if i == 0 else config.hidden, config) for i in range(config.layers))
        self.dropout = Dropout(config.dropout, config.time_shared_dropout)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``(batch, time, input_size)`` -> ``(batch, time, hidden)``; ``lengths`` is not needed (causal layers)."""
        for i, layer in enumerate(self.layers):
            x = layer(self.dropout(x) if i else x)  # (batch, time, hidden)
        return x


def installed(reserved: Iterable[str] = ()) -> list[str]:
    """The names of the units installed packages declare (entry-point group :data:`GROUP`), sorted.

    Args:
        reserved: names no plugin may take (the built-in units).

    Returns:
        The plugin names, sorted.

    Raises:
        PluginError: a name is one of ``reserved`` (the built-in units) or declared by two packages.
    """
    found = _declared(tuple(sys.path))
    reserved = set(reserved)
    for name, points in found.items():
        if name in reserved:
            raise PluginError(_entry_label(points[0]), f"has the name of a built-in unit; rename its entry point "
                                                       f"in group {GROUP}")
        if len(points) > 1:
            raise PluginError(f"plugin unit {name!r}", "declared by " + " and by ".join(_entry_origin(p) for p in points)
                              + "; uninstall one")
    return sorted(found)


def find(name: str) -> Plugin | None:
    """The plugin called ``name`` (an installed entry point, or a ``module:factory`` spec), loaded.

    Args:
        name: an installed plugin's name or a ``module:factory`` spec.

    Returns:
        The plugin; None if no installed package declares ``name``.

    Raises:
        PluginError: the spec is malformed, its module does not import, or it names no callable.
    """
    if is_spec(name):
        if not _SPEC.fullmatch(name):
            raise PluginError(f"plugin unit {name!r}", "is not a module:factory spec (a dotted module path, a "
                                                        "colon, then a name in that module)")
        module, attr = name.split(":")
        return _plugin(name, _load(f"plugin unit {name!r}", module, attr), module, f"module {module}", dist=None)
    points = _declared(tuple(sys.path)).get(name)
    if not points:
        return None
    point = points[0]
    factory = _load(_entry_label(point), point.module, point.attr)
    return _plugin(name, factory, point.module, _entry_origin(point), dist=point.dist)


@lru_cache(maxsize=8)  # one scan of the installed distributions per Python path (about 10 ms each)
def _declared(path: tuple[str, ...]) -> dict[str, list[EntryPoint]]:
    found: dict[str, list[EntryPoint]] = {}
    for point in entry_points(group=GROUP):
        found.setdefault(point.name, []).append(point)
    return found


def _entry_origin(point: EntryPoint) -> str:
    dist = f" of {point.dist.name} {point.dist.version}" if point.dist is not None else ""
    return f"entry point {point.value}{dist}"


def _entry_label(point: EntryPoint) -> str:
    return f"plugin unit {point.name!r} ({_entry_origin(point)})"


def _load(label: str, module: str, attr: str) -> Callable:
    try:
        obj = importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - not found, or the module's own error on import
        raise PluginError(label, f"cannot import module {module!r} ({_one_line(exc)})") from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise PluginError(label, f"module {module!r} ({getattr(sys.modules[module], '__file__', '?')}) has no "
                                     f"attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise PluginError(label, f"{attr!r} is a {type(obj).__name__}, not a factory(input_size, config) -> "
                                 "nn.Module")
    return obj


def _plugin(name: str, factory: Callable, named: str, origin: str, dist) -> Plugin:
    """The plugin record; its code's hash is the file defining the factory (else the module ``named``)."""
    module = sys.modules.get(getattr(factory, "__module__", None) or "") or sys.modules.get(named)
    file = getattr(module, "__file__", None)
    digest = hashlib.sha256(Path(file).read_bytes()).hexdigest()[:16] if file else "unknown (no file)"
    code = f"{module.__name__ if module else '?'} sha256:{digest}"
    provenance = f"{dist.name} {dist.version}, {code}" if dist is not None else code
    where = f"{origin}, {file}" if file and dist is None else origin
    return Plugin(name, factory, where, provenance)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
