"""The IndRNN recurrence ``h_t = relu(z_t + b + u * h_{t-1})``, chosen from a string in one place.

The input projection ``z_t = W x_t`` is done beforehand for all steps at once (one matrix product);
what is left is elementwise and sequential, which is what these kernels do:

===============  ===========================================================  =====================
name             implementation                                               used by ``"auto"`` for
===============  ===========================================================  =====================
``numba``        fused CPU loops (numba, parallel over the batch), own backward  CPU float32/float64
``triton``       fused CUDA kernels (Triton), chunks of steps scanned in         CUDA float32/float64
                 registers, own backward (:mod:`.cuda`)
``triton_loop``  the first CUDA kernels, one step per memory round trip          (never; a baseline)
                 (:mod:`.cuda_loop`)
``reference``    Python loop of tensor ops, autograd backward (tests only)      (never: asked by name)
===============  ===========================================================  =====================

``auto`` on a device or dtype with no fused kernel (CUDA without Triton, float16) is an error rather
than a silent fall back to the reference loop, which would change the IndRNN's time by orders of
magnitude; and :func:`recording` tells the bench which kernel each job really ran.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch

from ..config import KERNEL_CHOICES
from . import cuda
from .reference import recurrence_reference
from .scan_reference import linear_scan_reference

__all__ = ["KERNELS", "SCAN_KERNELS", "recurrence", "resolve", "linear_scan", "resolve_scan", "warm_up",
           "recording", "note_ran"]

Recurrence = Callable[..., torch.Tensor]
KERNELS = KERNEL_CHOICES
_FUSED_DTYPES = (torch.float32, torch.float64)


_LOGS: list[set] = []  # open recording() logs; empty outside one, so noting costs one list check


@contextmanager
def recording() -> Iterator[set]:
    """Collect what ran inside the block: a set of ``(op, kernel, dtype)`` for every recurrence call.

    ``op`` is the operation (``"indrnn"``, ``"scan"``, ``"lstm"``, ...), ``kernel`` the concrete
    implementation that ran, ``dtype`` the dtype it computed in (``"float32"``, ``"bfloat16"``...).
    The bench opens one around a job's first step, so every job records the kernel and precision that
    really ran rather than the ones that were asked for.
    """
    log: set = set()
    _LOGS.append(log)
    try:
        yield log
    finally:
        _LOGS.remove(log)


def note_ran(op: str, kernel: str, dtype: torch.dtype) -> None:
    """Add one call to every open :func:`recording` (units with their own recurrence call this)."""
    for log in _LOGS:
        log.add((op, kernel, str(dtype).removeprefix("torch.")))


def _numba() -> Recurrence:
    from .cpu import recurrence_cpu  # numba is imported only when the CPU kernel is used

    return recurrence_cpu


def resolve(kernel: str, device: torch.device | str, dtype: torch.dtype = torch.float32) -> str:
    """The concrete kernel name that ``kernel`` means for tensors on ``device`` of ``dtype``."""
    if kernel not in KERNELS:
        raise ValueError(f"unknown IndRNN kernel {kernel!r}; choose one of {', '.join(KERNELS)}")
    device = torch.device(device)
    if kernel != "auto":
        wanted = {"numba": "cpu", "triton": "cuda", "triton_loop": "cuda"}.get(kernel)
        if wanted is not None and device.type != wanted:
            raise ValueError(f"IndRNN kernel {kernel!r} runs on {wanted} tensors, got {device.type}")
        return kernel
    # "auto" never falls back silently: a reference loop is orders of magnitude slower, so a run
    # that would time it must ask for it by name (kernel "reference").
    if dtype not in _FUSED_DTYPES:
        raise ValueError(f"IndRNN kernel 'auto': no fused kernel for {dtype} (only float32 and float64); "
                         "ask for kernel 'reference' to run the plain loop")
    if device.type == "cpu":
        return "numba"
    if device.type == "cuda":
        if not cuda.AVAILABLE:
            raise ValueError("IndRNN kernel 'auto' on CUDA needs Triton, which is not installed here "
                             "(pip install triton); ask for kernel 'reference' to run the plain loop instead")
        return "triton"
    raise ValueError(f"IndRNN kernel 'auto': no fused kernel for {device.type} tensors; ask for kernel 'reference'")


def recurrence(z: torch.Tensor, u: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None,
               kernel: str = "auto") -> torch.Tensor:
    """Run the recurrence with the named kernel.

    Args:
        z: ``(batch, time, hidden)`` input projections for all steps.
        u: ``(hidden,)`` recurrent weights.
        b: ``(hidden,)`` bias.
        h0: ``(batch, hidden)`` initial state, or ``None`` for zeros.
        kernel: one of :data:`KERNELS`.

    Returns:
        ``(batch, time, hidden)`` hidden states.
    """
    name = resolve(kernel, z.device, z.dtype)
    note_ran("indrnn", name, z.dtype)
    if name == "numba":
        return _numba()(z, u, b, h0)
    if name == "triton":
        return cuda.recurrence_cuda(z, u, b, h0)
    if name == "triton_loop":
        from .cuda_loop import recurrence_cuda_loop

        return recurrence_cuda_loop(z, u, b, h0)
    return recurrence_reference(z, u, b, h0)


# The diagonal linear recurrence h_t = a_t * h_{t-1} + b_t of the modern units (minGRU, minLSTM, LRU,
# Mamba). Issue 20 adds the fused back ends (numba, triton, the log-space parallel scan) here.
SCAN_KERNELS = ("auto", "reference")


def resolve_scan(kernel: str, device: torch.device | str, dtype: torch.dtype = torch.float32) -> str:
    """The concrete back end that ``kernel`` means for a linear scan on ``device`` of ``dtype``."""
    if kernel not in SCAN_KERNELS:
        raise ValueError(f"unknown scan kernel {kernel!r}; choose one of {', '.join(SCAN_KERNELS)}")
    return "reference"


def linear_scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None,
                kernel: str = "auto") -> torch.Tensor:
    """``h_t = a_t * h_{t-1} + b_t`` elementwise over ``(batch, time, channels)``; real or complex.

    Args:
        a: ``(batch, time, channels)`` decays.
        b: ``(batch, time, channels)`` inputs, the dtype of ``a``.
        h0: ``(batch, channels)`` initial state, or ``None`` for zeros.
        kernel: one of :data:`SCAN_KERNELS`.

    Returns:
        ``(batch, time, channels)`` states; differentiable in ``a``, ``b`` and ``h0``.
    """
    name = resolve_scan(kernel, a.device, a.dtype)
    note_ran("scan", name, a.dtype)
    return linear_scan_reference(a, b, h0)


def warm_up() -> None:
    """Compile or load the CPU kernels now, so their first call never lands in a timed step."""
    from .cpu import warm_up as _warm

    _warm()
