"""IndRNN (Li et al., CVPR 2018, "Independently Recurrent Neural Network (IndRNN): Building a
Longer and Deeper RNN"), as Wu et al. use it for genre classification.

One layer::

    h_t = relu(W x_t + u * h_{t-1} + b)        u: (hidden,), * is elementwise

so every neuron has one scalar recurrent weight and neurons interact only across layers.
Implementation choices, after Li et al.'s paper and their PyTorch code (Sunnydreamrain/IndRNN_pytorch):

- **Input projection**: ``W x_t`` for all t is one matrix product over (batch * time) rows; only
  the elementwise, sequential part runs in the recurrence kernel (:mod:`models.kernels`).
- **Bound on u**: the gradient through T steps scales like ``u^T``, so Li et al. keep
  ``|u| <= gamma^(1/T)`` (their ``U_bound = 10 ** (log10(MAG) / seq_len)``, i.e. ``MAG^(1/T)``).
  We use ``gamma = config.u_magnitude`` (2) and ``T = config.max_len`` (469). The bound is enforced
  like their ``clip_weight``: :meth:`IndRNNLayer.project_` clamps the parameter in place, and
  :func:`models.constraints.project_after_step` runs it after every optimiser step (a step hook, so
  the trainer never knows about it). ``forward`` itself has no side effect and never touches ``.data``,
  so a whole training step can be captured in a CUDA graph or compiled.
- **Initialisation**: ``u ~ U(0, gamma^(1/T))`` (optionally the last layer in
  ``[gamma^(-1/T), gamma^(1/T)]``, their ``u_lastlayer_ini``); input weights
  ``kaiming_uniform_(a=8, mode="fan_in")``; biases 0 -- all as in their code.
- **Between layers**: optional batch norm after the recurrence (statistics over batch and time,
  their "bn_after"; with ``lengths``, over valid frames only, as weighted sums with static shapes
  (:mod:`models.masked_norm`), so padding never shifts them and nothing waits for the device), then dropout with one mask per sequence shared over time (their
  ``Dropout_overtime``; set ``time_shared_dropout=False`` for per-element masks). No dropout after
  the last layer: the classifier head applies its own.
- ``recurrent=False`` removes the recurrence (``relu(W x_t + b)``): the same stack's cost floor.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .kernels import recurrence, warm_up
from .masked_norm import MaskedBatchNorm

__all__ = ["IndRNNLayer", "IndRNN"]


class IndRNNLayer(nn.Module):
    """One IndRNN layer: ``h_t = relu(W x_t + u * h_{t-1} + b)`` with ``|u|`` bounded.

    Args:
        input_size: features per time step.
        hidden_size: neurons.
        u_bound: largest allowed ``|u|``.
        u_low: lower end of ``u``'s initial range (0, or ``1 / u_bound`` for long memory).
        kernel: recurrence implementation name (see :mod:`models.kernels`).
        recurrent: False drops ``u * h_{t-1}`` (the no-recurrence baseline).
    """

    def __init__(self, input_size: int, hidden_size: int, u_bound: float, u_low: float = 0.0,
                 kernel: str = "auto", recurrent: bool = True):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.u_bound, self.kernel, self.recurrent = u_bound, kernel, recurrent
        self.weight = nn.Parameter(torch.empty(hidden_size, input_size))
        self.bias = nn.Parameter(torch.zeros(hidden_size))
        self.u = nn.Parameter(torch.empty(hidden_size)) if recurrent else None
        nn.init.kaiming_uniform_(self.weight, a=8, mode="fan_in")
        if self.u is not None:
            nn.init.uniform_(self.u, u_low, u_bound)
            if kernel in ("auto", "numba"):
                warm_up()  # JIT compile (or cache load) now, not inside the first timed step

    @classmethod
    def from_config(cls, config: ModelConfig, i: int, input_size: int | None = None) -> "IndRNNLayer":
        """Layer ``i`` of a ``config.layers``-deep stack (input ``input_size``, default ``config.hidden``): the
        bound from ``config``, the last layer's ``u`` starting in ``[1 / bound, bound]`` with ``u_last_long``.

        Args:
            config: ``hidden``, the bound (``u_magnitude``, ``max_len``), ``u_last_long``, ``kernel`` and
                ``recurrent``.
            i: the layer's index, from 0.
            input_size: the layer's input width; None means ``config.hidden``.

        Returns:
            The layer.
        """
        bound = config.u_bound
        low = 1.0 / bound if config.u_last_long and i == config.layers - 1 else 0.0
        return cls(input_size or config.hidden, config.hidden, bound, low, config.kernel, config.recurrent)

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
        """Map ``(batch, time, input_size)`` to ``(batch, time, hidden_size)``; ``h0``: ``(batch, hidden)``.

        Args:
            x: ``(batch, time, input_size)``.
            h0: ``(batch, hidden_size)`` initial state, or None for zeros.

        Returns:
            ``(batch, time, hidden_size)``: every step's state; with the recurrence, in float32 (or
                float64) even under bf16 autocast, whose projection is widened for it.
        """
        if self.u is None:
            return torch.relu(F.linear(x, self.weight, self.bias))  # (batch, time, hidden)
        z = F.linear(x, self.weight)  # (batch, time, hidden): one matmul for every step
        if z.dtype not in (torch.float32, torch.float64):  # autocast (bf16): the recurrence runs in fp32
            z = z.float()
        return recurrence(z, self.u, self.bias, h0, self.kernel)  # (batch, time, hidden)

    def recurrent_macs(self) -> int:
        """Multiply-adds per frame of ``u * h_{t-1}`` (one per neuron; none without the recurrence).

        Returns:
            ``hidden_size``, or 0 when ``recurrent`` is False.
        """
        return self.hidden_size if self.u is not None else 0

    @torch.no_grad()
    def project_(self) -> None:
        """Clamp ``u`` into ``[-u_bound, u_bound]`` in place (Li et al.'s ``clip_weight``)."""
        if self.u is not None:
            self.u.clamp_(-self.u_bound, self.u_bound)

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, u_bound={self.u_bound:.6f}, "
                f"kernel={self.kernel!r}, recurrent={self.recurrent}")


class IndRNN(nn.Module):
    """Stacked IndRNN layers with optional batch norm and dropout between them.

    Args:
        input_size: features per time step.
        config: architecture (``hidden``, ``layers``, ``dropout`` and the IndRNN fields).

    Shape:
        ``(batch, time, input_size)`` -> ``(batch, time, config.hidden)``.
    """

    def __init__(self, input_size: int, config: ModelConfig):
        super().__init__()
        self.output_size = config.hidden
        self.dropout, self.time_shared_dropout = config.dropout, config.time_shared_dropout
        self.layers = nn.ModuleList(IndRNNLayer.from_config(config, i, input_size if i == 0 else None)
                                    for i in range(config.layers))
        self.norms = nn.ModuleList(MaskedBatchNorm(config.hidden) if config.batch_norm else nn.Identity()
                                   for _ in range(config.layers))

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        """Inverted dropout between layers: one mask per (sequence, neuron), or per element."""
        if not self.training or self.dropout == 0.0:
            return x
        keep = 1.0 - self.dropout
        shape = (x.shape[0], 1, x.shape[2]) if self.time_shared_dropout else x.shape
        # uniform >= p is a Bernoulli(keep) draw; on CPU it is ~5x faster than bernoulli_/F.dropout
        mask = torch.rand(shape, dtype=x.dtype, device=x.device).ge_(self.dropout).div_(keep)
        return x * mask  # (batch, time, hidden)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``(batch, time, input_size)`` -> ``(batch, time, hidden)``; ``lengths``: valid frames per sequence.

        Args:
            x: ``(batch, time, input_size)``.
            lengths: ``(batch,)`` valid frames per sequence, or None (every frame valid); keeps padding out
                of the batch-norm statistics in training mode.

        Returns:
            ``(batch, time, config.hidden)``, the last layer's states.
        """
        weight = self._valid_weight(x, lengths)  # (batch, time, 1) 0/1, or None when no masking is needed
        last = len(self.layers) - 1
        for i, (layer, norm) in enumerate(zip(self.layers, self.norms)):
            x = layer(x)  # (batch, time, hidden)
            if isinstance(norm, MaskedBatchNorm):
                x = norm(x, weight)  # (batch, time, hidden)
            if i < last:
                x = self._drop(x)  # (batch, time, hidden)
        return x

    def _valid_weight(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor | None:
        # Only training-mode batch norm mixes frames (its statistics); everything else is per frame
        # or causal, so padding after a sequence's end cannot reach its last valid frame. The mask is
        # built whatever the lengths are: asking whether every frame is valid would sync the device.
        if lengths is None or not self.training or not isinstance(self.norms[0], MaskedBatchNorm):
            return None
        steps = torch.arange(x.shape[1], device=x.device)  # (time,)
        return (steps[None, :] < lengths.to(x.device)[:, None]).unsqueeze(-1).to(x.dtype)  # (batch, time, 1)
