"""Fused CUDA kernels for the IndRNN recurrence (Triton): tiles of time steps, solved by a scan.

Why chunks: the recurrence is elementwise, so its floor is reading ``z`` and writing ``h`` once. A
kernel that loads one step, computes it and only then loads the next pays a memory round trip per
step and is latency-bound: the per-step kernel (``triton_loop``, :mod:`models.kernels.cuda_loop`)
takes 0.2-0.4 us per step on an H100, 20-70x the floor (issue 11). Here each program owns
``BLOCK`` neurons of one sequence and walks time ``CHUNK`` steps at a time: it loads a
``(CHUNK, BLOCK)`` tile in one go, already requests the next tile (prefetch), and solves the chunk
with an associative scan over its rows, so one round trip serves ``CHUNK`` steps and overlaps with
the work on the previous tile.

Forward. One step is the map ``h -> relu(u h + c)`` with ``c = z_t + b``. Maps of the form
``h -> clamp(A h + C, lo, hi)`` (clamp = ``min(max(., lo), hi)``, ``lo <= hi``) are closed under
composition: scaling a clamp by ``a >= 0`` scales its bounds, by ``a < 0`` also swaps them, and a
clamp of a clamp is a clamp with clamped bounds. A step is ``(u, c, 0, BIG)``. The scan gives, for
each row, the composition from the chunk's start; applied to the carried state it gives ``h_t``.
Outputs are clamped at ``lo >= 0``, so they are never negative; near zero they may differ from the
step-by-step loop by rounding, like any reordering of float sums. Limits: ``|u|**CHUNK`` must stay
finite (fp32: ``|u|`` below about 4 at CHUNK 64; the model bounds ``|u|`` near 1) and ``|h| < BIG``.

Backward. Given the saved outputs, ``g_t = dL/dz_t = m_t (dh_t + u g_{t+1})`` with
``m_t = [h_t > 0]`` is affine in ``g_{t+1}``; walking time backwards it scans like the forward. The
scan also carries ``g_{t+1}`` itself (map ``(a, b, c, d)``: ``g_t = a g + b``, ``g_{t+1} = c g + d``
for the state ``g`` entering the chunk), so ``dL/du = sum_t g_{t+1} h_t + g_0 h0`` needs only the
tile of ``h_t`` already loaded: two loads per step (``dh``, ``h``), no shifted third one.

Both loops are ``while`` loops: Triton 3.6's interpreter cannot use a run-time loop bound in
``range`` with NumPy >= 2.4 (``int()`` of a one-element array), and the interpreter is how CI
checks these kernels on CPU.

Importing this module never fails: ``AVAILABLE`` is False where triton (or CUDA) is missing, and
the dispatcher in :mod:`models.kernels` then never calls into it.
"""
from __future__ import annotations

import torch

from .fused import fused_recurrence

__all__ = ["AVAILABLE", "FP_FUSION", "ScanBackend", "launch_grid", "recurrence_cuda"]

try:  # triton ships with CUDA builds of torch; CPU-only installs have none
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - depends on the install
    triton = tl = None

AVAILABLE = triton is not None and torch.cuda.is_available()
CHUNK = 64  # time steps per tile: one memory round trip per CHUNK steps
BLOCK = 16  # neurons per program
NUM_WARPS = 4  # launch shape not yet tuned on a GPU: see tests/benchmarks/test_bench_kernels.py
# (CHUNK, BLOCK, NUM_WARPS) shapes the tuning sweep times: each compiles for sm_90 with no register
# spills in either kernel (tests/test_triton_compile.py; checked with Triton 3.6 and 3.9). Wider tiles
# per thread spill, and so do (32, 64, 8) and (64, 32, 8) with Triton 3.6.
SWEEP_SHAPES = ((16, 16, 2), (16, 16, 4), (16, 32, 4), (16, 64, 4), (16, 64, 8),
                (32, 16, 2), (32, 16, 4), (32, 16, 8), (32, 32, 4), (32, 32, 8),
                (64, 16, 4), (64, 16, 8), (64, 32, 4), (128, 16, 4), (128, 16, 8))
BIG = 1e30  # "no upper bound" of a step's clamp; finite, so 0 * BIG stays 0
# Fused multiply-adds on, as Triton has compiled by default up to 3.9. Stated here so that Triton 3.10,
# whose default turns them off, changes neither the kernels' rounding nor their speed.
FP_FUSION = True

if triton is not None:
    _BIG = tl.constexpr(BIG)  # a jit function may read a global only if it is a constexpr

    @triton.jit
    def _compose_clamp(a1, c1, lo1, hi1, a2, c2, lo2, hi2):
        """``f2(f1(h))`` for ``f(h) = clamp(a h + c, lo, hi)``; f1 is the earlier step."""
        p = a2 * lo1 + c2
        q = a2 * hi1 + c2
        up = a2 >= 0
        lo = tl.where(up, p, q)  # a negative scale swaps the bounds
        hi = tl.where(up, q, p)
        lo = tl.minimum(tl.maximum(lo, lo2), hi2)
        hi = tl.minimum(tl.maximum(hi, lo2), hi2)
        return a1 * a2, a2 * c1 + c2, lo, hi

    @triton.jit
    def _compose_affine2(a1, b1, c1, d1, a2, b2, c2, d2):
        """Backward step maps, scanned from late to early time; map 1 is the later step (applied first).

        A map sends the state ``g`` entering it to ``(a g + b, c g + d)`` = (its earliest ``g_t``,
        ``g_{t+1}``); the composition reads only the first component of map 1's output.
        """
        return a2 * a1, a2 * b1 + b2, c2 * a1, c2 * b1 + d2

    @triton.jit(do_not_specialize=["steps"])  # T = 1: no constexpr loop bound, no extra compile
    def _scan_forward_kernel(z_ptr, u_ptr, b_ptr, h0_ptr, out_ptr, steps, hidden,
                             CHUNK: tl.constexpr, BLOCK: tl.constexpr):
        seq = tl.program_id(0).to(tl.int64)
        cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
        rows = tl.arange(0, CHUNK)
        colmask = cols < hidden
        u = tl.load(u_ptr + cols, mask=colmask, other=0.0)
        b = tl.load(b_ptr + cols, mask=colmask, other=0.0)
        h = tl.load(h0_ptr + seq * hidden + cols, mask=colmask, other=0.0)  # (BLOCK,) carried state
        offs = rows[:, None] * hidden + cols[None, :]  # (CHUNK, BLOCK) within a chunk
        z_seq = z_ptr + seq * steps * hidden
        out_seq = out_ptr + seq * steps * hidden
        u_tile = tl.zeros([CHUNK, BLOCK], dtype=h.dtype) + u[None, :]
        lo_tile = tl.zeros([CHUNK, BLOCK], dtype=h.dtype)
        hi_tile = lo_tile + _BIG
        last = rows[:, None] == CHUNK - 1
        z_next = tl.load(z_seq + offs, mask=(rows[:, None] < steps) & colmask[None, :], other=0.0)
        t0 = 0
        while t0 < steps:
            z = z_next
            mask = ((t0 + rows)[:, None] < steps) & colmask[None, :]
            nxt = t0 + CHUNK  # request the next tile before working on this one
            z_next = tl.load(z_seq + nxt * hidden + offs,
                             mask=((nxt + rows)[:, None] < steps) & colmask[None, :], other=0.0)
            a, c, lo, hi = tl.associative_scan((u_tile, z + b[None, :], lo_tile, hi_tile), 0, _compose_clamp)
            hs = tl.minimum(tl.maximum(a * h[None, :] + c, lo), hi)  # (CHUNK, BLOCK)
            tl.store(out_seq + t0 * hidden + offs, hs, mask=mask)
            h = tl.sum(tl.where(last, hs, 0.0), axis=0)  # the chunk's last state carries on
            t0 = nxt

    @triton.jit(do_not_specialize=["steps"])  # T = 1: no constexpr loop bound, no extra compile
    def _scan_backward_kernel(grad_ptr, out_ptr, u_ptr, h0_ptr, dz_ptr, du_ptr, db_ptr, dh0_ptr,
                              steps, hidden, CHUNK: tl.constexpr, BLOCK: tl.constexpr):
        seq = tl.program_id(0).to(tl.int64)
        cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
        back = CHUNK - 1 - tl.arange(0, CHUNK)  # row r holds time t0 + CHUNK-1-r: late steps first
        colmask = cols < hidden
        u = tl.load(u_ptr + cols, mask=colmask, other=0.0)
        h0 = tl.load(h0_ptr + seq * hidden + cols, mask=colmask, other=0.0)
        offs = back[:, None] * hidden + cols[None, :]
        grad_seq = grad_ptr + seq * steps * hidden
        out_seq = out_ptr + seq * steps * hidden
        dz_seq = dz_ptr + seq * steps * hidden
        ones = tl.zeros([CHUNK, BLOCK], dtype=h0.dtype) + 1.0
        zeros = tl.zeros([CHUNK, BLOCK], dtype=h0.dtype)
        first = back[:, None] == 0  # the row of the chunk's earliest step
        g = tl.zeros_like(h0)  # dL/dz at the step after the chunk (0 after the last step)
        du = zeros  # per-element partial sums, reduced once at the end (not once per chunk)
        db = zeros
        t0 = (steps - 1) // CHUNK * CHUNK  # the last chunk first
        mask = ((t0 + back)[:, None] < steps) & colmask[None, :]
        dh_next = tl.load(grad_seq + t0 * hidden + offs, mask=mask, other=0.0)
        h_next = tl.load(out_seq + t0 * hidden + offs, mask=mask, other=0.0)
        while t0 >= 0:
            dh, hs = dh_next, h_next
            mask = ((t0 + back)[:, None] < steps) & colmask[None, :]
            prv = t0 - CHUNK  # request the previous chunk before working on this one
            pmask = ((prv + back)[:, None] >= 0) & colmask[None, :]  # all off once prv < 0
            dh_next = tl.load(grad_seq + prv * hidden + offs, mask=pmask, other=0.0)
            h_next = tl.load(out_seq + prv * hidden + offs, mask=pmask, other=0.0)
            on = hs > 0.0  # relu'(pre-activation) = [h_t > 0]; 0 on padding rows
            a, b, c, d = tl.associative_scan((tl.where(on, u[None, :], 0.0), tl.where(on, dh, 0.0), ones, zeros),
                                             0, _compose_affine2)
            dz = a * g[None, :] + b  # (CHUNK, BLOCK) g_t
            g_after = c * g[None, :] + d  # (CHUNK, BLOCK) g_{t+1}
            tl.store(dz_seq + t0 * hidden + offs, dz, mask=mask)
            du += g_after * hs
            db += dz
            g = tl.sum(tl.where(first, dz, 0.0), axis=0)  # g at the chunk's earliest step
            t0 = prv
        tl.store(dh0_ptr + seq * hidden + cols, g * u, mask=colmask)
        # the first step's h_{t-1} is the initial state
        tl.store(du_ptr + seq * hidden + cols, tl.sum(du, axis=0) + g * h0, mask=colmask)
        tl.store(db_ptr + seq * hidden + cols, tl.sum(db, axis=0), mask=colmask)


def launch_grid(batch: int, width: int, block: int) -> tuple[int, int]:
    """One program per (sequence, block of ``block`` neurons or channels): the grid of every chunked
    kernel here and in :mod:`.scan_cuda`."""
    return batch, -(-width // block)


class ScanBackend:
    """Launches the chunked-scan kernels: one program per (sequence, block of ``block`` neurons).

    Small blocks give many programs (batch 16 x hidden 128 = 128 programs of 16 neurons, where one
    program per sequence would give 16), and keep a tile in registers: compiled for sm_90, the
    default shape uses 128-136 registers per thread and spills none; block 64 spills.

    Args:
        chunk: time steps per tile (a power of two).
        block: neurons per program (a power of two).
        num_warps: warps per program.
    """

    def __init__(self, chunk: int = CHUNK, block: int = BLOCK, num_warps: int = NUM_WARPS):
        self.chunk, self.block, self.num_warps = chunk, block, num_warps

    def forward(self, z, u, b, h0, out):
        batch, steps, hidden = z.shape
        grid = launch_grid(batch, hidden, self.block)
        _scan_forward_kernel[grid](z, u, b, h0, out, steps, hidden, CHUNK=self.chunk, BLOCK=self.block,
                                   num_warps=self.num_warps, enable_fp_fusion=FP_FUSION)

    def backward(self, grad_out, out, u, h0, dz, du_rows, db_rows, dh0):
        batch, steps, hidden = out.shape
        grid = launch_grid(batch, hidden, self.block)
        _scan_backward_kernel[grid](grad_out, out, u, h0, dz, du_rows, db_rows, dh0, steps, hidden,
                                    CHUNK=self.chunk, BLOCK=self.block, num_warps=self.num_warps,
                                    enable_fp_fusion=FP_FUSION)


DEFAULT = ScanBackend()


def recurrence_cuda(z: torch.Tensor, u: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None,
                    backend: ScanBackend = DEFAULT) -> torch.Tensor:
    """Fused CUDA recurrence; same contract as :func:`models.kernels.reference.recurrence_reference`.

    ``backend`` sets the launch shape (tests use small tiles in the interpreter; tuning tries others).
    """
    if triton is None:
        raise RuntimeError("the CUDA IndRNN kernel needs triton, which is not installed")
    return fused_recurrence(backend, z, u, b, h0)
