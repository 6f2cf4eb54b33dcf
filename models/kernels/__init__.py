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

The diagonal linear recurrence ``h_t = a_t * h_{t-1} + b_t`` of the modern units (minGRU, minLSTM,
LRU, Mamba), real or complex, has its own back ends, chosen by :func:`linear_scan` the same way (and
``auto`` refuses to fall back the same way):

============  ==============================================================  ======================
name          implementation                                                  used by ``"auto"`` for
============  ==============================================================  ======================
``numba``     fused CPU loops (numba, parallel over the batch), own backward  CPU (all four dtypes)
              (:mod:`.scan_cpu`)
``triton``    fused CUDA kernels (Triton), chunks of steps scanned in         CUDA (all four dtypes)
              registers, own backward (:mod:`.scan_cuda`)
``logspace``  log-space parallel scan (Heinsen 2023: ``cumsum`` +             (never; a choice to time)
              ``logcumsumexp``), any device; precision limits in
              :mod:`.scan_logspace`
``reference`` Python loop of tensor ops, autograd backward                    (never: asked by name)
============  ==============================================================  ======================

Mamba's selective scan (``h_t = exp(Delta_t A) h_{t-1} + Delta_t B_t x_t``, ``y_t = C_t . h_t``) is one
such scan over ``E * N`` channels; :func:`selective_scan` runs it fused on the CPU (``numba``: the
states never leave a per-sequence buffer, :mod:`.selective_cpu`) and otherwise, for every other back
end, as :func:`selective_scan_unfused`: ``a``, ``b`` materialised and scanned by :func:`linear_scan`.
minGRU's and minLSTM's layers are likewise :func:`gated_scan`: on the CPU (``numba``) gates and scan in
one fused kernel (:mod:`.gated_cpu`), otherwise the gates of :mod:`.gates` and :func:`linear_scan`.

Scan dtypes: float32, float64, complex64, complex128 run as they are; bfloat16/float16 (autocast) run
in float32 and the result stays float32, as the IndRNN's recurrence does (complex32: complex64).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Callable, Iterator

import torch
import torch.nn.functional as F

from ..config import KERNEL_CHOICES
from . import cuda
from .reference import recurrence_reference
from .scan_reference import linear_scan_reference

__all__ = ["KERNELS", "SCAN_KERNELS", "SCAN_DTYPES", "recurrence", "resolve", "linear_scan", "resolve_scan",
           "scan_dtype", "selective_scan", "selective_scan_unfused", "gated_scan", "warm_up", "compiled", "cache_folder", "CPU_OPS", "recording", "note_ran"]

Recurrence = Callable[..., torch.Tensor]
KERNELS = KERNEL_CHOICES
"""The names :func:`recurrence` accepts (``ModelConfig.kernel``): ``auto``, ``numba``, ``triton``,
``triton_loop`` and ``reference``."""
_FUSED_DTYPES = (torch.float32, torch.float64)


_LOGS: list[set] = []  # open recording() logs; empty outside one, so noting costs one list check


@contextmanager
def recording() -> Iterator[set]:
    """Collect what ran inside the block: a set of ``(op, kernel, dtype)`` for every recurrence call.

    ``op`` is the operation (``"indrnn"``, ``"scan"``, ``"lstm"``, ...), ``kernel`` the concrete
    implementation that ran, ``dtype`` the dtype it computed in (``"float32"``, ``"bfloat16"``...).
    The bench opens one around a job's training, so every job records the kernel and precision that
    really ran rather than the ones that were asked for. Blocks may nest: each open recording sees
    every call.

    Yields:
        The set, filled as calls run (read it after the block).

    Examples:
        >>> import torch
        >>> from models.kernels import linear_scan, recording
        >>> with recording() as ran:
        ...     _ = linear_scan(torch.rand(1, 3, 2), torch.rand(1, 3, 2), kernel="reference")
        >>> ran
        {('scan', 'reference', 'float32')}
    """
    log: set = set()
    _LOGS.append(log)
    try:
        yield log
    finally:
        _LOGS.remove(log)


def note_ran(op: str, kernel: str, dtype: torch.dtype) -> None:
    """Add one call to every open :func:`recording` (units with their own recurrence call this).

    Args:
        op: the operation, e.g. ``"indrnn"``, ``"scan"``, ``"lstm"``.
        kernel: the implementation that ran, e.g. ``"numba"``, ``"aten"``, ``"cudnn-layer"``.
        dtype: the dtype it computed in.
    """
    for log in _LOGS:
        log.add((op, kernel, str(dtype).removeprefix("torch.")))


_HOME = {"numba": "cpu", "triton": "cuda", "triton_loop": "cuda"}  # kernels that run on one device type only


def _check_kernel(op: str, kernel: str, choices: tuple[str, ...], device: torch.device | str) -> torch.device:
    """``device`` as a torch.device, once ``kernel`` is known for ``op`` and can run there (else ValueError)."""
    if kernel not in choices:
        raise ValueError(f"unknown {op} kernel {kernel!r}; choose one of {', '.join(choices)}")
    device = torch.device(device)
    wanted = _HOME.get(kernel)
    if wanted is not None and device.type != wanted:
        raise ValueError(f"{op} kernel {kernel!r} runs on {wanted} tensors, got {device.type}")
    return device


def _auto_fused(op: str, device: torch.device, dtype: torch.dtype, dtypes: tuple[torch.dtype, ...]) -> str:
    """What ``"auto"`` means for ``op`` on ``device`` for ``dtype``: the fused kernel, never a silent
    fall back to the reference loop (orders of magnitude slower), which must be asked for by name."""
    if dtype not in dtypes:
        names = ", ".join(str(d).removeprefix("torch.") for d in dtypes)
        raise ValueError(f"{op} kernel 'auto': no fused kernel for {dtype} (only {names}); "
                         "ask for kernel 'reference' to run the plain loop")
    if device.type == "cpu":
        return "numba"
    if device.type == "cuda":
        if not cuda.AVAILABLE:
            raise ValueError(f"{op} kernel 'auto' on CUDA needs Triton, which is not installed here "
                             "(pip install triton); ask for kernel 'reference' to run the plain loop instead")
        return "triton"
    raise ValueError(f"{op} kernel 'auto': no fused kernel for {device.type} tensors; ask for kernel 'reference'")


def _numba() -> Recurrence:
    from .cpu import recurrence_cpu  # numba is imported only when the CPU kernel is used

    return recurrence_cpu


def resolve(kernel: str, device: torch.device | str, dtype: torch.dtype = torch.float32) -> str:
    """The concrete kernel name that ``kernel`` means for tensors on ``device`` of ``dtype``.

    Args:
        kernel: one of :data:`KERNELS`.
        device: where the tensors are.
        dtype: their dtype.

    Returns:
        ``kernel`` itself unless it is ``"auto"``, which means ``"numba"`` on the CPU and ``"triton"``
            on CUDA.

    Raises:
        ValueError: an unknown name, a kernel that cannot run on ``device``, or ``"auto"`` where no fused
            kernel runs (a dtype other than float32/float64, CUDA without Triton, another device).
    """
    device = _check_kernel("IndRNN", kernel, KERNELS, device)
    if kernel != "auto":
        return kernel
    # "auto" never falls back silently: a reference loop is orders of magnitude slower, so a run
    # that would time it must ask for it by name (kernel "reference").
    return _auto_fused("IndRNN", device, dtype, _FUSED_DTYPES)


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

    Raises:
        ValueError: ``kernel`` cannot run these tensors (:func:`resolve`).
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


# The diagonal linear recurrence h_t = a_t * h_{t-1} + b_t of the modern units (minGRU, minLSTM, LRU, Mamba).
SCAN_KERNELS = ("auto", "numba", "triton", "logspace", "reference")
"""The back ends :func:`linear_scan` accepts (``ModelConfig.scan_kernel``, ``--scan-kernel``)."""
SCAN_DTYPES = (torch.float32, torch.float64, torch.complex64, torch.complex128)
"""The dtypes the fused scans compute in; half precisions are widened to these (:func:`scan_dtype`)."""
_WIDEN = {torch.bfloat16: torch.float32, torch.float16: torch.float32, torch.complex32: torch.complex64}


def scan_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype a scan of ``dtype`` inputs computes in and returns: half precisions widen to 32 bits.

    Args:
        dtype: the inputs' dtype.

    Returns:
        float32 for bfloat16 and float16, complex64 for complex32, else ``dtype``.
    """
    return _WIDEN.get(dtype, dtype)


def resolve_scan(kernel: str, device: torch.device | str, dtype: torch.dtype = torch.float32) -> str:
    """The concrete back end that ``kernel`` means for a linear scan on ``device`` of ``dtype``.

    ``"auto"`` is ``numba`` on CPU and ``triton`` on CUDA; where neither runs (CUDA without triton,
    another device, an integer dtype) it is an error: the reference loop must be asked for by name.

    Args:
        kernel: one of :data:`SCAN_KERNELS`.
        device: where the tensors are.
        dtype: the inputs' dtype (widened by :func:`scan_dtype` before the check).

    Returns:
        The back end's name.

    Raises:
        ValueError: an unknown name, a back end that cannot run on ``device``, or ``"auto"`` where no
            fused kernel runs.
    """
    device = _check_kernel("scan", kernel, SCAN_KERNELS, device)
    if kernel != "auto":
        return kernel
    return _auto_fused("scan", device, scan_dtype(dtype), SCAN_DTYPES)


def linear_scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None,
                kernel: str = "auto") -> torch.Tensor:
    """``h_t = a_t * h_{t-1} + b_t`` elementwise over ``(batch, time, channels)``; real or complex.

    Args:
        a: ``(batch, time, channels)`` decays, or ``(channels,)``: one decay for every sequence and
            step (the LRU's ``lambda``), which the ``numba`` kernel reads once per sequence, summing
            its gradient as it goes (every other back end scans it expanded).
        b: ``(batch, time, channels)`` inputs, the dtype of ``a`` (if they differ, both are promoted
            to their common dtype).
        h0: ``(batch, channels)`` initial state, or ``None`` for zeros.
        kernel: one of :data:`SCAN_KERNELS`.

    Returns:
        ``(batch, time, channels)`` states in :func:`scan_dtype` of the inputs' dtype (``a``'s own
            dtype, except bfloat16/float16 inputs, which give float32); differentiable in ``a``, ``b``
            and ``h0``.

    Raises:
        ValueError: the shapes do not match, or ``kernel`` cannot run these tensors (:func:`resolve_scan`).

    Examples:
        >>> import torch
        >>> from models.kernels import linear_scan
        >>> a = torch.full((1, 4, 2), 0.5)  # (batch, time, channels)
        >>> b = torch.ones(1, 4, 2)
        >>> linear_scan(a, b)[0, :, 0]  # numba on the CPU: 1, 0.5 * 1 + 1, ...
        tensor([1.0000, 1.5000, 1.7500, 1.8750])
        >>> lam = torch.tensor([0.9 + 0.1j])  # one complex decay for every sequence and step (the LRU's)
        >>> linear_scan(lam, torch.ones(2, 3, 1, dtype=torch.complex64), kernel="reference").shape
        torch.Size([2, 3, 1])
    """
    if b.dim() != 3 or a.shape not in (b.shape, b.shape[2:]):
        raise ValueError("a and b must both be (batch, time, channels), or a (channels,) with b (batch, time, "
                         f"channels); got {tuple(a.shape)} and {tuple(b.shape)}")
    batch, steps, channels = b.shape
    if h0 is not None and h0.shape != (batch, channels):
        raise ValueError(f"h0 must be (batch, channels) = {(batch, channels)}, got {tuple(h0.shape)}")
    dtype = scan_dtype(torch.promote_types(a.dtype, b.dtype))
    name = resolve_scan(kernel, b.device, dtype)
    a, b = a.to(dtype), b.to(dtype)  # no copy when the dtype is already right
    h0 = None if h0 is None else h0.to(dtype)
    note_ran("scan", name, dtype)
    if steps == 0:
        return b.new_empty(b.shape)
    if a.dim() == 1:  # one decay for all: numba reads a row per sequence, the others the full tensor
        a = a.expand(batch, 1 if name == "numba" else steps, channels)
    if name == "numba":
        from .scan_cpu import linear_scan_cpu

        return linear_scan_cpu(a, b, h0)
    if name == "triton":
        from .scan_cuda import linear_scan_cuda

        return linear_scan_cuda(a, b, h0)
    if name == "logspace":
        from .scan_logspace import linear_scan_logspace

        return linear_scan_logspace(a, b, h0)
    return linear_scan_reference(a, b, h0)


def selective_scan_unfused(x: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor,
                           C: torch.Tensor, kernel: str = "auto", *, D: torch.Tensor | None = None,
                           z: torch.Tensor | None = None) -> torch.Tensor:
    """The selective scan with ``a``, ``b`` and ``h`` materialised, scanned by :func:`linear_scan`
    (back end ``kernel``), skip and gate as tensor operations; autograd does the rest. The reference
    the fused kernel is tested against.

    Args:
        x: ``(batch, time, E)`` inputs.
        delta: ``(batch, time, E)`` steps.
        A: ``(E, N)`` state matrix (diagonal per channel).
        B: ``(batch, time, N)`` input projections.
        C: ``(batch, time, N)`` output projections.
        kernel: the :func:`linear_scan` back end.
        D: ``(E,)`` skip weights, or None for no skip.
        z: ``(batch, time, E)`` gate, or None for no gate.

    Returns:
        ``(batch, time, E)``, as :func:`selective_scan`.
    """
    batch, steps, inner = x.shape
    a = torch.exp(delta.unsqueeze(-1) * A)  # (batch, time, E, N)
    b = (delta * x).unsqueeze(-1) * B.unsqueeze(-2)  # (batch, time, E, N)
    h = linear_scan(a.reshape(batch, steps, -1), b.reshape(batch, steps, -1), None, kernel)  # (batch, time, E*N)
    y = torch.einsum("bten,btn->bte", h.view(batch, steps, inner, -1), C)  # (batch, time, E)
    if D is not None:
        y = y + D * x
    return y if z is None else y * F.silu(z)


def selective_scan(x: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                   kernel: str = "auto", *, D: torch.Tensor | None = None, z: torch.Tensor | None = None) -> torch.Tensor:
    """Mamba's selective scan from ``h_0 = 0``: ``y_t[e] = (sum_n C_t[n] h_t[e, n] + D[e] x_t[e]) silu(z_t[e])``
    with ``h_t[e, n] = exp(delta_t[e] A[e, n]) h_{t-1}[e, n] + delta_t[e] B_t[n] x_t[e]``.

    Args:
        x: ``(batch, time, E)`` inputs.
        delta: ``(batch, time, E)`` steps.
        A: ``(E, N)``.
        B: ``(batch, time, N)``.
        C: ``(batch, time, N)``.
        kernel: one of :data:`SCAN_KERNELS`; ``numba`` (``auto`` on CPU) runs the fused kernel
            (:mod:`.selective_cpu`), every other back end :func:`selective_scan_unfused`.
        D: ``(E,)`` skip weights, or None for no skip.
        z: ``(batch, time, E)`` gate, or None for no gate; all of one real dtype.

    Returns:
        ``(batch, time, E)``, differentiable in every input.
    """
    name = resolve_scan(kernel, x.device, x.dtype)
    if name != "numba" or x.dtype not in _FUSED_DTYPES or x.shape[1] == 0:
        return selective_scan_unfused(x, delta, A, B, C, name, D=D, z=z)  # linear_scan notes what ran
    note_ran("selective_scan", name, x.dtype)
    from .selective_cpu import selective_scan_cpu

    return selective_scan_cpu(x, delta, A, B, C, D, z)


def gated_scan(kind: str, p: torch.Tensor, kernel: str = "auto") -> torch.Tensor:
    """A minGRU (``kind="mingru"``) or minLSTM (``"minlstm"``) layer's states from its input projection.

    Args:
        kind: ``"mingru"`` (``p = [k, h~]``, ``2 H`` wide) or ``"minlstm"`` (``p = [k_f, k_i, h~]``, ``3 H``).
        p: ``(batch, time, blocks * H)`` projection of the layer's input.
        kernel: one of :data:`SCAN_KERNELS`; ``numba`` (``auto`` on CPU) runs the gates and the scan
            in one fused kernel (:mod:`.gated_cpu`), every other back end computes ``a``, ``b`` as
            tensor operations (:mod:`.gates`) and scans them with :func:`linear_scan`.

    Returns:
        ``(batch, time, H)`` states from ``h_0 = 0``, in :func:`scan_dtype` of ``p``'s dtype.

    Raises:
        ValueError: an unknown ``kind``, a ``p`` of the wrong shape, or a back end that cannot run it.
    """
    from .gates import GATED

    if kind not in GATED:
        raise ValueError(f"gated_scan: unknown kind {kind!r}; choose one of {', '.join(GATED)}")
    blocks, coefficients = GATED[kind]
    if p.dim() != 3 or p.shape[2] % blocks:
        raise ValueError(f"gated_scan {kind}: p must be (batch, time, {blocks} * H), got {tuple(p.shape)}")
    dtype = scan_dtype(p.dtype)
    name = resolve_scan(kernel, p.device, dtype)
    p = p.to(dtype)
    if name != "numba" or dtype not in _FUSED_DTYPES or p.shape[1] == 0:
        a, b = coefficients(p)
        return linear_scan(a, b, None, name)  # linear_scan notes what ran
    note_ran("gated_scan", name, dtype)
    from .gated_cpu import gated_scan_cpu

    return gated_scan_cpu(kind, p)


CPU_OPS: dict[str, str] = {"indrnn": "cpu", "scan": "scan_cpu", "selective_scan": "selective_cpu",
                           "gated_scan": "gated_cpu"}
"""The kernel families numba compiles for the CPU (``op`` -> its module in this package): the names
:func:`warm_up`, :func:`compiled` and :func:`cache_folder` take."""


def _cpu_module(op: str):
    if op not in CPU_OPS:
        raise ValueError(f"unknown op {op!r}; one of {', '.join(map(repr, CPU_OPS))}")
    import importlib

    return importlib.import_module(f"{__name__}.{CPU_OPS[op]}")


def warm_up(op: str = "indrnn") -> None:
    """Compile or load the CPU kernels of ``op`` (``"indrnn"``, ``"scan"``, ``"selective_scan"`` or ``"gated_scan"``) now,
    so their first call never lands in a timed step.

    The layers call it when they are built with ``"auto"`` or ``"numba"``. numba keeps the compiled
    code on disk: a new process loads it (seconds), and only a change of the code compiles again.

    Args:
        op: which kernels, a key of :data:`CPU_OPS`.

    Raises:
        ValueError: an unknown ``op``.
    """
    _cpu_module(op).warm_up()


def compiled(op: str) -> bool:
    """Whether numba's disk cache already holds ``op``'s CPU kernels, so that :func:`warm_up` loads them in
    a second rather than compiling them (a minute or more each on a small machine). Imports numba's
    modules, compiles nothing.

    Args:
        op: a key of :data:`CPU_OPS`.

    Returns:
        True when every cached kernel of the op has its index file in numba's cache folder.
    """
    return all(os.path.exists(f._cache._cache_file._index_path) for f in _disk_cached(op))


def cache_folder(op: str = "indrnn") -> str:
    """The folder where numba keeps ``op``'s compiled CPU kernels (beside the sources when writable).

    Args:
        op: a key of :data:`CPU_OPS`.

    Returns:
        The folder's path.
    """
    return _disk_cached(op)[0]._cache.cache_path


def _disk_cached(op: str) -> list:
    """``op``'s numba kernels that numba keeps on disk (``cache=True``), in its module."""
    from numba.core.dispatcher import Dispatcher

    return [f for f in vars(_cpu_module(op)).values() if isinstance(f, Dispatcher) and hasattr(f._cache, "_cache_file")]
