"""Batch normalisation whose statistics count only valid (non-padding) frames, with static shapes.

``nn.BatchNorm1d`` over ``x[valid]`` would give the right numbers, but boolean-mask indexing has a
data-dependent shape: on CUDA it synchronises the host (to learn how many rows there are) and it
cannot be captured in a CUDA graph. Here the mask is a 0/1 weight per frame and the statistics are
weighted sums, so every tensor keeps the batch's shape and nothing waits for the device:

    n    = sum(w)                      mean = sum(w * x) / n
    var  = sum(w * (x - mean)^2) / n   (biased, used to normalise, as BatchNorm does)
    running_var <- (1 - m) running_var + m * var * n / (n - 1)   (unbiased, as BatchNorm does)

The buffers and parameters are BatchNorm1d's own, so state dicts are interchangeable. In evaluation,
or without a mask, it is plain ``BatchNorm1d`` over every frame; so it is on the CPU when every frame
of the batch is valid (there, asking costs no device synchronisation, and the native kernel is faster).
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["MaskedBatchNorm"]


class MaskedBatchNorm(nn.BatchNorm1d):
    """``BatchNorm1d`` over the last axis of ``(batch, time, features)``, statistics over valid frames.

    Call as ``norm(x, weight)`` with ``weight`` a ``(batch, time, 1)`` float tensor: 1 for a valid frame,
    0 for padding (or ``None``: every frame is valid). Padding frames are normalised like the others
    but never enter the statistics. Constructed as ``nn.BatchNorm1d(num_features, ...)``.
    """

    def forward(self, x: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:  # type: ignore[override]
        """Normalise ``x`` (training: statistics of the valid frames, and the running statistics updated).

        Args:
            x: ``(batch, time, features)``.
            weight: ``(batch, time, 1)``, 1 for a valid frame and 0 for padding, or None (every frame
                valid); ignored in evaluation mode, which uses the running statistics.

        Returns:
            ``(batch, time, features)``.
        """
        if weight is None or not self.training:
            return self._plain(x)
        if weight.device.type == "cpu" and bool(weight.all()):  # free to ask on the CPU (no device to wait for)
            return self._plain(x)  # every frame valid: the same numbers, by the faster native kernel
        return self.weighted(x, weight)

    def _plain(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.reshape(-1, x.shape[-1])).view_as(x)  # (batch, time, features)

    def weighted(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Training-mode batch norm with statistics over the frames where ``weight`` is 1.

        Args:
            x: ``(batch, time, features)``.
            weight: ``(batch, time, 1)`` 0/1 weights of the frames.

        Returns:
            ``(batch, time, features)``; the running statistics are updated (when tracked).
        """
        features = x.shape[-1]
        w = weight.reshape(-1).to(x.dtype)  # (batch * time,)
        rows = x.reshape(-1, features)  # (batch * time, features)
        valid = (w > 0).unsqueeze(1)  # (batch * time, 1)
        n = w.sum()  # valid frames in the batch (a device scalar: never read on the host)
        # selects, not products with the 0/1 weight: an inf in a padded frame would make 0 * inf = NaN
        mean = (w @ torch.where(valid, rows, 0.0)) / n  # (features,): a matrix-vector product, no masked copy
        centred = rows - mean  # (batch * time, features)
        var = (w @ torch.where(valid, centred * centred, 0.0)) / n  # (features,) biased, used to normalise
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / self.num_batches_tracked
                self.running_mean.mul_(1 - m).add_(mean.detach() * m)
                self.running_var.mul_(1 - m).add_(var.detach() * (n / (n - 1).clamp_min(1)) * m)
        scale = torch.rsqrt(var + self.eps)  # (features,)
        if self.affine:
            return torch.addcmul(self.bias, centred, scale * self.weight).view_as(x)  # (batch, time, features)
        return (centred * scale).view_as(x)
