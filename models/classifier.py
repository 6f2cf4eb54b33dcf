"""The head every unit shares: read each sequence at its last valid frame, dropout, linear -> logits."""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["SequenceClassifier"]


class SequenceClassifier(nn.Module):
    """Wraps an encoder ``(batch, time, features) -> (batch, time, hidden)`` into a classifier.

    The logits come from the encoder's state at each sequence's own last valid frame
    (``lengths - 1``). Features are padded at the end and every encoder here is causal, so the state
    at that frame never depends on the padding. Softmax is left to the loss
    (``nn.CrossEntropyLoss`` takes logits).

    Args:
        encoder: module with an ``output_size`` attribute (its hidden width), called as
            ``encoder(x, lengths)``; ``lengths`` (or None) lets it keep padding out of anything that
            mixes frames (the IndRNN's batch-norm statistics).
        n_classes: number of genres.
        dropout: dropout on the selected state before the linear layer.
    """

    def __init__(self, encoder: nn.Module, n_classes: int, dropout: float = 0.0):
        super().__init__()
        self.encoder = encoder
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
        if idx is None:
            last = states[:, -1]  # (batch, hidden)
        else:
            last = states[torch.arange(states.shape[0], device=states.device), idx]  # (batch, hidden)
        return self.head(self.dropout(last))  # (batch, n_classes)

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
