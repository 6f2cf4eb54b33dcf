"""LRU, the Linear Recurrent Unit (Orvieto, Smith, Gu, Fernando, Gulcehre, Pascanu, De 2023,
"Resurrecting Recurrent Neural Networks for Long Sequences").

A linear recurrence with a complex diagonal state matrix and a real output. One layer, state size
``N``, input and output width ``H``::

    lambda   = exp(-exp(nu_log) + i exp(theta_log))                       (N,) complex, |lambda| < 1
    h_t      = lambda * h_{t-1} + gamma * (B x_t)                         h: (N,) complex, h_0 = 0
    y_t      = Re(C h_t) + D * x_t                                        y: (H,) real

run as ``h_t = a_t * h_{t-1} + b_t`` by :func:`models.kernels.linear_scan` in complex64 (complex128 for
float64 inputs), with ``a_t = lambda`` for every t, passed once (back end ``config.scan_kernel``).

Following the paper:

- **Exponential parametrisation** (Section 3.3): ``nu = exp(nu_log)``, ``theta = exp(theta_log)`` are
  trained through their logs, so ``|lambda| = exp(-nu)`` stays below 1 without any projection.
- **Ring initialisation** (Section 3.3, Lemma 3.2): ``|lambda|`` uniform on the ring
  ``[r_min, r_max]`` in the complex plane, phase uniform in ``[0, max_phase]``:
  ``nu = -log(u1 (r_max^2 - r_min^2) + r_min^2) / 2``, ``theta = max_phase * u2`` with ``u1, u2 ~ U(0, 1)``.
  Defaults ``r_min = 0.9``, ``r_max = 0.999``, ``max_phase = 2 pi`` (``config.lru_*``): the radii the
  paper's long-range experiments use; the small-phase setting (``pi / 10``) it keeps for its longest
  tasks is one option away.
- **Normalisation** (Section 3.4): ``gamma = sqrt(1 - |lambda|^2)`` per state, kept as a trained
  ``gamma_log`` initialised to that value, so that at initialisation the state's variance does not
  grow as ``|lambda|`` approaches 1.
- **B, C, D**: complex ``B`` with real and imaginary parts ``N(0, 1 / (2 H))`` (Glorot-like, as the
  paper), complex ``C`` with parts ``N(0, 1 / N)``, real ``D ~ N(0, 1)``. ``B`` and ``C`` are stored
  as real matrices with the two parts interleaved (``C`` as ``Re C, -Im C``), so that ``B x`` and
  ``Re(C h)`` are one real matrix product each.
- **The block** (Section 2 and its Figure 1): per layer ``x + dropout(GLU(dropout(GELU(LRU(LayerNorm(x))))))``
  with ``GLU(v) = W_1 v * sigmoid(W_2 v)``, after a linear encoder to ``H``; no final norm (the paper
  pools the residual stream directly).

Where the paper is silent or offers a choice:

- **Norm**: the paper allows batch or layer norm; we use LayerNorm, which normalises each frame alone
  (batch norm would pool statistics over time, padding included, and needs a mask).
- **State size** ``N = H = hidden``: the paper's models use ``N`` of the order of ``H``; equal sizes keep
  one width option for every unit. The complex state holds ``2 N`` real numbers per layer.
- **Precision**: under bf16 autocast the LRU itself (``B x``, the scan, ``C h``) runs with autocast
  off, in float32 / complex64 (PyTorch has no bf16 complex type); the encoder and GLU stay in bf16.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .kernels import linear_scan, warm_up
from .residual import Dropout, ResidualStack, no_autocast, scan_dtype

__all__ = ["LRULayer", "LRUBlock", "LRU"]


class LRULayer(nn.Module):
    """The linear recurrent unit, ``(batch, time, hidden)`` -> ``(batch, time, hidden)``, state ``(batch, state)`` complex.

    Args:
        hidden: input and output width ``H``.
        state: complex state size ``N``.
        r_min: inner radius of the ring the eigenvalues start on.
        r_max: its outer radius.
        max_phase: largest initial eigenvalue phase (radians).
        kernel: back end of :func:`models.kernels.linear_scan`.
    """

    def __init__(self, hidden: int, state: int, r_min: float = 0.9, r_max: float = 0.999,
                 max_phase: float = math.tau, kernel: str = "auto"):
        super().__init__()
        self.kernel = kernel
        if kernel in ("auto", "numba"):
            warm_up("scan")  # JIT compile (or cache load) now, not inside the first timed step
        u1, u2 = torch.rand(state), torch.rand(state)
        nu = -0.5 * torch.log(u1 * (r_max ** 2 - r_min ** 2) + r_min ** 2)  # (state,) -log|lambda|
        self.nu_log = nn.Parameter(torch.log(nu))
        self.theta_log = nn.Parameter(torch.log(max_phase * u2))
        self.gamma_log = nn.Parameter(0.5 * torch.log(1 - torch.exp(-2 * nu)))  # log sqrt(1 - |lambda|^2)
        # complex B and C, each stored as one real matrix with real and imaginary parts interleaved, so
        # that B x and Re(C h) are one real product each and complex views need no copy:
        # B: rows (Re B_0, Im B_0, Re B_1, ...); C: columns (Re C_0, -Im C_0, Re C_1, ...)
        self.B = nn.Parameter(torch.randn(2 * state, hidden) / math.sqrt(2 * hidden))
        self.C = nn.Parameter(torch.randn(hidden, 2 * state) / math.sqrt(state))
        self.D = nn.Parameter(torch.randn(hidden))

    @classmethod
    def from_config(cls, config: ModelConfig, i: int = 0) -> "LRULayer":
        """The LRU of width and state ``config.hidden`` with ``config``'s ring and scan back end.

        Args:
            config: ``hidden``, ``lru_r_min``, ``lru_r_max``, ``lru_max_phase`` and ``scan_kernel``.
            i: the layer's index (every layer is built alike).

        Returns:
            The layer.
        """
        return cls(config.hidden, config.hidden, config.lru_r_min, config.lru_r_max, config.lru_max_phase,
                   config.scan_kernel)

    def _lambda_and_input(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``lambda`` ``(state,)`` and ``gamma * B x`` ``(..., state)``, complex."""
        x = scan_dtype(x)
        real = x.dtype
        lam = torch.polar(torch.exp(-torch.exp(self.nu_log)), torch.exp(self.theta_log)).to(_complex(real))  # (state,)
        # gamma * (B x) = (gamma B) x: scaling B's rows costs a (2 state, hidden) product per call
        # instead of a complex one per frame, forward and backward
        gamma = torch.exp(self.gamma_log).repeat_interleave(2)  # (2 * state,): one per interleaved row
        bx = F.linear(x, (gamma.unsqueeze(1) * self.B).to(real))  # (..., 2 * state): Re and Im interleaved
        return lam, torch.view_as_complex(bx.unflatten(-1, (-1, 2)))  # (state,), (..., state) complex, a view

    def _output(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``Re(C h) + D x`` = ``sum_n Re(C_n) Re(h_n) - Im(C_n) Im(h_n) + D x``, one real product."""
        parts = torch.view_as_real(h).flatten(-2)  # (..., 2 * state): Re and Im interleaved, a view
        y = F.linear(parts, self.C.to(parts.dtype))  # (..., hidden)
        return torch.addcmul(y, self.D.to(parts.dtype), scan_dtype(x))  # (..., hidden)

    def recurrent_macs(self) -> int:
        """Multiply-adds per frame of ``lambda * h_{t-1}``: a complex product, four real ones per state.

        Returns:
            ``4 * state``.
        """
        return 4 * self.nu_log.numel()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with no_autocast(x):  # complex products have no bf16 form: the whole unit runs in float32
            lam, bx = self._lambda_and_input(x)  # (state,), (batch, time, state)
            h = linear_scan(lam, bx, None, self.kernel)  # (batch, time, state) complex
            return self._output(h, x)  # (batch, time, hidden)

    def step(self, x_t: torch.Tensor, h: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """One frame ``(batch, hidden)``: ``h_t = lambda h_{t-1} + gamma B x_t``; ``h`` None = zeros.

        Args:
            x_t: ``(batch, hidden)``, one frame.
            h: the complex state after the previous frame ``(batch, state)``, or None at the first.

        Returns:
            The output ``(batch, hidden)`` and the new state ``(batch, state)``.
        """
        with no_autocast(x_t):
            lam, bx = self._lambda_and_input(x_t)  # (state,), (batch, state)
            h = bx if h is None else lam * h + bx  # (batch, state)
            return self._output(h, x_t), h  # (batch, hidden)


def _complex(real: torch.dtype) -> torch.dtype:
    return torch.complex128 if real == torch.float64 else torch.complex64


class LRUBlock(nn.Module):
    """The paper's block body: ``GLU(dropout(GELU(LRU(x))))`` (the stack adds its dropout, norm and residual).

    Args:
        config: the LRU's options (:meth:`LRULayer.from_config`), ``hidden``, ``dropout`` and
            ``time_shared_dropout``.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        hidden = config.hidden
        self.lru = LRULayer.from_config(config)
        self.glu = nn.Linear(hidden, 2 * hidden)  # W_1 and W_2 of GLU(v) = W_1 v * sigmoid(W_2 v)
        self.dropout = Dropout(config.dropout, config.time_shared_dropout)

    def _mlp(self, y: torch.Tensor) -> torch.Tensor:
        # F.glu splits the last dimension in halves: value * sigmoid(gate), forward and backward fused
        return F.glu(self.glu(self.dropout(F.gelu(y))), dim=-1)  # (..., hidden); the stack's dropout follows

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._mlp(self.lru(x))  # (batch, time, hidden)

    def step(self, x_t: torch.Tensor, h: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        y, h = self.lru.step(x_t, h)  # (batch, hidden)
        return self._mlp(y), h  # (batch, hidden)


class LRU(ResidualStack):
    """LRU blocks in pre-norm residual form (LayerNorm), ``config.layers`` deep at ``config.hidden``.

    Args:
        input_size: features per frame.
        config: ``hidden``, ``layers``, ``dropout``, ``time_shared_dropout`` and the LRU's options.

    Shape:
        ``(batch, time, input_size)`` -> ``(batch, time, config.hidden)``.
    """

    def __init__(self, input_size: int, config: ModelConfig):
        super().__init__(input_size, config.hidden, config.layers, config.dropout,
                         lambda i: LRUBlock(config), lambda: nn.LayerNorm(config.hidden),
                         final_norm=False, time_shared_dropout=config.time_shared_dropout)
