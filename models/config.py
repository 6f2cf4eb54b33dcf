"""One dataclass for every unit's architecture: depth, width, dropout, readout, and each unit's extras.

Defaults follow the paper (Wu et al.: 5 layers, dropout 0.5) where it says something, and
Li et al. (2018) for the IndRNN details it leaves open. The paper gives no hidden size; we use 128
(small enough for a 2-core CPU, the width of Li et al.'s pixel-MNIST IndRNN). The modern units'
fields (``lru_*``, ``mamba_*``) take their defaults from their own papers (see :mod:`models.lru`,
:mod:`models.mamba`).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

__all__ = ["ModelConfig"]

KERNEL_CHOICES = ("auto", "numba", "triton", "triton_loop", "reference")
# back ends of the diagonal linear scan (models.kernels.linear_scan) the modern units may ask for
SCAN_KERNEL_CHOICES = ("auto", "numba", "triton", "logspace", "reference")
READOUTS = ("last", "mean")
# the module tree around each unit's recurrence (models.scaffold): as published, or one for every unit
BLOCKS = ("native", "stack", "residual")
NORMS = ("none", "layer", "batch")  # the one norm of the controlled scaffolds


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
        time_shared_dropout: IndRNN and the modern units' residual blocks (minGRU, minLSTM, LRU,
            Mamba): one dropout mask per sequence shared by all time steps, as Li et al.'s IndRNN code
            (``Dropout_overtime``) and the LRU's reference code do; False = a fresh mask per element,
            like PyTorch's RNN/LSTM/GRU (whose built-in dropout between layers is always per element).
        recurrent: IndRNN only: False drops the recurrence (``h_t = relu(W x_t + b)``), giving the
            "no recurrence" stack that measures the matrix-product floor. Registered as
            ``indrnn_norec``.
        kernel: IndRNN only: recurrence implementation, see :mod:`models.kernels` ("auto" picks the
            fused kernel for the tensor's device).
        readout: what the shared head reads: ``"last"``, the state at each sequence's last valid
            frame (the paper's), or ``"mean"``, the average over its valid frames (as the LRU and
            Mamba papers classify). Padding reaches neither.
        scan_kernel: minGRU, minLSTM, LRU and Mamba: back end of their linear scan
            (:func:`models.kernels.linear_scan`; "auto" picks the fastest for the tensor's device).
        lru_r_min: LRU: inner radius of the ring its eigenvalues start on (Orvieto et al.: 0.9).
        lru_r_max: LRU: outer radius of that ring (0.999).
        lru_max_phase: LRU: largest initial eigenvalue phase, radians (2 pi: the whole ring).
        mamba_d_state: Mamba: state size N per channel (Gu & Dao: 16).
        mamba_expand: Mamba: inner width = ``mamba_expand * hidden`` (2).
        mamba_d_conv: Mamba: width of the causal depthwise convolution (4).
        block: the module tree around the recurrence (:mod:`models.scaffold`): ``"native"``, each unit
            as published (PyTorch's stacked layers, the IndRNN with batch norm, the modern units in
            their residual blocks); ``"stack"``, every unit as plain stacked layers with the same norm
            and dropout between them; ``"residual"``, every unit in the same pre-norm residual block
            with a final norm. In the last two only the recurrence differs between units.
        norm: ``"stack"`` and ``"residual"``: the one norm of every unit, ``"none"``, ``"layer"``
            (LayerNorm, per frame) or ``"batch"`` (statistics over valid frames only). Ignored by
            ``"native"``, where each unit keeps its own.

    Raises:
        ValueError: naming every field whose value is out of range or not one of its choices.
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
    readout: str = "last"
    scan_kernel: str = "auto"
    lru_r_min: float = 0.9
    lru_r_max: float = 0.999
    lru_max_phase: float = math.tau
    mamba_d_state: int = 16
    mamba_expand: int = 2
    mamba_d_conv: int = 4
    block: str = "native"
    norm: str = "layer"

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
        if self.readout not in READOUTS:
            problems.append(f"readout must be one of {', '.join(READOUTS)}, got {self.readout!r}")
        if self.scan_kernel not in SCAN_KERNEL_CHOICES:
            problems.append(f"scan_kernel must be one of {', '.join(SCAN_KERNEL_CHOICES)}, got {self.scan_kernel!r}")
        if self.block not in BLOCKS:
            problems.append(f"block must be one of {', '.join(BLOCKS)}, got {self.block!r}")
        if self.norm not in NORMS:
            problems.append(f"norm must be one of {', '.join(NORMS)}, got {self.norm!r}")
        if not 0.0 <= self.lru_r_min < self.lru_r_max < 1.0:
            problems.append(f"need 0 <= lru_r_min < lru_r_max < 1, got {self.lru_r_min!r} and {self.lru_r_max!r}")
        if not 0.0 < self.lru_max_phase <= math.tau:
            problems.append(f"lru_max_phase must be in (0, 2 pi], got {self.lru_max_phase!r}")
        for name in ("mamba_d_state", "mamba_expand", "mamba_d_conv"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                problems.append(f"{name} must be a positive integer, got {value!r}")
        if problems:
            raise ValueError("invalid ModelConfig: " + "; ".join(problems))

    @property
    def u_bound(self) -> float:
        """Largest allowed ``|u|``: ``u_magnitude ** (1 / max_len)``."""
        return self.u_magnitude ** (1.0 / self.max_len)

    def to_dict(self) -> dict:
        """Every field by name, as stored with a run.

        Returns:
            ``{field: value}`` (a new dict).
        """
        return asdict(self)
