"""Recurrent units behind one registry: ``models.build(name, input_dim, n_classes, config)``.

- :mod:`models.registry`: the unit table (``rnn``, ``rnn_relu``, ``lstm``, ``gru``, ``indrnn``,
  and the ``indrnn_norec`` cost baseline); ``PAPER_UNITS`` is the set the paper compares.
- :mod:`models.classifier`: the shared head (last valid frame -> dropout -> linear).
- :mod:`models.torch_units`: PyTorch's RNN/LSTM/GRU layers.
- :mod:`models.indrnn`: the IndRNN layer and stack (Li et al. 2018).
- :mod:`models.kernels`: the IndRNN recurrence (fused CPU and CUDA kernels, reference loop).
- :mod:`models.masked_norm`: batch norm with statistics over valid frames, static shapes.
- :mod:`models.constraints`: parameter projections run after every optimiser step (IndRNN's ``|u|``).
"""
from .config import ModelConfig
from .constraints import project_, project_after_step
from .registry import PAPER_UNITS, UNITS, available, build

__all__ = ["ModelConfig", "PAPER_UNITS", "UNITS", "available", "build", "project_", "project_after_step"]
