"""PyTorch's own recurrent layers (cuDNN on GPU, oneDNN/ATen on CPU) as sequence encoders.

These are the baselines a practitioner would compare against: ``nn.RNN`` (tanh or ReLU),
``nn.LSTM`` and ``nn.GRU``, stacked ``config.layers`` deep with PyTorch's built-in dropout between
layers and its default initialisation.
"""
from __future__ import annotations

import functools

import torch
from torch import nn

from .config import ModelConfig
from .kernels import note_ran

__all__ = ["TorchRecurrent", "cpu_bf16_lstm"]

_LAYERS = {
    "rnn_tanh": lambda **kw: nn.RNN(nonlinearity="tanh", **kw),
    "rnn_relu": lambda **kw: nn.RNN(nonlinearity="relu", **kw),
    "lstm": nn.LSTM,
    "gru": nn.GRU,
}


class TorchRecurrent(nn.Module):
    """A stacked ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` returning every step's top-layer state.

    Args:
        kind: ``"rnn_tanh"``, ``"rnn_relu"``, ``"lstm"`` or ``"gru"``.
        input_size: features per time step.
        config: ``hidden``, ``layers`` and ``dropout`` are used.
        single: one layer of width ``config.hidden`` (a controlled scaffold's layer,
            :mod:`models.scaffold`), recorded as kernel ``aten-layer`` / ``cudnn-layer`` so that the report
            tells it from PyTorch's fused multi-layer call.

    Shape:
        ``(batch, time, input_size)`` -> ``(batch, time, config.hidden)``.
    """

    def __init__(self, kind: str, input_size: int, config: ModelConfig, single: bool = False):
        super().__init__()
        self.kind, self.output_size, self.single = kind, config.hidden, single
        layers = 1 if single else config.layers
        # PyTorch applies `dropout` between layers only, and warns when there is a single layer.
        self.rnn = _LAYERS[kind](input_size=input_size, hidden_size=config.hidden, num_layers=layers,
                                 dropout=config.dropout if layers > 1 else 0.0, batch_first=True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        # causal and per-sequence: the states up to a sequence's end never depend on its padding
        if self.kind == "lstm" and _bf16_requested(x) and not cpu_bf16_lstm():
            with torch.autocast("cpu", enabled=False):  # this CPU has no bf16 LSTM: float32, and recorded so
                out, _ = self.rnn(x.float())  # (batch, time, hidden)
        else:
            out, _ = self.rnn(x)  # (batch, time, hidden)
        note_ran(self.kind, _backend(x) + ("-layer" if self.single else ""), out.dtype)
        return out


def _bf16_requested(x: torch.Tensor) -> bool:
    """Whether this CPU forward would run in bf16 (autocast to bf16, or a bf16 input)."""
    if x.is_cuda:
        return False
    autocast = torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
    return autocast or x.dtype == torch.bfloat16


@functools.lru_cache(maxsize=None)
def cpu_bf16_lstm() -> bool:
    """Whether this CPU runs PyTorch's LSTM in bf16: oneDNN's bf16 LSTM needs AVX-512-BF16 (or AMX) and
    fails on AVX2-only CPUs ("could not create a primitive descriptor"); probed once on a tiny LSTM.
    Where it cannot, the LSTM computes in float32 and the kernel record says ``float32``, as PyTorch's
    GRU and RNN record what they really ran.

    Returns:
        True if a bf16 LSTM runs on this CPU (the answer is cached for the process).
    """
    probe = nn.LSTM(2, 2, batch_first=True)
    try:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            probe(torch.zeros(1, 2, 2))
        return True
    except RuntimeError:
        return False


def _backend(x: torch.Tensor) -> str:
    """The library behind PyTorch's recurrent layers for ``x``: cuDNN on CUDA (when enabled), else ATen."""
    if x.is_cuda:
        return "cudnn" if torch.backends.cudnn.enabled else "aten"
    return "aten"
