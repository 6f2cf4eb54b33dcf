"""The first CUDA kernel for the IndRNN recurrence (Triton), one time step per memory round trip.

Kept, selectable as ``kernel="triton_loop"``, as the baseline the chunked kernel
(:mod:`models.kernels.cuda`, ``"triton"``) is measured against. Same algorithm as the CPU kernel
(:mod:`models.kernels.cpu`): one program per (sequence, block of ``BLOCK`` neurons) walks time
sequentially and keeps its state in registers; the backward walks time in reverse. Each step waits
for its own loads, so on a GPU it is latency-bound (~0.2-0.4 us per step on an H100). Per-sequence
partial sums of dL/du and dL/db go to ``(batch, hidden)`` buffers, reduced by torch (no atomics).

The time loops are ``while`` loops (were ``for t in range(steps)``) so that Triton 3.6's interpreter
runs them with NumPy >= 2.4; see :mod:`models.kernels.cuda`.
"""
from __future__ import annotations

import torch

from .cuda import FP_FUSION, tl, triton
from .fused import fused_recurrence

__all__ = ["LoopBackend", "recurrence_cuda_loop"]

BLOCK = 128  # neurons per program; hidden sizes are usually multiples of it

if triton is not None:

    @triton.jit(do_not_specialize=["steps"])  # as a constexpr 1, triton 3.6 fails to compile it
    def _forward_kernel(z_ptr, u_ptr, b_ptr, h0_ptr, out_ptr, steps, hidden, BLOCK: tl.constexpr):
        seq = tl.program_id(0).to(tl.int64)
        cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
        mask = cols < hidden
        u = tl.load(u_ptr + cols, mask=mask, other=0.0)
        b = tl.load(b_ptr + cols, mask=mask, other=0.0)
        h = tl.load(h0_ptr + seq * hidden + cols, mask=mask, other=0.0)
        base = seq * steps * hidden
        t = 0
        while t < steps:
            z = tl.load(z_ptr + base + t * hidden + cols, mask=mask, other=0.0)
            h = tl.maximum(z + b + u * h, 0.0)
            tl.store(out_ptr + base + t * hidden + cols, h, mask=mask)
            t += 1

    @triton.jit(do_not_specialize=["steps"])  # as a constexpr 1, triton 3.6 fails to compile it
    def _backward_kernel(grad_ptr, out_ptr, u_ptr, h0_ptr, dz_ptr, du_ptr, db_ptr, dh0_ptr,
                         steps, hidden, BLOCK: tl.constexpr):
        seq = tl.program_id(0).to(tl.int64)
        cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
        mask = cols < hidden
        u = tl.load(u_ptr + cols, mask=mask, other=0.0)
        h0 = tl.load(h0_ptr + seq * hidden + cols, mask=mask, other=0.0)
        base = seq * steps * hidden
        carry = tl.zeros_like(h0)  # dL/dh_t arriving from step t+1, in the input's dtype
        du = tl.zeros_like(h0)
        db = tl.zeros_like(h0)
        t = steps - 1
        while t > 0:  # t = steps-1 .. 1 read h_{t-1} from the output
            h = tl.load(out_ptr + base + t * hidden + cols, mask=mask, other=0.0)
            g = tl.load(grad_ptr + base + t * hidden + cols, mask=mask, other=0.0)
            prev = tl.load(out_ptr + base + (t - 1) * hidden + cols, mask=mask, other=0.0)
            d = tl.where(h > 0.0, g + carry, 0.0)  # relu'(pre-activation) = [h_t > 0]
            tl.store(dz_ptr + base + t * hidden + cols, d, mask=mask)
            carry = d * u
            du += d * prev
            db += d
            t -= 1
        h = tl.load(out_ptr + base + cols, mask=mask, other=0.0)  # t = 0 reads the initial state
        g = tl.load(grad_ptr + base + cols, mask=mask, other=0.0)
        d = tl.where(h > 0.0, g + carry, 0.0)
        tl.store(dz_ptr + base + cols, d, mask=mask)
        carry = d * u
        du += d * h0
        db += d
        tl.store(dh0_ptr + seq * hidden + cols, carry, mask=mask)
        tl.store(du_ptr + seq * hidden + cols, du, mask=mask)
        tl.store(db_ptr + seq * hidden + cols, db, mask=mask)


class LoopBackend:
    """Launches the Triton kernels: one program per (sequence, block of BLOCK neurons)."""

    @staticmethod
    def forward(z, u, b, h0, out):
        batch, steps, hidden = z.shape
        grid = (batch, triton.cdiv(hidden, BLOCK))
        _forward_kernel[grid](z, u, b, h0, out, steps, hidden, BLOCK=BLOCK, enable_fp_fusion=FP_FUSION)

    @staticmethod
    def backward(grad_out, out, u, h0, dz, du_rows, db_rows, dh0):
        batch, steps, hidden = out.shape
        grid = (batch, triton.cdiv(hidden, BLOCK))
        _backward_kernel[grid](grad_out, out, u, h0, dz, du_rows, db_rows, dh0, steps, hidden, BLOCK=BLOCK,
                              enable_fp_fusion=FP_FUSION)


def recurrence_cuda_loop(z: torch.Tensor, u: torch.Tensor, b: torch.Tensor,
                         h0: torch.Tensor | None = None) -> torch.Tensor:
    """Per-step CUDA recurrence; same contract as :func:`models.kernels.reference.recurrence_reference`."""
    if triton is None:
        raise RuntimeError("the CUDA IndRNN kernel needs triton, which is not installed")
    return fused_recurrence(LoopBackend, z, u, b, h0)
