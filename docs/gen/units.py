"""The unit reference: every registered unit (:data:`models.registry.UNITS`), its parameter count at
each preset's shapes, and the docstring of the module that implements it, rendered by mkdocstrings.

A unit's module is found from the module it builds (``type(model.encoder).__module__``), so a unit
added to the registry appears here after ``python -m docs.gen``, with its own module's docstring:
its equations, initialisation, choices and sources.

Plugins installed where the page is generated (:mod:`models.plugins`) get a section of their own at
the end (:func:`plugin_section`): their code's provenance, parameter counts and their module's first
paragraph. Where none is installed (the project's CI) the page is exactly the built-ins'.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from bench.config import PRESETS

from .markdown import GENERATED, code, escape, table

__all__ = ["units_page", "preset_shape", "unit_rows", "plugin_section"]


@dataclass(frozen=True)
class Shape:
    channels: int
    frames: int
    classes: int


@lru_cache(maxsize=None)
def preset_shape(name: str) -> Shape:
    """Channels and valid frames from the scattering transform's own shape at the preset's J, Q and clip length."""
    from bench.execution.plan import shape_without_features

    s = shape_without_features(PRESETS[name])
    return Shape(s.channels, s.frames, s.classes)


def unit_rows(units: list[str] | None = None) -> list[dict]:
    """One row per unit (default: every built-in one): its module and its parameter count per preset (as
    ``folds.csv`` records it)."""
    import torch

    import models

    shapes = {name: preset_shape(name) for name in PRESETS}
    rows = []
    for unit in list(models.UNITS) if units is None else units:
        row = {"unit": unit}
        for name, cfg in PRESETS.items():
            torch.manual_seed(0)
            shape = shapes[name]
            mcfg = models.ModelConfig(**cfg.model_options(), max_len=shape.frames)
            model = models.build(unit, shape.channels, shape.classes, mcfg)
            row[name] = sum(p.numel() for p in model.parameters())
            row["module"] = type(model.encoder).__module__
        rows.append(row)
    return rows


def units_page() -> str:
    rows = unit_rows()
    shapes = {name: preset_shape(name) for name in PRESETS}
    out = [GENERATED.format(source="`models/registry.py` and each unit's module"), "# Units\n\n",
           "Every unit registered in `models/registry.py` (`python -m bench units` lists them too). Each is "
           "built as a run builds it: the unit's encoder, then the shared head (the state at each sequence's "
           "last valid frame, dropout, a linear layer to the classes). Parameters are counted as `folds.csv` "
           "records them, at each preset's shapes:\n\n"]
    for name, cfg in PRESETS.items():
        s = shapes[name]
        bn = "IndRNN batch norm on" if cfg.batch_norm else "IndRNN batch norm off"
        out.append(f"- **{name}**: {cfg.layers} layers x {cfg.hidden} hidden, {s.channels} input channels "
                   f"(J = {cfg.J}, Q = {cfg.Q}), {s.classes} classes, {bn}.\n")
    out.append("\n" + table(["unit", "module"] + [f"parameters, {n}" for n in PRESETS],
                            [[f"[{code(r['unit'])}](#unit-{r['unit']})", code(r["module"])]
                             + [f"{r[n]:,}" for n in PRESETS] for r in rows]) + "\n")
    out.append("The `--units all` of the command line means the paper's four: "
               + ", ".join(code(u) for u in __import__("models").PAPER_UNITS) + ".\n\n")
    modules = list(dict.fromkeys(r["module"] for r in rows))
    for module in modules:
        units = [r for r in rows if r["module"] == module]
        out.append(f"## {', '.join(code(r['unit']) for r in units)}\n\n")
        out.append("".join(f'<a id="unit-{r["unit"]}"></a>' for r in units) + "\n")
        out.append(f"Module {code(module)}.\n\n")
        out.append(f"::: {module}\n    options:\n      show_root_heading: false\n      show_root_toc_entry: false\n"
                   "      members: false\n\n")
    import models

    out.append(plugin_section([u for u in models.available() if u not in models.UNITS]))
    return "".join(out)


def plugin_section(names: list[str]) -> str:
    """The section of the installed plugins ``names``: empty when there are none."""
    if not names:
        return ""
    import inspect
    import sys

    from models.plugins import GROUP, find

    rows = unit_rows(names)
    out = ["## Plugins installed here\n\n",
           f"Units declared by packages installed where this page was generated (entry-point group {code(GROUP)}; "
           "[Benchmark your own unit](../plugins.md) says how to write one). Each is its own layer stacked plainly "
           "as published, or in the controlled scaffolds like every unit.\n\n",
           table(["unit", "code", "factory"] + [f"parameters, {n}" for n in PRESETS],
                 [[code(r["unit"]), code((p := find(r["unit"])).provenance),
                   code(f"{p.factory.__module__}.{p.factory.__qualname__}")] + [f"{r[n]:,}" for n in PRESETS]
                  for r in rows]) + "\n"]
    for name in names:
        module = sys.modules.get(find(name).factory.__module__)
        summary = " ".join((inspect.getdoc(module) or "No module docstring.").split("\n\n")[0].split())
        text = "".join(code(part) if i % 2 else escape(part) for i, part in enumerate(summary.split("``")))
        out.append(f"### {code(name)}\n\n{text}\n\n")  # the module's first paragraph, its ``code`` as code
    return "".join(out)
