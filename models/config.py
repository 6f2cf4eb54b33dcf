"""One dataclass for every unit's architecture: depth, width, dropout, and the IndRNN's extras.

Defaults follow the paper (Wu et al.: 5 layers, dropout 0.5) where it says something, and
Li et al. (2018) for the IndRNN details it leaves open. The paper gives no hidden size; we use 128
(small enough for a 2-core CPU, the width of Li et al.'s pixel-MNIST IndRNN).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["ModelConfig"]

KERNEL_CHOICES = ("auto", "numba", "triton", "triton_loop", "reference")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture shared by every unit (the IndRNN-only fields are ignored by the others).

    Attributes:
        hidden: neurons per recurrent layer (paper: not given; default 128).
        layers: stacked recurrent layers (paper: 5).
        dropout: dropout between recurrent layers and before the classifier (paper: 0.5).
        batch_norm: IndRNN only: batch norm after each layer's recurrence, statistics over batch
            and (valid) time steps (Li et al.'s "bn after" option). On by default, as Li et al. always
            use it; the paper does not mention it. The same default as ``bench run`` (tested).
        max_len: IndRNN only: the sequence length T that sets the recurrent-weight bound
            ``|u| <= u_magnitude ** (1 / max_len)``. Default 469 = frames of a 30 s clip.
        u_magnitude: IndRNN only: gamma in that bound; ``u^T`` may grow at most gamma-fold over T
            steps (Li et al.'s code calls it MAG). Default 2.
        u_last_long: IndRNN only: initialise the last layer's ``u`` in
            ``[gamma^(-1/T), gamma^(1/T)]`` instead of ``[0, gamma^(1/T)]`` so it starts with long
            memory (Li et al.'s ``u_lastlayer_ini``). Off by default.
        time_shared_dropout: IndRNN only: one dropout mask per sequence shared by all time steps,
            as Li et al.'s code does (``Dropout_overtime``); False = a fresh mask per element,
            like PyTorch's RNN/LSTM/GRU.
        recurrent: IndRNN only: False drops the recurrence (``h_t = relu(W x_t + b)``), giving the
            "no recurrence" stack that measures the matrix-product floor. Registered as
            ``indrnn_norec``.
        kernel: IndRNN only: recurrence implementation, see :mod:`models.kernels` ("auto" picks the
            fused kernel for the tensor's device).
    """

    hidden: int = 128
    layers: int = 5
    dropout: float = 0.5
    batch_norm: bool = True
    max_len: int = 469
    u_magnitude: float = 2.0
    u_last_long: bool = False
    time_shared_dropout: bool = True
    recurrent: bool = True
    kernel: str = "auto"

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.hidden, int) or self.hidden < 1:
            problems.append(f"hidden must be a positive integer, got {self.hidden!r}")
        if not isinstance(self.layers, int) or self.layers < 1:
            problems.append(f"layers must be a positive integer, got {self.layers!r}")
        if not 0.0 <= self.dropout < 1.0:
            problems.append(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not isinstance(self.max_len, int) or self.max_len < 1:
            problems.append(f"max_len must be a positive integer, got {self.max_len!r}")
        if not self.u_magnitude > 1.0:
            problems.append(f"u_magnitude must be > 1, got {self.u_magnitude!r}")
        if self.kernel not in KERNEL_CHOICES:
            problems.append(f"kernel must be one of {', '.join(KERNEL_CHOICES)}, got {self.kernel!r}")
        if problems:
            raise ValueError("invalid ModelConfig: " + "; ".join(problems))

    @property
    def u_bound(self) -> float:
        """Largest allowed ``|u|``: ``u_magnitude ** (1 / max_len)``."""
        return self.u_magnitude ** (1.0 / self.max_len)

    def to_dict(self) -> dict:
        return asdict(self)
