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
- :mod:`models.contract`: what a unit is given and must return, and :func:`models.contract.check_unit`,
  which checks it (``python -m bench check-unit NAME``).
- :mod:`models.plugins`: units from outside the project (an installed package's entry point, or a
  ``module:factory`` spec), found by the same names as the built-ins (:func:`models.registry.resolve`).
"""
from .config import ModelConfig
from .constraints import project_, project_after_step
from .plugins import PluginError
from .registry import MODERN_UNITS, PAPER_UNITS, UNITS, available, build, provenance, resolve

__all__ = ["ModelConfig", "PAPER_UNITS", "MODERN_UNITS", "UNITS", "PluginError", "available", "build", "project_",
           "project_after_step", "provenance", "resolve"]
