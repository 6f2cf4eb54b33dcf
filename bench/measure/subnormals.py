"""Subnormal floats: flushed to zero, or kept, in every thread that computes, the same for every unit.

On many x86 CPUs an arithmetic instruction that meets or makes a subnormal float (|x| < 1.2e-38 in
float32) takes a slow microcode path, up to about a hundred times longer. Saturating gates drive
values there: on a 2-core Intel Xeon of our fleet PyTorch's LSTM ran 3-9x slower with subnormals
computed than flushed, while the IndRNN (ReLU, no saturating gate) was untouched, so the LSTM/IndRNN
ratio was 46 there and 5.7 flushed. A time ratio between units is therefore only meaningful under
one stated policy, and that policy must hold in every thread that does the work.

The switch is a pair of bits in each thread's MXCSR register (x86 SSE control and status): FTZ
writes subnormal results as 0, DAZ reads subnormal inputs as 0. It is per thread, and a new thread
copies its creator's. ``torch.set_flush_denormal`` sets it in the calling thread only: torch's
OpenMP workers that already exist keep their old state (measured here: after the call, a 2-thread
multiply still wrote subnormals in the half its worker computed). So :func:`apply` sets the bits

* in the calling thread (``torch.set_flush_denormal``, which also covers threads created later), and
* in every thread of the OpenMP pool, from a numba ``prange`` loop that writes MXCSR once per thread
  (numba's ``omp`` threading layer runs on the same OpenMP runtime and pool as torch's CPU kernels),

then *verifies* it: a subnormal product computed by torch across all its threads and by numba in
each of its threads must read as 0 (flush) or not (keep). A pool the bits did not reach is an error,
never a silent mix. Each job records what was verified in its environment (``subnormals``).
"""
from __future__ import annotations

import platform

import numpy as np
import torch

__all__ = ["SUBNORMAL_POLICIES", "SubnormalError", "supported", "apply", "state"]

SUBNORMAL_POLICIES = ("flush", "keep")  # = bench.config's choices (tested)
"""The policies :func:`apply` puts in force (``--subnormals``)."""
_TINY = 1e-20  # its square, 1e-40, is subnormal in float32 (and normal in float64: the checks use float32)


class SubnormalError(RuntimeError):
    """The subnormal policy could not be put in force in every thread that computes."""


def supported() -> bool:
    """Whether this CPU has the control (x86-64); elsewhere subnormals are always computed.

    Returns:
        True on x86-64.
    """
    return platform.machine().lower() in ("x86_64", "amd64")


def _pool_setter():
    """``set_pool(flush, n, tiny)`` from :mod:`bench.measure.mxcsr` (numba, compiled once and cached on disk)."""
    from .mxcsr import set_pool

    return set_pool


def _numba_threads() -> int:
    import numba

    return numba.get_num_threads()


def _torch_flushes() -> bool | None:
    """True if a subnormal product is 0 in every torch thread, False if nowhere, None if mixed."""
    n = max(torch.get_num_threads(), 1) * 65536  # above torch's grain size: every thread gets a chunk
    x = torch.full((n,), _TINY, dtype=torch.float32)
    zero = (x * x) == 0  # (n,)
    if bool(zero.all()):
        return True
    return False if not bool(zero.any()) else None


def apply(policy: str) -> dict:
    """Put ``policy`` (``flush`` or ``keep``) in force in this thread and both pools, and verify it.

    Call it in the thread that will compute, after its thread counts are set. Returns what was
    verified: ``{"subnormals": policy, "torch_threads_checked": n, "numba_threads_checked": m}``; on a
    CPU without the control, ``flush`` is recorded as ``keep (no flush-to-zero control on <arch>)``.

    Args:
        policy: ``flush`` (subnormal floats read and written as 0) or ``keep``.

    Returns:
        What was verified (see above).

    Raises:
        SubnormalError: an unknown policy, or a pool in which the policy is not in force after setting it.
    """
    if policy not in SUBNORMAL_POLICIES:
        raise SubnormalError(f"--subnormals {policy!r}: choose one of {', '.join(SUBNORMAL_POLICIES)}")
    flush = policy == "flush"
    if not supported():
        return {"subnormals": "keep" if not flush else f"keep (no flush-to-zero control on {platform.machine()})",
                "torch_threads_checked": 0, "numba_threads_checked": 0}
    torch.set_flush_denormal(flush)  # this thread, and threads it creates from now on
    n = _numba_threads()
    _, tid, zero = _pool_setter()(flush, n, np.full(n, _TINY, dtype=np.float32))
    torch_state = _torch_flushes()
    if torch_state is not flush or not all(bool(z) == flush for z in zero):
        raise SubnormalError(
            f"--subnormals {policy}: not in force in every thread after setting it (torch: "
            f"{'flushes' if torch_state else 'keeps' if torch_state is False else 'mixed'}; numba threads "
            f"{sorted(set(tid.tolist()))}: {zero.tolist()}); numba's threading layer is "
            f"{_threading_layer()!r}, and only 'omp' shares torch's OpenMP pool. Set NUMBA_THREADING_LAYER=omp")
    return {"subnormals": policy, "torch_threads_checked": torch.get_num_threads(),
            "numba_threads_checked": len(set(tid.tolist()))}


def _threading_layer() -> str:
    import numba

    try:
        return numba.threading_layer()
    except ValueError:  # no parallel region has run yet
        return "not started"


def state() -> str:
    """What is in force in the calling thread's torch pool now: ``flush``, ``keep`` or ``mixed``.

    Returns:
        ``flush`` when a subnormal product reads as 0 in every torch thread, ``keep`` when in none,
            ``mixed`` otherwise.
    """
    s = _torch_flushes()
    return "flush" if s else "keep" if s is False else "mixed"
