"""The unit reference: every registered unit (:data:`models.registry.UNITS`), its parameter count at
each preset's shapes, and the docstring of the module that implements it, rendered by mkdocstrings.

A unit's module is found from the module it builds (``type(model.encoder).__module__``), so a unit
added to the registry appears here after ``python -m docs.gen``, with its own module's docstring:
its equations, initialisation, choices and sources.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from bench.config import PRESETS

from .markdown import GENERATED, code, table

__all__ = ["units_page", "preset_shape", "unit_rows"]


@dataclass(frozen=True)
class Shape:
    channels: int
    frames: int
    classes: int


@lru_cache(maxsize=None)
def preset_shape(name: str) -> Shape:
    """Channels and valid frames from the scattering transform's own shape at the preset's J, Q and clip length."""
    from bench.plan import shape_without_features

    s = shape_without_features(PRESETS[name])
    return Shape(s.channels, s.frames, s.classes)


def unit_rows() -> list[dict]:
    """One row per registered unit: its module and its parameter count per preset (as ``folds.csv`` records it)."""
    import torch

    import models

    shapes = {name: preset_shape(name) for name in PRESETS}
    rows = []
    for unit in models.available():
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
    return "".join(out)
