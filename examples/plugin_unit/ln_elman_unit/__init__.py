"""A layer-normalised Elman RNN, the example unit plugin of rnn-genre-bench (``docs/plugins.md``).

One layer::

    h_t = tanh(LayerNorm(W x_t + U h_{t-1}))        h_0 = 0

the Elman recurrence with layer normalisation of the summed inputs at every step, as Ba, Kiros and
Hinton (2016, "Layer Normalization", Section 3.1) apply it to recurrent networks: the norm's gain and
bias replace the recurrence's bias. It is causal (``h_t`` reads frames ``0..t`` only) and its norm
works on one frame's state at a time, so padding after a sequence's end never reaches a valid frame.

The plugin is only its recurrence. :func:`make_layer` is the factory the entry point names; the
suite stacks its layers (``--block native``) or wraps each in the controlled scaffolds (``--block
stack`` or ``residual``) like every other unit.
"""
from __future__ import annotations

import torch
from torch import nn

from models.kernels import note_ran

__all__ = ["LayerNormElman", "make_layer"]
__version__ = "0.1.0"


class LayerNormElman(nn.Module):
    """One layer: ``(batch, time, input_size)`` -> ``(batch, time, hidden_size)``.

    Args:
        input_size: features per frame.
        hidden_size: neurons.
    """

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input = nn.Linear(input_size, hidden_size, bias=False)  # W
        self.recurrent = nn.Linear(hidden_size, hidden_size, bias=False)  # U
        self.norm = nn.LayerNorm(hidden_size)
        nn.init.orthogonal_(self.recurrent.weight)  # a norm-preserving start for the recurrence

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.input(x)  # (batch, time, hidden): every frame's input term in one product
        h = z.new_zeros(z.shape[0], z.shape[2])  # (batch, hidden)
        states = []
        for z_t in z.unbind(1):
            h = torch.tanh(self.norm(z_t + self.recurrent(h)))  # (batch, hidden)
            states.append(h)
        out = torch.stack(states, dim=1)  # (batch, time, hidden)
        note_ran("ln_elman", "python-loop", out.dtype)  # optional hook: the kernel record of folds.csv
        return out


def make_layer(input_size: int, config) -> nn.Module:
    """The unit's factory: one layer from ``input_size`` features to ``config.hidden`` (a ``models.ModelConfig``)."""
    return LayerNormElman(input_size, config.hidden)
