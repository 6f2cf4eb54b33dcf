"""Recurrent units behind one registry: ``models.build(name, input_dim, n_classes, config)``.

- :mod:`models.registry`: the unit table (``rnn``, ``rnn_relu``, ``lstm``, ``gru``, ``indrnn``,
  the ``indrnn_norec`` cost baseline, and ``mingru``, ``minlstm``, ``lru``, ``mamba``);
  ``PAPER_UNITS`` is the set the paper compares, ``MODERN_UNITS`` the diagonal linear recurrences.
- :mod:`models.classifier`: the shared head (last valid frame or mean of valid frames -> dropout -> linear).
- :mod:`models.mingru`, :mod:`models.minlstm` (Feng et al. 2024), :mod:`models.lru` (Orvieto et al.
  2023), :mod:`models.mamba` (Gu & Dao 2023): one unit per file, on :mod:`models.residual`'s stack.
- :mod:`models.torch_units`: PyTorch's RNN/LSTM/GRU layers.
- :mod:`models.indrnn`: the IndRNN layer and stack (Li et al. 2018).
- :mod:`models.kernels`: the IndRNN recurrence (fused CPU and CUDA kernels, reference loop).
- :mod:`models.masked_norm`: batch norm with statistics over valid frames, static shapes.
- :mod:`models.constraints`: parameter projections run after every optimiser step (IndRNN's ``|u|``).
"""
from .config import ModelConfig
from .constraints import project_, project_after_step
from .registry import MODERN_UNITS, PAPER_UNITS, UNITS, available, build

__all__ = ["ModelConfig", "PAPER_UNITS", "MODERN_UNITS", "UNITS", "available", "build", "project_",
           "project_after_step"]
