"""``bench scale``: training time per iteration and peak memory against sequence length, per unit.

Each (unit, length) is measured in a fresh subprocess, so that its peak resident memory is its own
and an out-of-memory failure, a crash or a NaN marks that cell as failed instead of ending the sweep.
Two memory figures per cell:

* ``saved_mb``: the bytes autograd keeps from the forward pass for the backward (every distinct
  storage handed to ``saved_tensors_hooks``), counted on one extra, untimed forward. Exact and
  repeatable: this is the memory that grows with T.
* ``peak_mem_mb``: on CPU, the process's peak resident size (``ru_maxrss``) minus its resident size
  after set-up; real, but blurred by the allocator keeping freed pages (repeat runs differ by
  ~100 MiB). On CUDA, ``torch.cuda.max_memory_allocated`` above the set-up allocation: the tensors
  PyTorch's allocator handed out, not the process's resident memory.

Each row names the device it ran on (``device_name``: the GPU's or the CPU's model). Inputs are
random features of the default width; the batch, width and depth are fixed across lengths so only T
varies.

Every cell runs under the same policy as ``bench run`` (:mod:`bench.measure.policy`: plain fp32, TF32 off for
matrix products and cuDNN alike; ``threads`` binds torch's and numba's pools; ``subnormals`` flushed or
kept in every thread) and times ``bench run``'s training step (:class:`bench.execution.step.TrainStep`, eager):
the model as ``bench run`` builds it (dropout and the IndRNN's batch norm as configured, the paper
preset's by default), every sequence's valid length passed as ``bench run`` passes it (so the IndRNN
takes the same masked batch-norm path), gradient clipping and Adam at the preset's values, with the
batch on the device before the clock. Every row records these settings.
"""
from __future__ import annotations

import json
import math
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

__all__ = ["scale_command", "ScaleConfig", "measure", "sweep"]


def _paper(name: str):
    from ..config import PRESETS

    return getattr(PRESETS["paper"], name)


@dataclass(frozen=True)
class ScaleConfig:
    """What ``bench scale`` measures at each sequence length (model and step as ``bench run``'s).

    Attributes:
        batch: clips per batch.
        features: features per frame.
        hidden: width of every unit.
        layers: depth of every unit.
        dropout: dropout (the paper preset's).
        batch_norm: the IndRNN's batch norm (the paper preset's).
        scan_kernel: the modern units' scan back end.
        lr: Adam's learning rate (the paper preset's).
        clip_grad: the largest gradient norm (the paper preset's).
        iters: timed iterations per cell.
        warmup: untimed iterations first.
        device: where to measure.
        threads: the pools' thread count, or None for torch's default.
        subnormals: the subnormal policy.
        max_memory_gb: the address-space cap of each CPU measurement (None: no cap).
        timeout_s: seconds a cell may take before it is marked failed.
    """

    batch: int = 16
    features: int = 374
    hidden: int = 128
    layers: int = 5
    dropout: float = _paper("dropout")  # bench run's model and step, at the paper preset's values
    batch_norm: bool = _paper("batch_norm")
    scan_kernel: str = _paper("scan_kernel")  # the modern units' scan back end
    lr: float = _paper("lr")
    clip_grad: float = _paper("clip_grad")
    iters: int = 3  # timed iterations per cell
    warmup: int = 1
    device: str = "cpu"
    threads: int | None = None
    subnormals: str = _paper("subnormals")
    max_memory_gb: float | None = 16.0  # address-space cap of each CPU measurement (None = no cap)
    timeout_s: float = 600.0  # per cell


def measure(unit: str, length: int, cfg: ScaleConfig) -> dict:
    """Time ``cfg.iters`` training iterations of ``unit`` at sequence ``length`` (in this process).

    :func:`sweep` runs each cell in a fresh process, so that its peak memory is its own.

    Args:
        unit: a registered unit.
        length: frames per sequence.
        cfg: the rest.

    Returns:
        One row of ``scaling.csv``: ``unit``, ``length``, ``status`` (``ok`` or ``nan``), the median and
            quartiles of seconds per iteration, ``saved_mb`` (memory saved for the backward),
            ``peak_mem_mb``, ``params`` and ``device_name``.
    """
    import torch

    import models

    from ..execution.step import TrainStep, make_optimizer
    from .envinfo import device_name
    from .policy import apply_policy, set_precision
    from .timing import IterationTimer

    apply_policy(cfg.threads, cfg.subnormals)
    set_precision("fp32")
    torch.manual_seed(0)
    dev = torch.device(cfg.device)
    mcfg = models.ModelConfig(hidden=cfg.hidden, layers=cfg.layers, dropout=cfg.dropout, batch_norm=cfg.batch_norm,
                              max_len=length, scan_kernel=cfg.scan_kernel)
    model = models.build(unit, cfg.features, 10, mcfg).to(dev)
    step = TrainStep(model, make_optimizer(model, lr=cfg.lr), cfg.clip_grad, "fp32", "eager", cfg.batch)
    x = torch.randn(cfg.batch, length, cfg.features, device=dev)
    lengths = torch.full((cfg.batch,), length, dtype=torch.long, device=dev)  # as bench run passes them
    y = torch.randint(0, 10, (cfg.batch,), device=dev)
    base_rss = _rss_now_mb()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
        base_cuda = torch.cuda.memory_allocated(dev)
    timer = IterationTimer(dev, warmup=cfg.warmup, batch_size=cfg.batch)
    loss = torch.tensor(0.0)
    for _ in range(cfg.warmup + cfg.iters):
        loss = step(x, lengths, y, timer)
    s = timer.summary()
    if dev.type == "cuda":
        peak = (torch.cuda.max_memory_allocated(dev) - base_cuda) / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base_rss
    ok = math.isfinite(loss.item())
    return dict(unit=unit, length=length, status="ok" if ok else "nan", median_iter_s=s.median,
                q1_iter_s=s.q1, q3_iter_s=s.q3, saved_mb=_saved_for_backward_mb(model, x, lengths, y), peak_mem_mb=peak,
                params=sum(p.numel() for p in model.parameters()), device_name=device_name(cfg.device))


def _saved_for_backward_mb(model, x, lengths, y) -> float:
    """MiB of distinct storages autograd saves for the backward during one forward pass."""
    import torch

    storages: dict[int, int] = {}

    def pack(t):
        st = t.untyped_storage()
        storages[st.data_ptr()] = st.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = torch.nn.functional.cross_entropy(model(x, lengths), y)
    del loss
    return sum(storages.values()) / 2**20


def _rss_now_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2**20
    except OSError:
        return 0.0


def _cell(unit: str, length: int, cfg: ScaleConfig) -> dict:
    """Run :func:`measure` in a fresh interpreter; any failure becomes a row with its status."""
    cmd = [sys.executable, "-m", "bench.measure.scale", unit, str(length), json.dumps(asdict(cfg))]
    fail = dict(unit=unit, length=length, median_iter_s=math.nan, q1_iter_s=math.nan, q3_iter_s=math.nan,
                saved_mb=math.nan, peak_mem_mb=math.nan, params=math.nan)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=cfg.timeout_s)
    except subprocess.TimeoutExpired:
        return {**fail, "status": f"timeout > {cfg.timeout_s:.0f} s"}
    if proc.returncode == 0 and proc.stdout.strip():
        return json.loads(proc.stdout.strip().splitlines()[-1])
    err = (proc.stderr or "").strip().splitlines()
    text = " ".join(err[-3:])
    oom = any(m in text.lower() for m in ("memoryerror", "out of memory", "can't allocate memory",
                                              "cannot allocate memory")) or proc.returncode in (-9, 137)
    return {**fail, "status": "out of memory" if oom else f"failed: {err[-1] if err else proc.returncode}"}


def sweep(units, lengths, cfg: ScaleConfig, out_dir: Path, progress: bool = True) -> pd.DataFrame:
    """Measure every (unit, length); rows are appended to ``scaling.csv`` as they finish.

    Each cell runs in a fresh subprocess: one that fails (out of memory, a crash, a timeout, NaN) is a
    row with its status, and the sweep goes on.

    Args:
        units (Iterable[str]): the units.
        lengths (Iterable[int]): the sequence lengths, each measured for every unit.
        cfg: the rest.
        out_dir: where ``scaling.csv`` is written (created if needed).
        progress: show a progress bar.

    Returns:
        Every row (also in ``scaling.csv``), with the cell's wall seconds and the configuration.
    """
    from tqdm import tqdm

    from ..execution.warmup import compile_kernels
    from ..results.store import atomic_write_text

    out_dir.mkdir(parents=True, exist_ok=True)
    compile_kernels(units, cfg.device, progress=progress)  # first use: said once, not timed
    rows = []
    cells = [(u, n) for n in lengths for u in units]
    for unit, n in tqdm(cells, desc="scaling", unit="cell", disable=not progress):
        t0 = time.perf_counter()
        rows.append({**_cell(unit, n, cfg), "wall_s": time.perf_counter() - t0, **asdict(cfg)})
        atomic_write_text(out_dir / "scaling.csv", pd.DataFrame(rows).to_csv(index=False))
    return pd.DataFrame(rows)


def scale_command(units, lengths, cfg: ScaleConfig, out: Path | None = None, plot=None) -> int:
    """``python -m bench scale``: the sweep (:func:`sweep`), its table printed and, with ``plot``, its figure.

    Args:
        units (Iterable[str]): the units.
        lengths (list[int]): the sequence lengths.
        cfg: the rest (the command line builds it from its options; ``cfg.device`` concrete).
        out: the results directory; None: ``runs/scale-<device>``.
        plot (Callable | None): called as ``plot(table, path)`` to draw ``scaling.png``, returning its path
            (the command line passes :func:`reports.scaling.plot_scaling`); None: no figure.

    Returns:
        The exit status, 0.
    """
    device = cfg.device
    print(f"bench scale on {device}: batch {cfg.batch}, {cfg.layers} x {cfg.hidden}, {cfg.features} features, "
          f"dropout {cfg.dropout:g}, IndRNN batch norm {'on' if cfg.batch_norm else 'off'}, valid lengths passed, "
          f"clip {cfg.clip_grad:g}, fp32, eager, subnormals {cfg.subnormals}; lengths {', '.join(map(str, lengths))}")
    out = out or Path("runs") / f"scale-{device.replace(':', '')}"
    table = sweep(units, lengths, cfg, out)
    figure = plot(table, out / "scaling.png") if plot is not None else None
    cols = ["unit", "length", "status", "median_iter_s", "saved_mb", "peak_mem_mb"]
    print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"\ntable: {out / 'scaling.csv'}" + (f"\nplot:  {figure}" if figure else ""))
    return 0


if __name__ == "__main__":  # the measuring subprocess: python -m bench.measure.scale UNIT LENGTH CONFIG_JSON
    _unit, _length, _cfg = sys.argv[1], int(sys.argv[2]), ScaleConfig(**json.loads(sys.argv[3]))
    if _cfg.max_memory_gb and _cfg.device == "cpu":
        cap = int(_cfg.max_memory_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    print(json.dumps(measure(_unit, _length, _cfg)))
