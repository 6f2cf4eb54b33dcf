"""Mamba's selective state space block, S6 (Gu & Dao 2023, "Mamba: Linear-Time Sequence Modeling with
Selective State Spaces", Sections 3.2-3.4 and Appendix).

One block on a stream of width ``D`` (``hidden``), inner width ``E = expand * D``, state size ``N``
(``d_state``) per inner channel, ``R = ceil(D / 16)`` (``dt_rank``)::

    x, z   = split(W_in u_t)                                 (E,) each
    x      = SiLU(causal depthwise conv_k(x))                k = d_conv frames, this one and k-1 before
    Delta  = softplus(W_dt (W_x x)[:R] + b_dt)               (E,)   input-dependent step
    B, C   = (W_x x)[R:R+N], (W_x x)[R+N:]                   (N,)   input-dependent
    h_t    = exp(Delta A) * h_{t-1} + (Delta B) x            (E, N) per channel and state, h_0 = 0
    y      = C . h_t + D_skip * x                            (E,)
    out    = W_out (y * SiLU(z))                             (D,)

The selective scan is :func:`models.kernels.selective_scan`: a diagonal linear scan over ``E * N``
channels (the ``(E, N)`` state flattened), with ``a_t = exp(Delta A)`` (zero-order hold of ``A``) and
``b_t = Delta B x`` (the simplified, Euler-like discretisation of ``B`` that the paper's reference
implementation uses, Section 3.5.2 / ``selective_scan_ref``), read out as ``C . h`` with the skip
``D_skip * x`` and the gate ``SiLU(z)``; back end ``config.scan_kernel``. On the CPU (``numba``, what
``auto`` means there) one fused kernel does all of it, gate included, and keeps the state in a
per-sequence buffer (:mod:`models.kernels.selective_cpu`); every other back end materialises ``a``
and ``b``, runs :func:`models.kernels.linear_scan` and gates with tensor operations.

Following the paper and its reference code:

- ``expand = 2``, ``d_conv = 4``, ``d_state = 16`` (``config.mamba_*``), ``dt_rank = ceil(D / 16)``.
- **A** S4D-real: ``A_{e,n} = -(n + 1)``, trained as ``A_log = log(n + 1)``, ``A = -exp(A_log)`` (stays
  negative, so ``|a_t| < 1``). **D_skip** ones.
- **Delta**: ``W_dt`` uniform in ``+-R^(-1/2)``; its bias is the inverse softplus of
  ``dt ~ exp(U(log 0.001, log 0.1))`` (floored at ``1e-4``), so the initial steps span [0.001, 0.1].
- Biases: none in ``W_in``, ``W_x``, ``W_out``; the convolution has one. ``W_out`` is rescaled by
  ``1 / sqrt(layers)`` after PyTorch's default initialisation (the reference code's prenorm-residual
  rescaling).
- **Stacking**: per layer ``u + dropout(Mixer(RMSNorm(u)))``, after a linear encoder to ``D``, and a
  final RMSNorm (the reference ``MixerModel``'s ``norm_f``). RMSNorm works on each frame alone and the
  convolution is causal (left-padded by ``d_conv - 1`` zeros), so padding never reaches a valid frame.

Where the paper is silent, or we differ:

- **Dropout**: Mamba uses none; the benchmark's one dropout option applies to every unit, here on
  each block's output before the residual add, one mask per sequence shared over time (as the
  IndRNN's; :class:`models.residual.Dropout`).
- **Precision**: under bf16 autocast the scan's inputs (Delta, B, C, x), the scan and ``C . h`` run in
  float32 (the reference CUDA kernel also computes the scan in float32).
- **Memory**: outside the fused CPU kernel, ``a_t`` and ``b_t`` are materialised, ``(batch, time, E * N)``
  each, 32x the width of an IndRNN layer at the defaults (the paper's fused CUDA kernel keeps them in
  SRAM instead; ours keeps them in a per-sequence buffer on the CPU).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .kernels import selective_scan, warm_up
from .residual import ResidualStack, no_autocast, scan_dtype

__all__ = ["MambaMixer", "Mamba"]

DT_MIN, DT_MAX, DT_FLOOR = 1e-3, 1e-1, 1e-4  # the initial range of Delta (Gu & Dao's defaults)


class MambaMixer(nn.Module):
    """The S6 block, ``(batch, time, hidden)`` -> ``(batch, time, hidden)``.

    Args:
        hidden: stream width ``D``.
        d_state: state size ``N`` per inner channel.
        expand: inner width ``E = expand * D``.
        d_conv: causal convolution width.
        layers: depth of the stack (for the output projection's rescaling).
        kernel: back end of :func:`models.kernels.selective_scan`.
    """

    def __init__(self, hidden: int, d_state: int = 16, expand: int = 2, d_conv: int = 4, layers: int = 1,
                 kernel: str = "auto"):
        super().__init__()
        inner, rank = expand * hidden, math.ceil(hidden / 16)
        self.inner, self.d_state, self.rank, self.d_conv, self.kernel = inner, d_state, rank, d_conv, kernel
        self.in_proj = nn.Linear(hidden, 2 * inner, bias=False)
        self.conv = nn.Conv1d(inner, inner, d_conv, groups=inner)  # its weight and bias; run by _causal_conv
        self.x_proj = nn.Linear(inner, rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(rank, inner)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(inner, 1))
        self.D = nn.Parameter(torch.ones(inner))
        self.out_proj = nn.Linear(inner, hidden, bias=False)
        with torch.no_grad():
            nn.init.uniform_(self.dt_proj.weight, -rank ** -0.5, rank ** -0.5)
            dt = torch.exp(torch.rand(inner) * (math.log(DT_MAX) - math.log(DT_MIN)) + math.log(DT_MIN))
            dt = dt.clamp(min=DT_FLOOR)
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus(bias) = dt
            self.out_proj.weight.div_(math.sqrt(layers))
        if kernel in ("auto", "numba"):
            warm_up("selective_scan")  # JIT compile (or cache load) now, not inside the first timed step

    def recurrent_macs(self) -> int:
        """Multiply-adds per frame of ``a * h + b`` and ``C . h`` over the ``E x N`` state (the matrices,
        ``A_log`` included as the ``Delta A`` products, are counted with the weights).

        Returns:
            ``2 * E * N``.
        """
        return 2 * self.inner * self.d_state

    @classmethod
    def from_config(cls, config: ModelConfig, i: int = 0) -> "MambaMixer":
        """The S6 block of width ``config.hidden`` with ``config``'s ``mamba_*`` sizes and scan back end.

        Args:
            config: ``hidden``, ``mamba_d_state``, ``mamba_expand``, ``mamba_d_conv``, ``layers`` (the
                output projection's rescaling) and ``scan_kernel``.
            i: the layer's index (every layer is built alike).

        Returns:
            The block.
        """
        return cls(config.hidden, config.mamba_d_state, config.mamba_expand, config.mamba_d_conv, config.layers,
                   config.scan_kernel)

    def _projections(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``Delta`` ``(..., E)``, ``B``, ``C`` ``(..., N)`` and ``x`` ``(..., E)``, in float32 or wider."""
        dt, B, C = self.x_proj(x).split([self.rank, self.d_state, self.d_state], dim=-1)  # (..., R), (..., N) x2
        delta = F.softplus(scan_dtype(self.dt_proj(dt)))  # (..., E)
        return delta, scan_dtype(B), scan_dtype(C), scan_dtype(x)

    def _selective(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``exp(Delta A)`` and ``Delta B x`` ``(..., E, N)``, ``C`` ``(..., N)`` and ``x`` ``(..., E)``, in float32 or wider."""
        delta, B, C, x = self._projections(x)
        A = -torch.exp(self.A_log.to(x.dtype))  # (E, N)
        a = torch.exp(delta.unsqueeze(-1) * A)  # (..., E, N)
        b = (delta * x).unsqueeze(-1) * B.unsqueeze(-2)  # (..., E, N)
        return a, b, C, x

    def _causal_conv(self, x: torch.Tensor) -> torch.Tensor:
        """``self.conv`` over time, causal, ``(batch, time, E)`` -> ``(batch, time, E)``, without transposing:
        the left-padded input is read as a channels-last ``(batch, E, 1, time)`` image, which the
        depthwise 2-d convolution takes as it lies in memory (1.4x faster forward + backward than
        ``conv1d`` on the transposed tensor, which copies input and output, at the paper's shapes)."""
        padded = F.pad(x, (0, 0, self.d_conv - 1, 0))  # (batch, d_conv - 1 + time, E): zeros before frame 0
        image = padded.unsqueeze(1).permute(0, 3, 1, 2)  # (batch, E, 1, d_conv - 1 + time), a view
        y = F.conv2d(image, self.conv.weight.unsqueeze(2), self.conv.bias, groups=self.inner)  # (batch, E, 1, time)
        return y.permute(0, 2, 3, 1).squeeze(1)  # (batch, time, E)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        # x and z as two products with halves of W_in: autograd then adds two input gradients instead
        # of concatenating (batch, time, 2 E) ones
        x = F.linear(u, self.in_proj.weight[:self.inner])  # (batch, time, E)
        z = F.linear(u, self.in_proj.weight[self.inner:])  # (batch, time, E)
        x = F.silu(self._causal_conv(x))  # (batch, time, E)
        delta, B, C, x = self._projections(x)  # (batch, time, E), (batch, time, N) x2, (batch, time, E)
        with no_autocast(u):  # the scan and C . h in float32 under bf16 autocast
            A = -torch.exp(self.A_log.to(x.dtype))  # (E, N)
            # (C . h + D x) * silu(z), (batch, time, E): skip and gate in the scan's pass on the CPU
            y = selective_scan(x, delta, A, B, C, self.kernel, D=self.D.to(x.dtype), z=scan_dtype(z))
        return self.out_proj(y)  # (batch, time, hidden)

    def step(self, u_t: torch.Tensor, state: tuple | None) -> tuple[torch.Tensor, tuple]:
        """One frame ``(batch, hidden)``; ``state`` = (last ``d_conv`` conv inputs ``(batch, E, d_conv)``,
        ``h`` ``(batch, E, N)``), None = zeros (the zeros the causal convolution pads with).

        Args:
            u_t: ``(batch, hidden)``, one frame.
            state: what the previous call returned, or None at the first frame.

        Returns:
            The output ``(batch, hidden)`` and the new state ``(window, h)``.
        """
        x, z = self.in_proj(u_t).chunk(2, dim=-1)  # (batch, E) each
        if state is None:
            window = x.new_zeros(x.shape[0], self.inner, self.d_conv)
            h = None
        else:
            window, h = state
        window = torch.cat([window[..., 1:], x.unsqueeze(-1)], dim=-1)  # (batch, E, d_conv): oldest first
        x = F.silu((window * self.conv.weight[:, 0]).sum(-1) + self.conv.bias)  # (batch, E)
        a, b, C, x = self._selective(x)  # (batch, E, N) x2, (batch, N), (batch, E)
        h = b if h is None else a * h + b  # (batch, E, N)
        y = (h * C.unsqueeze(1)).sum(-1) + self.D * x  # (batch, E)
        return self.out_proj(y * F.silu(z)), (window, h)  # (batch, hidden)


class Mamba(ResidualStack):
    """S6 blocks in pre-norm residual form (RMSNorm), ``config.layers`` deep at ``config.hidden``.

    Args:
        input_size: features per frame.
        config: ``hidden``, ``layers``, ``dropout``, ``time_shared_dropout`` and the ``mamba_*`` options.

    Shape:
        ``(batch, time, input_size)`` -> ``(batch, time, config.hidden)``.
    """

    def __init__(self, input_size: int, config: ModelConfig):
        super().__init__(input_size, config.hidden, config.layers, config.dropout,
                         lambda i: MambaMixer.from_config(config, i),
                         lambda: nn.RMSNorm(config.hidden, eps=1e-5), time_shared_dropout=config.time_shared_dropout)
