"""``python -m bench units``: every registered unit's width, output shape, parameters and multiply-adds per frame.

Installed plugins (:mod:`models.plugins`) are listed after the built-ins, and where each comes from.

Builds each unit at the given size (or, with ``--param-budget N``, at the width whose parameter count
is closest to N; in ``--block stack`` or ``residual`` that is the default, with the IndRNN's count at
``--hidden`` as ``bench run`` does), runs a dummy batch through it (eval mode, no gradients) and prints
one row per unit. It runs the reference kernels, so listing units compiles nothing.
"""
from __future__ import annotations

import sys

__all__ = ["units_command", "describe_units"]


def describe_units(names: list[str], input_dim: int = 374, frames: int = 449, n_classes: int = 10,
                   config=None, batch: int = 2, budget: int | None = None) -> list[dict]:
    """One row per unit: name, width (``hidden``), input and output shapes, trainable parameters and
    multiply-adds per frame (:func:`models.cost.macs_per_frame`).

    With ``budget``, each unit's width is the one whose parameter count is closest to it.

    Args:
        names: the units.
        input_dim: features per frame.
        frames: frames of the dummy batch.
        n_classes: classes of the head.
        config (models.ModelConfig | None): the architecture (None: the defaults); its kernels are
            replaced by the reference ones, so nothing is compiled.
        batch: clips of the dummy batch.
        budget: a parameter budget, or None (or 0) for ``config.hidden``.

    Returns:
        One dict per unit: ``unit``, ``hidden``, ``input`` and ``output`` shapes, ``params`` (trainable)
            and ``macs`` (per frame).
    """
    from dataclasses import replace

    import torch

    import models
    from models.budget import width_for_budget
    from models.cost import macs_per_frame

    # the reference kernels: shapes, parameters and multiply-adds do not depend on the kernel, and the
    # fused ones would be compiled first (minutes on a first run) only to list the units
    config = replace(config or models.ModelConfig(), kernel="reference", scan_kernel="reference")
    rows = []
    x = torch.randn(batch, frames, input_dim)
    for name in names:
        cfg = replace(config, hidden=width_for_budget(name, input_dim, n_classes, config, budget)) if budget else config
        model = models.build(name, input_dim, n_classes, cfg).eval()
        with torch.no_grad():
            out = model(x)
        rows.append({"unit": name, "hidden": cfg.hidden, "input": (batch, frames, input_dim), "output": tuple(out.shape),
                     "params": sum(p.numel() for p in model.parameters() if p.requires_grad),
                     "macs": macs_per_frame(model)})
    return rows


def units_command(units=None, hidden: int = 128, layers: int = 5, dropout: float = 0.5, input_dim: int = 374,
                  frames: int = 449, classes: int = 10, param_budget: int | None = None, block: str = "native",
                  norm: str = "layer") -> int:
    """``python -m bench units``: print one row per unit (:func:`describe_units`) at these sizes.

    Args:
        units (tuple[str, ...] | None): the units; None: every registered unit.
        hidden: neurons per layer.
        layers: stacked layers.
        dropout: dropout.
        input_dim: features per frame.
        frames: frames per sequence.
        classes: classes of the head.
        param_budget: choose each unit's width for this parameter count; None: ``bench run``'s rule (equal
            width as published, the IndRNN's count at ``hidden`` in a scaffold); 0: equal width.
        block: ``native``, ``stack`` or ``residual``.
        norm: the scaffolds' one norm.

    Returns:
        The exit status: 0, or 2 for options that do not make a valid architecture.
    """
    import models

    if units is None:
        units = tuple(models.available())
    try:
        config = models.ModelConfig(hidden=hidden, layers=layers, dropout=dropout, max_len=frames, block=block,
                                    norm=norm)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if param_budget is not None and param_budget < 0:
        print(f"error: --param-budget must be an integer >= 0, got {param_budget}", file=sys.stderr)
        return 2
    if param_budget is None:  # bench run's rule: equal width as published, the IndRNN's count in a scaffold
        from models.budget import default_budget

        param_budget = default_budget(input_dim, classes, config)
    names = list(units)
    width = f"width chosen per unit for {param_budget:,} parameters" if param_budget else f"{hidden} hidden"
    print(f"{layers} layers x {width}, block {block}, dropout {dropout}, "
          f"input (batch, {frames} frames, {input_dim} features), {classes} classes")
    w = max([14] + [len(name) + 1 for name in names])  # a plugin's module:factory name is long
    print(f"{'unit':<{w}}{'hidden':>7}{'input':>18}{'output':>10}{'params':>11}{'MACs/frame':>12}")
    for row in describe_units(names, input_dim, frames, classes, config, budget=param_budget):
        print(f"{row['unit']:<{w}}{row['hidden']:>7}{str(row['input']):>18}{str(row['output']):>10}{row['params']:>11,}"
              f"{row['macs']:>12,}")
    for name in names:
        if source := models.provenance(name):
            print(f"plugin {name}: {source}")
    return 0
