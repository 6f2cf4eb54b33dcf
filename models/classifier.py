"""The head every unit shares: read each sequence (its last valid frame, or the mean of its valid
frames), dropout, linear -> logits."""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["SequenceClassifier"]


class SequenceClassifier(nn.Module):
    """Wraps an encoder ``(batch, time, features) -> (batch, time, hidden)`` into a classifier.

    The logits come from the encoder's states read one of two ways (``readout``):

    - ``"last"`` (the paper's): the state at each sequence's own last valid frame (``lengths - 1``);
    - ``"mean"``: the average of the states over each sequence's valid frames only (as the LRU and
      Mamba papers pool for classification), a weighted sum with static shapes (no masked copy).

    Features are padded at the end and every encoder here is causal (and any norm in it per frame,
    or masked), so neither reading depends on the padding. Softmax is left to the loss
    (``nn.CrossEntropyLoss`` takes logits).

    Args:
        encoder: module with an ``output_size`` attribute (its hidden width), called as
            ``encoder(x, lengths)``; ``lengths`` (or None) lets it keep padding out of anything that
            mixes frames (the IndRNN's batch-norm statistics).
        n_classes: number of genres.
        dropout: dropout on the selected state before the linear layer.
        readout: ``"last"`` or ``"mean"``.
    """

    def __init__(self, encoder: nn.Module, n_classes: int, dropout: float = 0.0, readout: str = "last"):
        super().__init__()
        if readout not in ("last", "mean"):
            raise ValueError(f"readout must be 'last' or 'mean', got {readout!r}")
        self.encoder, self.readout = encoder, readout
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.output_size, n_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Logits for a batch.

        Args:
            x: ``(batch, time, features)``.
            lengths: ``(batch,)`` integer count of valid frames per sequence (1..time), or ``None``
                when every frame is valid.

        Returns:
            ``(batch, n_classes)`` logits.
        """
        if x.dim() != 3:
            raise ValueError(f"expected input of shape (batch, time, features), got {tuple(x.shape)}")
        idx = None if lengths is None else self._last_index(lengths, x.shape[0], x.shape[1]).to(x.device)  # (batch,)
        states = self.encoder(x, None if idx is None else idx + 1)  # (batch, time, hidden)
        if self.readout == "mean":
            return self.head(self.dropout(self._mean(states, idx)))  # (batch, n_classes)
        if idx is None:
            last = states[:, -1]  # (batch, hidden)
        else:
            last = states[torch.arange(states.shape[0], device=states.device), idx]  # (batch, hidden)
        return self.head(self.dropout(last))  # (batch, n_classes)

    def extra_repr(self) -> str:
        return f"readout={self.readout!r}"

    @staticmethod
    def _mean(states: torch.Tensor, idx: torch.Tensor | None) -> torch.Tensor:
        """Average of ``states`` over each sequence's valid frames ``0..idx`` (every frame when None)."""
        if idx is None:
            return states.mean(dim=1)  # (batch, hidden)
        steps = torch.arange(states.shape[1], device=states.device)  # (time,)
        valid = (steps[None, :] <= idx[:, None]).unsqueeze(-1)  # (batch, time, 1) True = valid frame
        # a select, not a product with a 0/1 mask: even an inf or NaN in a padded state cannot leak in
        total = torch.where(valid, states, states.new_zeros(())).sum(dim=1)  # (batch, hidden)
        return total / (idx + 1).to(states.dtype)[:, None]  # (batch, hidden)

    @staticmethod
    def _last_index(lengths: torch.Tensor, batch: int, steps: int) -> torch.Tensor:
        lengths = torch.as_tensor(lengths)
        if lengths.shape != (batch,) or lengths.dtype.is_floating_point or lengths.dtype == torch.bool:
            raise ValueError(f"lengths must be an integer tensor of shape ({batch},), "
                             f"got {lengths.dtype} {tuple(lengths.shape)}")
        if lengths.device.type == "cpu":  # checking a CUDA tensor would force a device sync
            lo, hi = int(lengths.min()), int(lengths.max())
            if lo < 1 or hi > steps:
                raise ValueError(f"lengths must lie in [1, {steps}] (the time axis), got min {lo}, max {hi}")
        return lengths.long() - 1
