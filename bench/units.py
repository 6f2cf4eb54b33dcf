"""``python -m bench units``: every registered unit's width, output shape, parameters and multiply-adds per frame.

Installed plugins (:mod:`models.plugins`) are listed after the built-ins, and where each comes from.

Builds each unit at the given size (or, with ``--param-budget N``, at the width whose parameter count
is closest to N; in ``--block stack`` or ``residual`` that is the default, with the IndRNN's count at
``--hidden`` as ``bench run`` does), runs a dummy batch through it (eval mode, no gradients) and prints
one row per unit. It runs the reference kernels, so listing units compiles nothing.
Wired into the CLI by ``add_parser(subparsers)``.
"""
from __future__ import annotations

import argparse
import sys

from .config import BLOCKS, NORMS
from .options import UNITS_HELP, parse_units

__all__ = ["add_parser", "describe_units", "cmd_units"]


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


def cmd_units(args: argparse.Namespace) -> int:
    """``bench units``: print one row per unit (:func:`describe_units`) at the options' sizes.

    Args:
        args: the parsed options of the ``units`` subcommand (:func:`add_parser`).

    Returns:
        The exit status: 0, or 2 for options that do not make a valid architecture.
    """
    import models

    if args.units is None:
        args.units = tuple(models.available())
    try:
        config = models.ModelConfig(hidden=args.hidden, layers=args.layers, dropout=args.dropout,
                                    max_len=args.frames, block=args.block, norm=args.norm)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.param_budget is not None and args.param_budget < 0:
        print(f"error: --param-budget must be an integer >= 0, got {args.param_budget}", file=sys.stderr)
        return 2
    if args.param_budget is None:  # bench run's rule: equal width as published, the IndRNN's count in a scaffold
        from models.budget import default_budget

        args.param_budget = default_budget(args.input_dim, args.classes, config)
    names = list(args.units)
    width = f"width chosen per unit for {args.param_budget:,} parameters" if args.param_budget else f"{args.hidden} hidden"
    print(f"{args.layers} layers x {width}, block {args.block}, dropout {args.dropout}, "
          f"input (batch, {args.frames} frames, {args.input_dim} features), {args.classes} classes")
    w = max([14] + [len(name) + 1 for name in names])  # a plugin's module:factory name is long
    print(f"{'unit':<{w}}{'hidden':>7}{'input':>18}{'output':>10}{'params':>11}{'MACs/frame':>12}")
    for row in describe_units(names, args.input_dim, args.frames, args.classes, config, budget=args.param_budget):
        print(f"{row['unit']:<{w}}{row['hidden']:>7}{str(row['input']):>18}{str(row['output']):>10}{row['params']:>11,}"
              f"{row['macs']:>12,}")
    for name in names:
        if source := models.provenance(name):
            print(f"plugin {name}: {source}")
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``units`` subcommand on an ``argparse`` subparsers object.

    Args:
        subparsers (argparse._SubParsersAction): what ``ArgumentParser.add_subparsers()`` returned.

    Returns:
        The subcommand's parser (its ``func`` default is :func:`cmd_units`).
    """
    p = subparsers.add_parser("units", help="list the recurrent units with output shapes and parameter counts")
    p.add_argument("--units", type=parse_units, default=None,
                   help=UNITS_HELP + " (default: registered, every unit)")
    p.add_argument("--hidden", type=int, default=128, help="neurons per layer (default 128)")
    p.add_argument("--layers", type=int, default=5, help="stacked layers (default 5)")
    p.add_argument("--dropout", type=float, default=0.5, help="dropout (default 0.5)")
    p.add_argument("--input-dim", type=int, default=374, help="features per frame (default 374)")
    p.add_argument("--frames", type=int, default=449, help="frames per sequence (default 449: a 30 s clip's valid frames)")
    p.add_argument("--classes", type=int, default=10, help="classes (default 10)")
    p.add_argument("--param-budget", type=int, default=None,
                   help="choose each unit's width so its parameter count is closest to this (default: --hidden for "
                        "all in native; the IndRNN's count at --hidden in stack and residual; 0: equal width)")
    p.add_argument("--block", choices=BLOCKS, default="native",
                   help="native: each unit as published (default); stack, residual: every unit in one scaffold")
    p.add_argument("--norm", choices=NORMS, default="layer", help="the scaffolds' one norm (default layer)")
    p.set_defaults(func=cmd_units)
    return p
