"""Parameter constraints that hold after every optimiser step, for any unit, without the trainer
knowing which unit it trains.

A module with a ``project_()`` method (the IndRNN layer: ``|u| <= u_bound``) is projected by a hook
the optimiser runs at the end of each ``step()``. Because the hook runs inside ``step()``, a training
step captured whole in a CUDA graph captures the projection too.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["project_", "project_after_step"]


def project_(model: nn.Module) -> None:
    """Project every constrained parameter of ``model`` now.

    Args:
        model: any module; each submodule with a ``project_()`` method (the IndRNN layer) calls it.
    """
    for module in model.modules():
        if callable(getattr(module, "project_", None)):
            module.project_()


def project_after_step(optimizer: torch.optim.Optimizer, model: nn.Module):
    """Run :func:`project_` on ``model`` after each ``optimizer.step()``; returns the hook's handle.

    Args:
        optimizer: the optimiser that trains ``model``.
        model: the model whose constrained submodules are projected (found once, now).

    Returns:
        (torch.utils.hooks.RemovableHandle): The handle of the step post-hook (``handle.remove()``
            detaches it).
    """
    constrained = [m for m in model.modules() if callable(getattr(m, "project_", None))]

    def hook(opt, args, kwargs):
        for module in constrained:
            module.project_()

    return optimizer.register_step_post_hook(hook)
