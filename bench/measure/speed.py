"""``bench speed``: each unit's cost alone at fixed shapes, in the style of DeepBench and PyTorch's fastrnns.

For every unit at the same shapes (default: the paper preset's, batch 32 x 449 frames x 374 features,
5 layers x 128, dropout 0.5, IndRNN batch norm), three nested measurements of one batch already on the
device:

* ``forward``: forward pass and loss, recording the autograd graph as training does;
* ``forward_backward``: zeroed gradients, forward, loss, backward;
* ``step``: the whole training step of ``bench run`` (:class:`bench.execution.step.TrainStep`): the above plus
  gradient clipping and the Adam step.

``--subnormals flush,keep`` times both subnormal policies side by side (each round puts each in force
in turn, verified, then times every call), so a user sees what their CPU pays for subnormal floats.

So backward = forward_backward - forward and the optimiser = step - forward_backward. Each is
measured eagerly and, on CUDA, also replayed from one CUDA graph. Rounds are *interleaved*: every
round times every (unit, mode, measurement) once, so a drift of the machine (clocks, other load)
reaches every unit alike. Warm-up calls (and graph capture) come first and are not recorded.

On CUDA each call is timed by events and, independently, by a wall clock between two
``synchronize()``; the two medians are compared and a difference over 5 % is reported as a warning
(the wall clock also pays one synchronisation, a few microseconds).
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

__all__ = ["speed_command", "SpeedConfig", "KINDS", "measure_speed", "summarise_speed", "write_speed", "wall_warnings"]

KINDS = ("forward", "forward_backward", "step")
"""The three nested measurements, in order: forward and loss; with backward; the whole training step."""


@dataclass(frozen=True)
class SpeedConfig:
    """What ``bench speed`` measures, and how (the defaults: the paper preset's shapes).

    Attributes:
        units: the units timed.
        batch: clips per batch.
        frames: frames per clip (449: the valid frames of a 30 s clip at J=10).
        features: features per frame.
        hidden: width of every unit.
        layers: depth of every unit.
        dropout: dropout, as ``bench run``.
        batch_norm: the IndRNN's batch norm, as ``bench run``.
        scan_kernel: the modern units' scan back end (:func:`models.kernels.linear_scan`).
        classes: classes of the head.
        lr: Adam's learning rate.
        clip_grad: the largest gradient norm (0: none).
        device: where to time.
        precision: ``fp32``, ``tf32`` or ``bf16``.
        threads: the pools' thread count, or None for torch's default.
        subnormals: the subnormal policies to time side by side, each in every round.
        modes: ``eager`` and, on CUDA, ``graph``.
        rounds: interleaved rounds, each timing every (unit, mode, measurement) once.
        warmup: untimed calls per measurement first.
        seed: seed of the models and the random inputs.
        extra: recorded with the results, not used.
    """

    units: tuple[str, ...] = ("rnn", "lstm", "gru", "indrnn")
    batch: int = 32
    frames: int = 449  # the valid frames of a 30 s clip at J=10 (features.frames; tested)
    features: int = 374
    hidden: int = 128
    layers: int = 5
    dropout: float = 0.5
    batch_norm: bool = True  # IndRNN only, as in bench run
    scan_kernel: str = "auto"  # the modern units' scan back end (models.kernels.linear_scan)
    classes: int = 10
    lr: float = 1e-5
    clip_grad: float = 1.0
    device: str = "cpu"
    precision: str = "fp32"
    threads: int | None = None
    subnormals: tuple[str, ...] = ("flush",)  # each setting timed in every round, side by side
    modes: tuple[str, ...] = ("eager",)
    rounds: int = 10
    warmup: int = 3
    seed: int = 0
    extra: dict = field(default_factory=dict)  # recorded, not used (e.g. the preset the shapes came from)


class _Case:
    """One unit in one mode: its model, optimiser, inputs and the three callables to time."""

    def __init__(self, unit: str, mode: str, cfg: SpeedConfig):
        import torch

        import models

        from ..execution.step import CapturedCall, TrainStep, flatten_rnn_weights, make_optimizer

        self.unit, self.mode = unit, mode
        dev = torch.device(cfg.device)
        torch.manual_seed(cfg.seed)
        mcfg = models.ModelConfig(hidden=cfg.hidden, layers=cfg.layers, dropout=cfg.dropout,
                                  batch_norm=cfg.batch_norm, max_len=cfg.frames, scan_kernel=cfg.scan_kernel)
        self.model = models.build(unit, cfg.features, cfg.classes, mcfg).to(dev).train()
        self.opt = make_optimizer(self.model, cfg.lr, step=mode)
        gen = torch.Generator().manual_seed(cfg.seed)
        self.x = torch.randn(cfg.batch, cfg.frames, cfg.features, generator=gen).to(dev)
        self.lengths = torch.full((cfg.batch,), cfg.frames, dtype=torch.long, device=dev)  # as bench run passes them
        self.y = torch.randint(0, cfg.classes, (cfg.batch,), generator=gen).to(dev)
        self.train = TrainStep(self.model, self.opt, cfg.clip_grad, cfg.precision, "eager")

        def forward():
            return self.train.loss(self.x, self.lengths, self.y)

        def forward_backward():
            loss = forward()
            loss.backward()
            return loss.detach()

        def step():
            return self.train.body(self.x, self.lengths, self.y)

        zero = lambda: self.opt.zero_grad(set_to_none=True)  # noqa: E731
        if mode == "graph":
            flatten_rnn_weights(self.model)
            # captured once each, after their own warm-up; zero_grad before capture so the captured
            # backward allocates the gradients every replay overwrites
            self.calls: dict[str, Callable] = {
                "forward": CapturedCall(forward, cfg.warmup),
                "forward_backward": CapturedCall(forward_backward, cfg.warmup, zero),
                "step": CapturedCall(step, cfg.warmup, zero),
            }
        else:
            self.calls = {"forward": forward,
                          "forward_backward": lambda: (zero(), forward_backward())[1],
                          "step": lambda: (zero(), step())[1]}


def _time_call(fn: Callable, cuda: bool) -> tuple[float, float]:
    """(timer seconds, wall seconds) of one call: CUDA events and a synchronised wall clock, or the clock twice."""
    import torch

    if not cuda:
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        return dt, dt
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    return start.elapsed_time(end) / 1000.0, wall


def measure_speed(cfg: SpeedConfig, progress: bool = True) -> pd.DataFrame:
    """Raw rows: one per (round, unit, mode, kind), with ``seconds`` (events or clock) and ``wall_s``.

    Every unit is built at the same shapes; warm-up calls (and CUDA graph captures) come first and are
    not recorded; then rounds are interleaved so a drift of the machine reaches every unit alike.

    Args:
        cfg: what to measure.
        progress: show a progress bar.

    Returns:
        ``round, subnormals, unit, mode, kind, seconds, wall_s`` (``subnormals`` as verified in force).

    Raises:
        PolicyError: graph mode without CUDA, or a policy that cannot be put in force.
    """
    import torch
    from tqdm import tqdm

    from ..execution.step import check_graph_device
    from ..execution.warmup import compile_kernels
    from .policy import apply_policy, set_precision

    if "graph" in cfg.modes:
        check_graph_device(cfg.device)
    apply_policy(cfg.threads, cfg.subnormals[0])
    set_precision(cfg.precision)
    cuda = torch.device(cfg.device).type == "cuda"
    compile_kernels(cfg.units, cfg.device, progress=progress)  # first use: said once, not timed
    cases = [_Case(u, m, cfg) for m in cfg.modes for u in cfg.units]
    for sub in cfg.subnormals:
        apply_policy(cfg.threads, sub)
        for case in cases:  # warm-up (and capture) for every callable, not recorded
            for kind in KINDS:
                for _ in range(cfg.warmup + 1):
                    case.calls[kind]()
    if cuda:
        torch.cuda.synchronize()
    rows = []
    total = cfg.rounds * len(cfg.subnormals) * len(cases) * len(KINDS)
    with tqdm(total=total, desc="speed", unit="call", disable=not progress) as bar:
        for r in range(cfg.rounds):
            for sub in cfg.subnormals:  # interleaved too: a drift of the machine reaches both settings
                verified = apply_policy(cfg.threads, sub)["subnormals"]
                for case in cases:
                    for kind in KINDS:
                        seconds, wall = _time_call(case.calls[kind], cuda)
                        rows.append(dict(round=r, subnormals=verified, unit=case.unit, mode=case.mode, kind=kind,
                                         seconds=seconds, wall_s=wall))
                        bar.update()
    apply_policy(cfg.threads, cfg.subnormals[0])
    return pd.DataFrame(rows)


def summarise_speed(raw: pd.DataFrame, reference: str = "indrnn") -> pd.DataFrame:
    """Median and IQR per (subnormals, mode, kind, unit), the wall-clock cross-check, and the ratio to
    ``reference`` under the same subnormal policy, mode and measurement.

    Args:
        raw: :func:`measure_speed`'s rows.
        reference: the unit ratios are taken to.

    Returns:
        One row per (subnormals, mode, kind, unit): ``median_s``, ``q1_s``, ``q3_s``, ``n``,
            ``wall_median_s``, ``timer_vs_wall`` and ``ratio_to_<reference>``.
    """
    if "subnormals" not in raw:
        raw = raw.assign(subnormals="flush")
    g = raw.groupby(["subnormals", "mode", "kind", "unit"], sort=False)
    out = g["seconds"].agg(median_s="median", q1_s=lambda s: s.quantile(0.25), q3_s=lambda s: s.quantile(0.75),
                           n="size").reset_index()
    out["wall_median_s"] = g["wall_s"].median().values
    out["timer_vs_wall"] = out["median_s"] / out["wall_median_s"] - 1.0
    ref = out[out["unit"] == reference].set_index(["subnormals", "mode", "kind"])["median_s"]
    keys = list(zip(out["subnormals"], out["mode"], out["kind"]))
    out[f"ratio_to_{reference}"] = [out["median_s"].iloc[i] / ref.get(k, np.nan) for i, k in enumerate(keys)]
    return out


def write_speed(cfg: SpeedConfig, raw: pd.DataFrame, summary: pd.DataFrame, out_dir: Path) -> dict[str, Path]:
    """``speed_raw.csv``, ``speed.csv`` and ``speed.json`` (config and environment) in ``out_dir``.

    Args:
        cfg: what was measured.
        raw: :func:`measure_speed`'s rows.
        summary: :func:`summarise_speed`'s rows.
        out_dir: the folder (created if needed).

    Returns:
        ``{"raw", "summary", "meta"}`` -> the files written.
    """
    from ..results.store import atomic_write_text
    from .envinfo import environment

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"raw": out_dir / "speed_raw.csv", "summary": out_dir / "speed.csv", "meta": out_dir / "speed.json"}
    atomic_write_text(paths["raw"], raw.to_csv(index=False))
    atomic_write_text(paths["summary"], summary.to_csv(index=False))
    meta = {"config": asdict(cfg), "environment": environment(cfg.device)}
    atomic_write_text(paths["meta"], json.dumps(meta, indent=2, default=str))
    return paths


def wall_warnings(summary: pd.DataFrame, cuda: bool, tolerance: float = 0.05) -> list[str]:
    """CUDA only: measurements whose event median and synchronised wall median differ by more than 5 %.

    Args:
        summary: :func:`summarise_speed`'s rows.
        cuda: whether they were timed on CUDA (else there is nothing to cross-check).
        tolerance: the relative difference that is reported.

    Returns:
        One ``warning: ...`` line per such measurement.
    """
    if not cuda:
        return []
    bad = summary[summary["timer_vs_wall"].abs() > tolerance]
    return [f"warning: {r.unit} {r.mode} {r.kind}: CUDA events {1e3 * r.median_s:.3f} ms vs wall clock "
            f"{1e3 * r.wall_median_s:.3f} ms ({100 * r.timer_vs_wall:+.1f} %)" for r in bad.itertuples()]


def speed_command(cfg: SpeedConfig, out: Path | None = None, plot: Callable | None = None) -> int:
    """``python -m bench speed``: measure, summarise and write, print the summary and any wall-clock warning.

    Args:
        cfg: what to measure (the command line builds it from its options; ``cfg.device`` concrete).
        out: the results directory; None: ``runs/speed-<device>``.
        plot: called as ``plot(summary, path, title)`` to draw ``speed.png``, returning its path (the
            command line passes :func:`reports.speed.plot_speed`); None: no figure.

    Returns:
        The exit status, 0.
    """
    import sys

    from .envinfo import device_name

    device = cfg.device
    out = out or Path("runs") / f"speed-{device.replace(':', '')}"
    print(f"bench speed on {device} ({device_name(device)}): batch {cfg.batch} x {cfg.frames} frames x "
          f"{cfg.features} features, {cfg.layers} x {cfg.hidden}, {cfg.precision}, modes {', '.join(cfg.modes)}, "
          f"subnormals {', '.join(cfg.subnormals)}, {cfg.rounds} interleaved rounds")
    raw = measure_speed(cfg)
    summary = summarise_speed(raw)
    paths = write_speed(cfg, raw, summary, out)
    title = (f"{device_name(device)}: batch {cfg.batch}, T {cfg.frames}, {cfg.features} features, "
             f"{cfg.layers} x {cfg.hidden}, {cfg.precision}, {cfg.threads or 'default'} thread(s)")
    figure = plot(summary, out / "speed.png", title) if plot is not None else None
    show = summary.assign(median_ms=1e3 * summary.median_s, iqr_ms=1e3 * (summary.q3_s - summary.q1_s))
    cols = ["subnormals", "mode", "kind", "unit", "median_ms", "iqr_ms", "ratio_to_indrnn", "n"]
    print(show[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for line in wall_warnings(summary, device.startswith("cuda")):
        print(line, file=sys.stderr)
    print(f"\ntable: {paths['summary']} (raw rounds: {paths['raw'].name})" + (f"\nplot:  {figure}" if figure else ""))
    return 0
