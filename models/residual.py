"""The stack the modern units share: a linear encoder to ``hidden``, then ``layers`` pre-norm residual
blocks, each ``x + dropout(block(norm(x)))``, then (optionally) a last norm.

minGRU, minLSTM, LRU and Mamba are all built this way in their papers' deep models (a block that
mixes time wrapped in a per-frame norm and a residual connection); what differs is the block and
the norm, which each unit's module passes in. Every norm here works on one frame at a time
(LayerNorm, RMSNorm), never over time, and every block is causal, so the state at a sequence's last
valid frame never depends on the padding after it.

Each block also has a ``step(x_t, state) -> (y_t, state)`` method, the same block run one frame at a
time; :meth:`ResidualStack.step` chains them. The tests compare it with the parallel form; training
never calls it.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .config import ModelConfig
from .kernels import gated_scan, warm_up

__all__ = ["ResidualStack", "GatedScanLayer", "Dropout", "scan_dtype", "no_autocast"]


def scan_dtype(t: torch.Tensor) -> torch.Tensor:
    """``t`` in float32 when it is in a half precision (bf16 autocast), else unchanged.

    The scan multiplies hundreds of decays in a row; in bf16 (8 bits of mantissa) the state drifts
    within tens of steps, so the modern units compute their scan inputs and run the scan in float32,
    as the IndRNN runs its recurrence (the matrix products around it stay in autocast's precision).

    Args:
        t: any tensor.

    Returns:
        ``t.float()`` for a float16 or bfloat16 ``t``, else ``t`` itself.
    """
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def no_autocast(x: torch.Tensor) -> torch.autocast:
    """A context that turns autocast off on ``x``'s device: the products feeding and reading a scan
    (the LRU's complex ``B x`` and ``C h``, Mamba's ``C . h``) then stay in float32 under bf16 autocast.

    Args:
        x: a tensor on the device whose autocast is to be turned off.

    Returns:
        ``torch.autocast(device_type=x.device.type, enabled=False)``, to use in a ``with`` statement.
    """
    return torch.autocast(device_type=x.device.type, enabled=False)


class GatedScanLayer(nn.Module):
    """A layer whose gates and candidate all come from one projection of its input, scanned by
    :func:`models.kernels.gated_scan` (``kind``): minGRU's (2 blocks) and minLSTM's (3 blocks).

    Args:
        hidden: input and state width.
        kernel: back end of :func:`models.kernels.linear_scan`.
    """

    kind: str = ""  # the gated_scan kind: "mingru" or "minlstm"
    blocks: int = 0  # pre-activation blocks of width hidden in the projection

    def __init__(self, hidden: int, kernel: str = "auto"):
        super().__init__()
        self.kernel = kernel
        if kernel in ("auto", "numba"):
            warm_up("gated_scan")  # JIT compile (or cache load) now, not inside the first timed step
        self.proj = nn.Linear(hidden, self.blocks * hidden)

    @classmethod
    def from_config(cls, config: ModelConfig, i: int = 0) -> "GatedScanLayer":
        """A layer of width ``config.hidden`` on ``config.scan_kernel``.

        Args:
            config: ``hidden`` and ``scan_kernel`` are read.
            i: the layer's index (every layer is built alike).

        Returns:
            The layer.
        """
        return cls(config.hidden, config.scan_kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return gated_scan(self.kind, self.proj(x), self.kernel)  # (batch, time, hidden)

    def recurrent_macs(self) -> int:
        """Multiply-adds per frame of the scan ``a_t * h_{t-1} + b_t``: one per state element.

        Returns:
            The state width (``hidden``).
        """
        return self.proj.out_features // self.blocks


class Dropout(nn.Module):
    """Inverted dropout drawn as ``uniform >= p`` (on the CPU about 3x faster than ``nn.Dropout``'s
    Bernoulli draw), the identity in evaluation mode or with ``p = 0``.

    ``time_shared`` (``ModelConfig.time_shared_dropout``, default on): one mask per (sequence,
    channel) shared by every frame of a ``(batch, time, channels)`` input, as the IndRNN's dropout
    (Li et al.'s ``Dropout_overtime``) and the LRU's reference code (``nn.Dropout(broadcast_dims=[0])``
    over time); off: a fresh mask per element, as ``nn.Dropout``. A per-element draw at the paper's
    shapes cost about 11 ms per layer and step on a 2-core AMD EPYC (2026-12-02), more than the
    scan itself. A 2-D input (one frame, :meth:`ResidualStack.step`) always draws per element.

    Args:
        p: the probability of zeroing an element, in ``[0, 1)``.
        time_shared: one mask per (sequence, channel) for a 3-D input, instead of one per element.
    """

    def __init__(self, p: float = 0.0, time_shared: bool = True):
        super().__init__()
        self.p, self.time_shared = p, time_shared

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        shape = (x.shape[0], 1, x.shape[2]) if self.time_shared and x.dim() == 3 else x.shape
        mask = torch.rand(shape, dtype=x.dtype, device=x.device).ge_(self.p).div_(1.0 - self.p)
        return x * mask  # same shape as x

    def extra_repr(self) -> str:
        return f"p={self.p}, time_shared={self.time_shared}"


class ResidualStack(nn.Module):
    """``Linear(input_size, hidden)``, then ``layers`` x ``x + dropout(block(norm(x)))``, then a final norm.

    Args:
        input_size: features per frame.
        hidden: width of the residual stream (``config.hidden``).
        layers: number of blocks.
        dropout: dropout on each block's output before it is added to the stream.
        time_shared_dropout: one dropout mask per sequence shared over time (see :class:`Dropout`).
        make_block: ``i -> block``: a module mapping ``(batch, time, hidden)`` to the same shape, with
            a ``step`` method.
        make_norm: ``() -> norm``: a per-frame norm of width ``hidden``.
        final_norm: apply one more norm after the last block (Mamba's ``norm_f``; pre-norm stacks
            otherwise hand the head an unnormalised stream).

    Shape:
        ``(batch, time, input_size)`` -> ``(batch, time, hidden)``.
    """

    def __init__(self, input_size: int, hidden: int, layers: int, dropout: float,
                 make_block: Callable[[int], nn.Module], make_norm: Callable[[], nn.Module], final_norm: bool = True,
                 time_shared_dropout: bool = True):
        super().__init__()
        self.output_size = hidden
        self.encoder = nn.Linear(input_size, hidden)
        self.norms = nn.ModuleList(make_norm() for _ in range(layers))
        self.blocks = nn.ModuleList(make_block(i) for i in range(layers))
        self.dropout = Dropout(dropout, time_shared_dropout)
        self.norm_out = make_norm() if final_norm else nn.Identity()

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``(batch, time, input_size)`` -> ``(batch, time, hidden)``; ``lengths`` is not needed (causal, per-frame norms).

        Args:
            x: ``(batch, time, input_size)``.
            lengths: valid frames per sequence; accepted for the encoders' common call and ignored.

        Returns:
            ``(batch, time, hidden)``.
        """
        x = self.encoder(x)  # (batch, time, hidden)
        for norm, block in zip(self.norms, self.blocks):
            x = x + self.dropout(block(norm(x)))  # (batch, time, hidden)
        return self.norm_out(x)  # (batch, time, hidden)

    def step(self, x_t: torch.Tensor, states: list | None = None) -> tuple[torch.Tensor, list]:
        """One frame: ``x_t`` ``(batch, input_size)`` -> ``(batch, hidden)`` and the blocks' new states.

        ``states`` is None at the first frame. Dropout as in ``forward`` (use eval mode to compare).

        Args:
            x_t: ``(batch, input_size)``, one frame.
            states: each block's state after the previous frame (what the last call returned), or None.

        Returns:
            The frame's output ``(batch, hidden)`` and the list of the blocks' new states.
        """
        states = states or [None] * len(self.blocks)
        x = self.encoder(x_t)  # (batch, hidden)
        new = []
        for norm, block, state in zip(self.norms, self.blocks, states):
            y, state = block.step(norm(x), state)  # (batch, hidden)
            x = x + self.dropout(y)  # (batch, hidden)
            new.append(state)
        return self.norm_out(x), new  # (batch, hidden)

    def run_steps(self, x: torch.Tensor) -> torch.Tensor:
        """``step`` over every frame of ``x`` ``(batch, time, input_size)``: the sequential twin of ``forward``.

        Args:
            x: ``(batch, time, input_size)``.

        Returns:
            ``(batch, time, hidden)``, equal to ``forward(x)`` in eval mode up to rounding.
        """
        states, out = None, []
        for x_t in x.unbind(1):
            y, states = self.step(x_t, states)  # (batch, hidden)
            out.append(y)
        return torch.stack(out, dim=1)  # (batch, time, hidden)
