"""One training iteration, the only thing the harness times, run eagerly or replayed from a CUDA graph.

An iteration is: zero the gradients, forward and loss (under the precision policy's autocast),
backward, gradient-norm clipping, optimiser step (which also runs the units' parameter projections,
:func:`models.project_after_step`). The batch is already gathered on the device before the clock
starts; the clock is read around the step alone (:class:`bench.measure.timing.IterationTimer`).

* ``eager``: what a user's training script pays, Python and kernel launches included.
* ``graph`` (CUDA only): the whole iteration captured once in one CUDA graph and replayed, so the time
  is the GPU's work alone. The same code for every unit: static input buffers, warm-up steps on a
  side stream before capture, Adam with ``capturable=True``, cuDNN weights flattened. A batch of
  another size (the last, partial batch of an epoch) runs eagerly and is flagged as partial.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

import models

from ..config import STEP_MODES
from ..measure.policy import PolicyError, autocast
from ..measure.timing import IterationTimer

__all__ = ["make_optimizer", "check_graph_device", "flatten_rnn_weights", "CapturedCall", "TrainStep"]


def make_optimizer(model: nn.Module, lr: float, weight_decay: float = 0.0, step: str = "eager",
                   fused: bool = False) -> torch.optim.Optimizer:
    """Adam for every unit; capturable in graph mode, optionally fused in eager mode; with the
    model's parameter projections hooked onto its ``step()``.

    Args:
        model: the model to train.
        lr: learning rate.
        weight_decay: Adam's weight decay.
        step: ``"eager"`` or ``"graph"`` (capturable Adam).
        fused: Adam's fused implementation (eager only).

    Returns:
        The optimiser, with :func:`models.project_after_step` registered.

    Raises:
        ValueError: ``fused`` in graph mode.
    """
    if step == "graph" and fused:
        raise ValueError("fused Adam is an eager-mode option; graph mode uses capturable Adam")
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay,
                           capturable=step == "graph", fused=True if fused else None)
    models.project_after_step(opt, model)
    return opt


def check_graph_device(device: str | torch.device) -> None:
    """Graph mode needs CUDA: a :class:`PolicyError` (a ValueError) naming the option otherwise.

    Args:
        device: the run's device.

    Raises:
        PolicyError: ``device`` is not a CUDA device.
    """
    if torch.device(device).type != "cuda":
        raise PolicyError(f"--step graph needs a CUDA device (got {device}): a CUDA graph captures GPU work; "
                         "use --step eager on the CPU")


def flatten_rnn_weights(model: nn.Module) -> None:
    """cuDNN wants each RNN's weights in one contiguous block before a CUDA graph captures it.

    Args:
        model: every ``nn.RNN``/``nn.LSTM``/``nn.GRU`` in it calls ``flatten_parameters()``.
    """
    for m in model.modules():
        if isinstance(m, nn.RNNBase):
            m.flatten_parameters()


class CapturedCall:
    """``fn()`` run eagerly ``warmup`` times on a side stream, then captured in a CUDA graph and replayed.

    ``fn`` must read and write only tensors whose addresses never change (static buffers,
    parameters, optimiser state). ``before_eager`` runs before every eager call and before the
    capture (e.g. ``zero_grad(set_to_none=True)``, so the captured backward allocates the gradients
    that every replay overwrites). Each :meth:`__call__` does the work once: an eager warm-up call,
    or the capture followed by one replay, or a replay.

    Args:
        fn: the work, returning a tensor.
        warmup: eager calls before the capture.
        before_eager: run before every eager call and before the capture; None does nothing.
    """

    def __init__(self, fn: Callable[[], torch.Tensor], warmup: int = 3,
                 before_eager: Callable[[], None] | None = None):
        self.fn, self.warmup, self.before_eager = fn, warmup, before_eager or (lambda: None)
        self.calls, self.graph, self.out = 0, None, None

    @property
    def captured(self) -> bool:
        """Whether the graph has been captured (every later call is a replay)."""
        return self.graph is not None

    def __call__(self) -> torch.Tensor:
        """Do the work once: eagerly on a side stream while warming up, else by replaying the graph.

        Returns:
            ``fn()``'s result: after the capture, the graph's output buffer, overwritten by the next replay.
        """
        self.calls += 1
        if self.graph is None and self.calls <= self.warmup:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):  # warm-up off the default stream, as capture requires
                self.before_eager()
                out = self.fn()
            torch.cuda.current_stream().wait_stream(side)
            return out
        if self.graph is None:
            self.before_eager()
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.out = self.fn()
        self.graph.replay()
        return self.out


class TrainStep:
    """The training iteration of one model; ``step(x, lengths, y, timer)`` runs and times it.

    Args:
        model: a classifier ``model(x, lengths) -> logits``.
        optimizer: from :func:`make_optimizer` (capturable in graph mode).
        clip_grad: max gradient L2 norm, 0 = no clipping.
        precision: the policy's precision (``bf16`` -> autocast around forward and loss).
        mode: ``eager`` or ``graph``.
        batch_size: the full batch size; graph mode captures batches of this size only.
        graph_warmup: eager iterations before the capture (graph mode).
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, clip_grad: float = 0.0,
                 precision: str = "fp32", mode: str = "eager", batch_size: int | None = None,
                 graph_warmup: int = 3):
        if mode not in STEP_MODES:
            raise ValueError(f"step mode must be one of {', '.join(STEP_MODES)}, got {mode!r}")
        self.model, self.opt, self.clip_grad, self.precision, self.mode = model, optimizer, clip_grad, precision, mode
        self.device, self.batch_size = next(model.parameters()).device, batch_size
        self._static: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self._graph: CapturedCall | None = None
        if mode == "graph":
            check_graph_device(self.device)
            if not batch_size:
                raise ValueError("graph mode needs the full batch size (the shape it captures)")
            flatten_rnn_weights(model)
            self._graph = CapturedCall(self._static_body, graph_warmup,
                                       lambda: self.opt.zero_grad(set_to_none=True))

    def loss(self, x: torch.Tensor, lengths: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Forward and loss, under the precision policy's autocast.

        Args:
            x: ``(batch, frames, channels)``.
            lengths: ``(batch,)`` valid frames.
            y: ``(batch,)`` class indices.

        Returns:
            The mean cross-entropy, a scalar tensor in the autograd graph.
        """
        with autocast(self.precision, self.device):
            return F.cross_entropy(self.model(x, lengths), y)

    def body(self, x: torch.Tensor, lengths: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Forward, loss, backward, clipping, optimiser step (gradients already zeroed).

        Args:
            x: ``(batch, frames, channels)``.
            lengths: ``(batch,)`` valid frames.
            y: ``(batch,)`` class indices.

        Returns:
            The loss, detached.
        """
        loss = self.loss(x, lengths, y)
        loss.backward()
        if self.clip_grad:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad)
        self.opt.step()
        return loss.detach()

    def _static_body(self) -> torch.Tensor:
        return self.body(*self._static)

    def __call__(self, x: torch.Tensor, lengths: torch.Tensor, y: torch.Tensor,
                 timer: IterationTimer) -> torch.Tensor:
        """Run one iteration on a gathered batch and record its time; returns the loss (a device scalar).

        Args:
            x: ``(batch, frames, channels)``, already on the device.
            lengths: ``(batch,)`` valid frames.
            y: ``(batch,)`` class indices.
            timer: records the iteration (flagged warm-up during a graph's warm-up and capture, and
                partial when the batch is smaller than ``batch_size``).

        Returns:
            The loss, a device scalar (reading it synchronises: the trainer reads once per epoch).
        """
        n = x.shape[0]
        if self._graph is None or n != self.batch_size:
            with timer.iteration(n):  # eager (or a partial batch in graph mode: flagged partial by size)
                # after a capture the gradients are the graph's buffers: zero them, keep them
                self.opt.zero_grad(set_to_none=self._graph is None or not self._graph.captured)
                return self.body(x, lengths, y)
        if self._static is None:
            self._static = (x.clone(), lengths.clone(), y.clone())
        else:  # into the static buffers, before the clock starts
            for buf, src in zip(self._static, (x, lengths, y)):
                buf.copy_(src)
        steady = self._graph.captured
        with timer.iteration(n, warmup=not steady):  # warm-up and capture are flagged, whatever --warmup-iters
            loss = self._graph()
        return loss.clone()  # the graph's output buffer is overwritten by the next replay
