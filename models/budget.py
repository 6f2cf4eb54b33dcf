"""Equal parameter budget: the width at which a unit's classifier has about ``N`` parameters.

At equal width (the paper's comparison, 5 x 128) an LSTM has 6.7x the IndRNN's parameters and the
modern units differ again, so accuracy differences may be capacity differences. With a budget, each
unit gets the ``hidden`` whose trainable parameter count (head included) is closest to ``N``; ties go
to the smaller width. Every other architecture option stays as given.

Counts are taken by building the model on PyTorch's ``meta`` device (shapes only: no memory, no
random numbers drawn), and the width is found by bisection (the count grows with the width).
"""
from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import torch

from .config import ModelConfig

__all__ = ["param_count", "width_for_budget", "default_budget", "BUDGET_REFERENCE"]

BUDGET_REFERENCE = "indrnn"  # the unit whose size at the given width sets the controlled scaffolds' default budget
"""The unit whose parameter count at ``--hidden`` is every unit's budget in the ``stack`` and ``residual``
scaffolds when ``--param-budget`` is not given (:func:`default_budget`)."""


def param_count(name: str, input_dim: int, n_classes: int, config: ModelConfig) -> int:
    """Trainable parameters of ``models.build(name, input_dim, n_classes, config)``.

    The model is built on the ``meta`` device (shapes only) with the reference kernels, so nothing is
    allocated or compiled.

    Args:
        name: a registered unit.
        input_dim: features per frame.
        n_classes: classes of the head.
        config: the architecture.

    Returns:
        The count, head included.
    """
    from .registry import build

    # the reference kernels: the IndRNN and the modern units would warm their CPU kernels up (compile,
    # then run) on meta tensors, which cannot be read
    config = replace(config, kernel="reference", scan_kernel="reference")
    try:
        with torch.device("meta"):
            model = build(name, input_dim, n_classes, config)
    except (NotImplementedError, RuntimeError, ValueError):  # a plugin whose constructor reads values: on the CPU
        model = build(name, input_dim, n_classes, config)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@lru_cache(maxsize=64)  # the same for every job and trial of a run
def default_budget(input_dim: int, n_classes: int, config: ModelConfig) -> int:
    """The budget when none is given (0: equal width): equal width for units as published
    (``config.block == "native"``, the paper's comparison); in the controlled scaffolds (``stack``,
    ``residual``) the parameter count of :data:`BUDGET_REFERENCE` (the IndRNN) at ``config.hidden`` in the
    same scaffold, so that every unit gets as many.

    Args:
        input_dim: features per frame.
        n_classes: classes of the head.
        config: the architecture; its ``block`` decides, its ``hidden`` sets the reference's width.

    Returns:
        0 for ``block == "native"``, else the parameter count of :data:`BUDGET_REFERENCE` in ``config``.
    """
    if config.block == "native":
        return 0
    return param_count(BUDGET_REFERENCE, input_dim, n_classes, config)


@lru_cache(maxsize=256)  # the same unit, shape and budget in every job of a run
def width_for_budget(name: str, input_dim: int, n_classes: int, config: ModelConfig, budget: int,
                     max_width: int = 1 << 16) -> int:
    """The ``hidden`` that brings unit ``name``'s parameter count closest to ``budget``.

    Args:
        name: a registered unit.
        input_dim: features per frame.
        n_classes: classes.
        config: every other option (its ``hidden`` is ignored).
        budget: the target count ``N`` (>= 1).
        max_width: the widest width considered.

    Returns:
        The width (>= 1); the smaller one when two are equally close.

    Raises:
        ValueError: ``budget < 1``.
    """
    if budget < 1:
        raise ValueError(f"budget must be a positive integer, got {budget!r}")

    def count(width: int) -> int:
        return param_count(name, input_dim, n_classes, replace(config, hidden=width))

    lo, hi = 1, 1  # find hi with count(hi) >= budget, then the smallest such width by bisection
    while count(hi) < budget and hi < max_width:
        lo, hi = hi, min(2 * hi, max_width)
    while lo < hi:
        mid = (lo + hi) // 2
        if count(mid) >= budget:
            hi = mid
        else:
            lo = mid + 1
    if hi > 1 and budget - count(hi - 1) <= count(hi) - budget:
        return hi - 1
    return hi
