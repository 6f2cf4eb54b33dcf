"""The execution policy every unit runs under: device, numeric precision and thread counts.

A time per iteration compares units only if nothing but the unit differs, so these are set in one
place, before any model is built, the same for every unit, and recorded with every job:

* **device**: ``auto`` (the default) means CUDA when torch sees a GPU, else the CPU.
* **precision**: ``fp32`` (default) is full float32 everywhere: TF32 off for plain matrix products
  *and* for cuDNN (PyTorch's defaults differ: cuDNN's LSTM/GRU may use TF32 while ``F.linear`` does
  not, which would favour the cuDNN units). ``tf32`` allows TF32 for both. ``bf16`` runs forward and
  loss under ``torch.autocast(dtype=bfloat16)`` for every unit (the IndRNN's elementwise recurrence
  then runs in float32 on bfloat16 projections, as cuDNN does inside its cells).
* **threads**: ``--threads N`` binds every pool the code uses: torch's intra-op pool, numba's
  (the IndRNN's CPU kernel; its count is per calling thread, so it is set in the thread that runs the
  job) and the BLAS libraries' (through ``threadpoolctl``: the baseline's logistic regression runs
  in NumPy/SciPy's OpenBLAS, whose pool a Dask worker starts at 1 thread while a local run uses every
  core; the sums then split differently and the baseline's accuracy differed between executors).
* **subnormals**: ``flush`` (default) or ``keep`` subnormal floats, in the calling thread and in
  every thread of both pools, verified (:mod:`bench.measure.subnormals`): on some x86 CPUs they make
  PyTorch's LSTM several times slower while the IndRNN is untouched.

:func:`apply_policy` sets threads and subnormals together, in the thread that computes, and returns
what it verified; every command that computes (features, run, speed, scale, the plan's probe) calls it.
"""
from __future__ import annotations

from contextlib import nullcontext

import threadpoolctl
import torch

from ..config import PRECISIONS

__all__ = ["PolicyError", "resolve_device", "set_precision", "precision_flags", "autocast", "check_threads",
           "set_threads", "thread_counts", "apply_policy"]


class PolicyError(ValueError):
    """A device, precision or thread setting that cannot be honoured here."""


def resolve_device(name: str) -> str:
    """``auto`` -> ``cuda`` or ``cpu``; ``cuda``/``cuda:N`` checked against what torch sees.

    Args:
        name: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.

    Returns:
        The concrete device name.

    Raises:
        PolicyError: a CUDA device torch does not see, or another name.
    """
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return name
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise PolicyError(f"--device {name}: torch {torch.__version__} sees no CUDA device here "
                              "(use --device cpu, or auto)")
        index = torch.device(name).index or 0
        if index >= torch.cuda.device_count():
            raise PolicyError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) visible")
        return name
    raise PolicyError(f"--device {name!r}: choose auto, cpu, cuda or cuda:N")


def set_precision(precision: str) -> None:
    """Set the float32 matmul/cuDNN flags for ``precision`` (process-wide, before models are built).

    ``tf32`` allows TF32 for CUDA matrix products, convolutions and cuDNN's RNNs alike; ``fp32`` and
    ``bf16`` forbid it everywhere (bf16 autocast leaves float32 operations in full float32).

    Args:
        precision: ``fp32``, ``tf32`` or ``bf16``.

    Raises:
        PolicyError: another name.
    """
    if precision not in PRECISIONS:
        raise PolicyError(f"--precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    mode = "tf32" if precision == "tf32" else "ieee"  # bf16 autocast leaves float32 ops in full fp32
    backends = torch.backends
    if hasattr(backends.cuda.matmul, "fp32_precision"):  # torch >= 2.9: the per-backend API
        backends.cuda.matmul.fp32_precision = mode
        backends.cudnn.conv.fp32_precision = mode
        backends.cudnn.rnn.fp32_precision = mode
        backends.mkldnn.matmul.fp32_precision = "ieee"  # CPU: never a reduced-precision fp32
    else:  # the legacy flags
        backends.cuda.matmul.allow_tf32 = mode == "tf32"
        backends.cudnn.allow_tf32 = mode == "tf32"
    torch.set_float32_matmul_precision("high" if mode == "tf32" else "highest")


def precision_flags() -> dict:
    """The float32 flags as they are now, for the record.

    Returns:
        ``{flag: value}`` (torch's per-backend ``fp32_precision`` settings, or its older TF32 flags).
    """
    b = torch.backends
    if hasattr(b.cuda.matmul, "fp32_precision"):
        return {"cuda_matmul": b.cuda.matmul.fp32_precision, "cudnn_conv": b.cudnn.conv.fp32_precision,
                "cudnn_rnn": b.cudnn.rnn.fp32_precision, "float32_matmul": torch.get_float32_matmul_precision()}
    return {"cuda_matmul_tf32": b.cuda.matmul.allow_tf32, "cudnn_tf32": b.cudnn.allow_tf32,
            "float32_matmul": torch.get_float32_matmul_precision()}


def autocast(precision: str, device: str | torch.device):
    """The context forward and loss run in: bf16 autocast, or nothing.

    ``cache_enabled=False`` so the casts are redone inside every step: required for a step captured
    in a CUDA graph, and the same for eager so both modes do the same work.

    Args:
        precision: the run's precision.
        device: where the model runs.

    Returns:
        (contextlib.AbstractContextManager): ``torch.autocast(..., dtype=torch.bfloat16)`` for ``bf16``,
            else a context that does nothing.
    """
    if precision != "bf16":
        return nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, cache_enabled=False)


def check_threads(threads: int | None) -> None:
    """Refuse a thread count this process cannot honour (None: the defaults, always fine).

    numba cannot use more threads than it started with (``NUMBA_NUM_THREADS``, the core count); a
    larger request is an error rather than a silent cap, so the recorded count is what was asked.

    Args:
        threads: the count asked for, or None.

    Raises:
        PolicyError: below 1, or above numba's thread count.
    """
    if threads is None:
        return
    if threads < 1:
        raise PolicyError(f"--threads must be a positive integer, got {threads}")
    import numba

    if threads > numba.config.NUMBA_NUM_THREADS:
        raise PolicyError(f"--threads {threads}: numba was started with {numba.config.NUMBA_NUM_THREADS} threads "
                          "(the core count); set NUMBA_NUM_THREADS to allow more")


def set_threads(threads: int | None) -> None:
    """Bind torch's and numba's pools to ``threads`` (None: leave both at their defaults).

    The BLAS pools (through threadpoolctl) are bound too. numba's count is per calling thread: call it
    in the thread that computes. OpenBLAS (0.3.31) ignores a raise of its count asked from a thread other
    than the main one, so a worker thread gets at most what the main thread set; each job records the
    BLAS count it really had (``blas_threads``).

    Args:
        threads: the count, or None.

    Raises:
        PolicyError: the count cannot be honoured (:func:`check_threads`), or the pools report another.
    """
    check_threads(threads)
    if threads is None:
        return
    import numba

    if not numba.config.THREADING_LAYER:  # not chosen by the user (NUMBA_THREADING_LAYER)
        # omp first: the subnormal policy reaches torch's OpenMP workers through numba's omp pool
        numba.config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]
    # numba first: starting its OpenMP layer can reset torch's count (seen with torch 2.13 + numba 0.68)
    numba.set_num_threads(threads)  # per calling thread: call this where the work runs
    torch.set_num_threads(threads)
    threadpoolctl.threadpool_limits(limits=threads, user_api="blas")  # process-wide, kept until changed
    got = (numba.get_num_threads(), torch.get_num_threads())
    if got != (threads, threads):
        raise PolicyError(f"--threads {threads}: the pools report numba {got[0]}, torch {got[1]} threads")


def thread_counts() -> dict:
    """Threads each pool uses now, in the calling thread.

    Returns:
        ``torch_threads``, ``torch_interop_threads``, ``numba_threads`` and ``blas_threads`` (None
            without a BLAS pool).
    """
    import numba

    blas = [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    return {"torch_threads": torch.get_num_threads(), "torch_interop_threads": torch.get_num_interop_threads(),
            "numba_threads": numba.get_num_threads(), "blas_threads": max(blas) if blas else None}


def apply_policy(threads: int | None, subnormals: str) -> dict:
    """Threads, then the subnormal policy, in the calling thread and its pools; returns what was verified:
    ``{"subnormals": ..., "torch_threads": ..., "numba_threads": ...}``.

    Every command that computes calls it first, in the thread that computes (each job does too).

    Args:
        threads: the thread count (:func:`set_threads`), or None for the defaults.
        subnormals: ``flush`` or ``keep`` (:func:`bench.measure.subnormals.apply`).

    Returns:
        The subnormal policy verified in force, and the pools' thread counts (torch, numba, BLAS).

    Raises:
        PolicyError: the threads or the subnormal policy cannot be put in force.
    """
    from .subnormals import SubnormalError, apply

    set_threads(threads)
    try:
        verified = apply(subnormals)
    except SubnormalError as exc:
        raise PolicyError(str(exc)) from None
    return {"subnormals": verified["subnormals"], **{k: v for k, v in thread_counts().items()
                                                     if k != "torch_interop_threads"}}
