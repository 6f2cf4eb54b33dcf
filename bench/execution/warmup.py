"""First use: the fused CPU kernels compiled once, said once, with progress, before any timed work.

numba compiles a unit's kernels the first time a model of that unit is built in a fresh checkout (a
minute or more per kernel family on a 2-core machine) and keeps them in its disk cache; later
processes load them in about a second. Without this step that first compile would land, silently, in
the plan's probe or in the first job's model build. Commands that build models call
:func:`compile_kernels` first; listing units (``bench units``) builds none and compiles nothing.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Iterable

import torch
from tqdm import tqdm

import models
from models import kernels

__all__ = ["compile_kernels"]


def compile_kernels(units: Iterable[str], device: str, config: models.ModelConfig | None = None, progress: bool = True) -> list[str]:
    """Compile now the CPU kernels that ``units`` need and numba has not cached yet.

    Builds each unit once, tiny (its constructor compiles or loads its kernels), under a progress bar,
    after one line that says what is happening and that it happens once. Nothing is printed when every
    kernel is cached already or the device is not the CPU (CUDA kernels compile in their own first call).

    Args:
        units: unit names, as in ``--units``.
        device: the run's device (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
        config: the run's model options (``--kernel`` and ``--scan-kernel`` decide which kernels run);
            ``None``: the defaults.
        progress: show the progress bar.

    Returns:
        The kernel families that were not cached before (empty when nothing was compiled).
    """
    if torch.device(device).type != "cpu":
        return []
    missing = [op for op in kernels.CPU_OPS if not kernels.compiled(op)]
    if not missing:
        return []
    print(f"first use: numba's disk cache lacks fused CPU kernels ({', '.join(missing)}); the units that need "
          f"one compile it now, once (a minute or more each), and later runs load them from "
          f"{kernels.cache_folder()} in about a second", flush=True)
    config = config or models.ModelConfig()
    tiny = replace(config, hidden=4, layers=1, max_len=8)
    for unit in tqdm(list(units), desc="compiling kernels", unit="unit", disable=not progress):
        models.build(unit, 4, 2, tiny)  # the constructor warms up (compiles or loads) its kernels
    return missing
