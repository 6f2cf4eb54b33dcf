"""``python -m bench check-unit NAME``: the unit contract (:mod:`models.contract`) checked on one unit.

One line per point, block and device (``ok`` or ``FAIL``, and what was seen); the exit status is 0
when every point holds, 1 when one fails, 2 when the unit cannot be found or loaded. It takes seconds:
a batch of three sequences of 12 frames (one padded to a single valid frame), 2 layers of 8.

:func:`check_plugins` is the same check, its first points only, on each plugin unit of a run before
``bench run`` writes anything.
"""
from __future__ import annotations

from ..config import BLOCKS, ConfigError, RunConfig

__all__ = ["check_unit_command", "check_plugins"]


def check_unit_command(name: str, device: str = "auto", block: str = "all") -> int:
    """``python -m bench check-unit NAME``: one pass/fail line per point of the contract, on each device.

    Args:
        name: a unit: a built-in, an installed plugin, or ``path.to.module:factory``.
        device: ``auto`` (the CPU, and CUDA where torch sees a GPU), ``cpu`` or ``cuda``.
        block: ``native``, ``stack``, ``residual``, or ``all`` three.

    Returns:
        The exit status: 0 when every point holds, 1 when one fails.
    """
    import torch

    import models
    from models.contract import CHECK_CONFIG, FRAMES, INPUT, LENGTHS, check_unit

    from ..measure.policy import resolve_device

    source = _provenance(name)
    devices = (["cpu"] + (["cuda"] if torch.cuda.is_available() else [])) if device == "auto" \
        else [resolve_device(device)]
    blocks = BLOCKS if block == "all" else (block,)
    kind = f"plugin ({source})" if source else "built-in unit"
    print(f"check-unit {name}: {kind}; on {', '.join(devices)}, blocks {', '.join(blocks)}; "
          f"{len(LENGTHS)} sequences x {FRAMES} frames x {INPUT} features (valid frames "
          f"{', '.join(map(str, LENGTHS))}), {CHECK_CONFIG.layers} layers x {CHECK_CONFIG.hidden}")
    failed = total = 0
    for where in devices:
        for tree in blocks:
            for check in check_unit(name, where, tree):
                total += 1
                failed += not check.ok
                print(f"{'ok' if check.ok else 'FAIL':<6}{where:<6}{tree:<10}{check.point:<14}{check.detail}")
    if failed:
        print(f"{failed} of {total} points fail: {name} breaks the unit contract (models/contract.py)")
        return 1
    print(f"all {total} points hold: {name} keeps the unit contract")
    return 0


def check_plugins(cfg: RunConfig) -> None:
    """Refuse a run's plugin unit that does not build, returns the wrong shape, is not causal or lets padding
    reach a valid frame (:data:`models.contract.RUN_POINTS`), at the run's architecture on its device,
    before anything is written; the error names the plugin and the first point it fails.

    Args:
        cfg: the run's configuration (its units, model options and device); built-in units are skipped.

    Raises:
        models.plugins.PluginError: a plugin unit fails one of those points.
    """
    import models
    from models.contract import FRAMES, RUN_POINTS, check_unit

    config = models.ModelConfig(**cfg.model_options(), max_len=FRAMES)
    for unit in cfg.units:
        source = models.provenance(unit)
        if not source:  # a built-in: its tests run the whole contract
            continue
        failed = [c for c in check_unit(unit, cfg.device, cfg.block, config, RUN_POINTS) if not c.ok]
        if failed:
            raise ConfigError(f"plugin unit {unit!r} ({source}) breaks the unit contract at {failed[0].point!r}: "
                              f"{failed[0].detail} (python -m bench check-unit {unit} checks every point)")


def _provenance(name: str) -> str:
    import models

    try:
        return models.provenance(name)
    except models.PluginError:
        raise
    except ValueError as exc:  # an unknown name
        raise ConfigError(str(exc)) from None
