"""Fused CUDA kernels for the diagonal linear recurrence ``h_t = a_t * h_{t-1} + b_t`` (Triton).

Built like the IndRNN's chunked kernels (:mod:`.cuda`, whose launch options and grid they share):
each program owns ``BLOCK`` channels of one sequence and walks time ``CHUNK`` steps at a time,
loading a ``(CHUNK, BLOCK)`` tile in one memory round trip and solving it in registers with an
associative scan over its rows. A step is the affine map ``h -> a h + b``; two steps compose as

    (a1, b1) then (a2, b2) = (a2 a1, a2 b1 + b2),

which is associative, so the scan gives every row's map from the chunk's start, and applying it to
the state carried in from the previous chunk gives ``h_t``. (This is the first-order recurrence as a
scan over affine maps, as in Blelloch 1990, "Prefix sums and their applications"; Triton's
``associative_scan`` runs it as a tree inside the tile, the chunks follow one another.) Complex tensors (the LRU) are read as
interleaved (real, imaginary) float lanes (``torch.view_as_real``) and the same maps are composed
in complex arithmetic on the two lanes; ``COMPLEX`` is a compile-time switch, so real tensors pay
nothing for it.

Backward. ``g_t = dL/dh_t + conj(a_{t+1}) g_{t+1}`` is the same affine scan run from late to early
time (rows of a tile are read in reverse), with ``dL/da_t = g_t conj(h_{t-1})`` (``h_{-1}`` = h0),
``dL/db_t = g_t`` and ``dL/dh0 = conj(a_0) g_0`` (see :mod:`.scan_cpu` for the derivation). Three
tiles are loaded per chunk: the upstream gradient, ``a`` one step later and the states one step
earlier (both shifted loads hit the cache lines of their neighbours).

Limits: as for the loop, ``|prod a|`` over a chunk must stay finite (``|a| <= 1`` in every unit
here). Unlike the IndRNN's kernels there is no prefetch of the next tile yet, and the launch shape
is untuned: nothing here has run on a GPU. Measure with ``tests/benchmarks/test_bench_scan.py``
before changing either.

Importing this module never fails: ``AVAILABLE`` (from :mod:`.cuda`) is False without triton or
CUDA, and the dispatcher then never calls into it.
"""
from __future__ import annotations

import torch

from .cuda import AVAILABLE, FP_FUSION, launch_grid, tl, triton
from .fused import fused_scan

__all__ = ["AVAILABLE", "TritonScan", "linear_scan_cuda", "DEFAULT", "DEFAULT_COMPLEX"]

CHUNK = 64  # time steps per tile, as the IndRNN's
BLOCK = 16  # channels per program
NUM_WARPS = 4
# Complex tiles hold twice the numbers: with 4 warps complex128 spills 8 bytes (sm_90, width 1); with
# 8 warps no dtype spills (tests/test_triton_compile.py). Neither shape is tuned on a GPU yet.
NUM_WARPS_COMPLEX = 8

if triton is not None:

    @triton.jit
    def _compose(a1, b1, a2, b2):
        """Real maps: step 1 (earlier in scan order) then step 2."""
        return a2 * a1, a2 * b1 + b2

    @triton.jit
    def _compose_complex(ar1, ai1, br1, bi1, ar2, ai2, br2, bi2):
        """Complex maps on (real, imaginary) lanes: step 1 then step 2."""
        return (ar2 * ar1 - ai2 * ai1, ar2 * ai1 + ai2 * ar1,
                ar2 * br1 - ai2 * bi1 + br2, ar2 * bi1 + ai2 * br1 + bi2)

    @triton.jit(do_not_specialize=["steps"])  # T = 1: no constexpr loop bound, no extra compile
    def _linear_scan_forward_kernel(a_ptr, b_ptr, h0_ptr, out_ptr, steps, width,
                                    CHUNK: tl.constexpr, BLOCK: tl.constexpr, COMPLEX: tl.constexpr):
        # element (t, j) of a sequence sits at LANES * (t * width + j) (+ 1 for the imaginary lane)
        LANES: tl.constexpr = 2 if COMPLEX else 1
        seq = tl.program_id(0).to(tl.int64)
        cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
        rows = tl.arange(0, CHUNK)
        colmask = cols < width
        offs = LANES * (rows[:, None] * width + cols[None, :])  # (CHUNK, BLOCK) within a chunk
        last = rows[:, None] == CHUNK - 1
        base = seq * steps * width * LANES
        hr = tl.load(h0_ptr + LANES * (seq * width + cols), mask=colmask, other=0.0)  # (BLOCK,) carried state
        if COMPLEX:
            hi = tl.load(h0_ptr + 2 * (seq * width + cols) + 1, mask=colmask, other=0.0)
        t0 = 0
        while t0 < steps:
            mask = ((t0 + rows)[:, None] < steps) & colmask[None, :]
            at = base + LANES * t0 * width + offs
            # past the last step: the identity map (a = 1, b = 0), so the last row is the last state
            ar = tl.load(a_ptr + at, mask=mask, other=1.0)
            br = tl.load(b_ptr + at, mask=mask, other=0.0)
            if COMPLEX:
                ai = tl.load(a_ptr + at + 1, mask=mask, other=0.0)
                bi = tl.load(b_ptr + at + 1, mask=mask, other=0.0)
                ar, ai, br, bi = tl.associative_scan((ar, ai, br, bi), 0, _compose_complex)
                sr = ar * hr[None, :] - ai * hi[None, :] + br  # (CHUNK, BLOCK)
                si = ar * hi[None, :] + ai * hr[None, :] + bi
                tl.store(out_ptr + at, sr, mask=mask)
                tl.store(out_ptr + at + 1, si, mask=mask)
                hr = tl.sum(tl.where(last, sr, 0.0), axis=0)
                hi = tl.sum(tl.where(last, si, 0.0), axis=0)
            else:
                ar, br = tl.associative_scan((ar, br), 0, _compose)
                sr = ar * hr[None, :] + br  # (CHUNK, BLOCK)
                tl.store(out_ptr + at, sr, mask=mask)
                hr = tl.sum(tl.where(last, sr, 0.0), axis=0)  # the chunk's last state carries on
            t0 += CHUNK

    @triton.jit(do_not_specialize=["steps"])
    def _linear_scan_backward_kernel(grad_ptr, a_ptr, out_ptr, h0_ptr, da_ptr, db_ptr, dh0_ptr, steps, width,
                                     CHUNK: tl.constexpr, BLOCK: tl.constexpr, COMPLEX: tl.constexpr):
        LANES: tl.constexpr = 2 if COMPLEX else 1
        seq = tl.program_id(0).to(tl.int64)
        cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
        back = CHUNK - 1 - tl.arange(0, CHUNK)  # row r holds time t0 + CHUNK-1-r: late steps first
        colmask = cols < width
        offs = LANES * (back[:, None] * width + cols[None, :])
        first = back[:, None] == 0  # the row of the chunk's earliest step
        base = seq * steps * width * LANES
        h0_at = LANES * (seq * width + cols)
        h0r = tl.load(h0_ptr + h0_at, mask=colmask, other=0.0)
        gr = tl.zeros_like(h0r)  # g at the step after the chunk (0 after the last step)
        if COMPLEX:
            h0i = tl.load(h0_ptr + h0_at + 1, mask=colmask, other=0.0)
            gi = tl.zeros_like(h0r)
        t0 = (steps - 1) // CHUNK * CHUNK  # the last chunk first
        while t0 >= 0:
            times = (t0 + back)[:, None]
            mask = (times < steps) & colmask[None, :]
            at = base + LANES * t0 * width + offs
            nmask = (times + 1 < steps) & colmask[None, :]  # a_{t+1} exists
            pmask = (times >= 1) & mask  # h_{t-1} is a state, not h0
            dhr = tl.load(grad_ptr + at, mask=mask, other=0.0)
            cr = tl.load(a_ptr + at + LANES * width, mask=nmask, other=0.0)  # a_{t+1}
            hpr = tl.load(out_ptr + at - LANES * width, mask=pmask, other=0.0)  # h_{t-1}
            hpr = tl.where(times == 0, h0r[None, :], hpr)
            if COMPLEX:
                dhi = tl.load(grad_ptr + at + 1, mask=mask, other=0.0)
                ci = -tl.load(a_ptr + at + LANES * width + 1, mask=nmask, other=0.0)  # conj(a_{t+1})
                hpi = tl.load(out_ptr + at - LANES * width + 1, mask=pmask, other=0.0)
                hpi = tl.where(times == 0, h0i[None, :], hpi)
                cr, ci, dhr, dhi = tl.associative_scan((cr, ci, dhr, dhi), 0, _compose_complex)
                sr = cr * gr[None, :] - ci * gi[None, :] + dhr  # (CHUNK, BLOCK) g_t
                si = cr * gi[None, :] + ci * gr[None, :] + dhi
                tl.store(db_ptr + at, sr, mask=mask)
                tl.store(db_ptr + at + 1, si, mask=mask)
                tl.store(da_ptr + at, sr * hpr + si * hpi, mask=mask)  # g conj(h_{t-1})
                tl.store(da_ptr + at + 1, si * hpr - sr * hpi, mask=mask)
                gr = tl.sum(tl.where(first, sr, 0.0), axis=0)
                gi = tl.sum(tl.where(first, si, 0.0), axis=0)
            else:
                cr, dhr = tl.associative_scan((cr, dhr), 0, _compose)
                sr = cr * gr[None, :] + dhr  # (CHUNK, BLOCK) g_t
                tl.store(db_ptr + at, sr, mask=mask)
                tl.store(da_ptr + at, sr * hpr, mask=mask)
                gr = tl.sum(tl.where(first, sr, 0.0), axis=0)  # g at the chunk's earliest step
            t0 -= CHUNK
        # dL/dh0 = conj(a_0) g_0
        a0 = base + LANES * cols
        a0r = tl.load(a_ptr + a0, mask=colmask, other=0.0)
        if COMPLEX:
            a0i = tl.load(a_ptr + a0 + 1, mask=colmask, other=0.0)
            tl.store(dh0_ptr + h0_at, a0r * gr + a0i * gi, mask=colmask)
            tl.store(dh0_ptr + h0_at + 1, a0r * gi - a0i * gr, mask=colmask)
        else:
            tl.store(dh0_ptr + h0_at, a0r * gr, mask=colmask)


def _lanes(t: torch.Tensor) -> torch.Tensor:
    """Complex tensors as their interleaved real lanes (no copy); real ones as they are."""
    return torch.view_as_real(t) if t.is_complex() else t


class TritonScan:
    """Launches the chunked scan kernels: one program per (sequence, block of ``block`` channels).

    Args:
        chunk: time steps per tile (a power of two).
        block: channels per program (a power of two).
        num_warps: warps per program.
    """

    def __init__(self, chunk: int = CHUNK, block: int = BLOCK, num_warps: int = NUM_WARPS):
        self.chunk, self.block, self.num_warps = chunk, block, num_warps

    def _launch(self, kernel, like: torch.Tensor, *tensors):
        batch, steps, width = like.shape
        kernel[launch_grid(batch, width, self.block)](
            *(_lanes(t) for t in tensors), steps, width, CHUNK=self.chunk, BLOCK=self.block,
            COMPLEX=like.is_complex(), num_warps=self.num_warps, enable_fp_fusion=FP_FUSION)

    def scan_forward(self, a, b, h0, out):
        self._launch(_linear_scan_forward_kernel, a, a, b, h0, out)

    def scan_backward(self, grad_out, a, out, h0, da, db, dh0):
        self._launch(_linear_scan_backward_kernel, a, grad_out, a, out, h0, da, db, dh0)


DEFAULT = TritonScan()
DEFAULT_COMPLEX = TritonScan(num_warps=NUM_WARPS_COMPLEX)


def linear_scan_cuda(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None,
                     backend: TritonScan | None = None) -> torch.Tensor:
    """Fused CUDA scan; same contract as :func:`models.kernels.scan_reference.linear_scan_reference`.

    ``backend`` sets the launch shape (default: :data:`DEFAULT`, or :data:`DEFAULT_COMPLEX` for
    complex tensors; tests use small tiles in the interpreter).
    """
    if triton is None:
        raise RuntimeError("the CUDA scan kernel needs triton, which is not installed")
    if backend is None:
        backend = DEFAULT_COMPLEX if a.is_complex() else DEFAULT
    return fused_scan(backend, a, b, h0)
