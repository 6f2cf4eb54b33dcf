"""Train one model on one split, through the shared timing harness. Never looks at the unit's name.

Per epoch: shuffled mini-batches (order drawn from the job's seed, identical for every unit), each
gathered on the device and then handed to the timed training step (:mod:`bench.execution.step`: Adam, optional
gradient-norm clipping, eager or CUDA graph); then validation loss, accuracy and one-vs-rest macro
AUC-ROC.
Training stops at ``epochs`` or when validation loss has not improved for ``patience`` epochs; the
best-validation weights are restored and scored on the test fold. A non-finite training or validation
loss, or a non-finite weight (checked once per epoch), stops the fold and marks it diverged.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from tqdm import tqdm

from ..measure.policy import autocast
from ..measure.timing import IterationTimer
from ..protocol.splits import Split
from .step import TrainStep, make_optimizer

__all__ = ["TrainConfig", "FoldData", "FoldOutcome", "train_fold"]


@dataclass(frozen=True)
class TrainConfig:
    """How one fold is trained (:meth:`bench.config.RunConfig.train_options` gives a run's).

    Attributes:
        epochs: the most epochs trained.
        patience: epochs without a better validation loss before stopping; 0 never stops early.
        batch_size: clips per training step; smaller last batches are flagged partial.
        lr: Adam's learning rate.
        weight_decay: Adam's weight decay.
        clip_grad: the largest gradient L2 norm; 0 means no clipping.
        warmup_iters: the first iterations, timed but left out of summaries.
        step: ``"eager"``, or ``"graph"``: the whole step replayed from one CUDA graph.
        precision: the policy's precision (:mod:`bench.measure.policy`); its flags are set by the caller.
        fused_adam: eager mode: Adam's fused implementation.
    """

    epochs: int = 30  # maximum
    patience: int = 10  # epochs without a better validation loss before stopping; 0 = never stop early
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    clip_grad: float = 1.0  # max gradient L2 norm; 0 = no clipping
    warmup_iters: int = 5  # timed but excluded from summaries
    step: str = "eager"  # "eager", or "graph": the whole step replayed from one CUDA graph
    precision: str = "fp32"  # the policy's precision (bench.measure.policy); its flags are set by the caller
    fused_adam: bool = False  # eager mode: Adam's fused implementation


@dataclass
class FoldData:
    """The tensors one fold trains on, standardised with statistics of its training clips only.

    Attributes:
        x: ``(n, frames, channels)`` float32 on the device, every clip of the data set; padding frames 0.
        lengths: ``(n,)`` int64 valid frames per clip, on the device.
        labels: ``(n,)`` int64 class indices, on the device.
        n_classes: classes.
    """

    x: torch.Tensor  # (n, frames, channels) float32 on the device
    lengths: torch.Tensor  # (n,) int64 on the device
    labels: torch.Tensor  # (n,) int64 on the device
    n_classes: int

    @classmethod
    def build(cls, x: np.ndarray, lengths: np.ndarray, labels: np.ndarray, train_idx, n_classes: int,
              device: str | torch.device) -> "FoldData":
        """Standardise every clip with the mean and std of the training clips' valid frames, then move to ``device``.

        Args:
            x: ``(n, frames, channels)`` features of every clip.
            lengths: ``(n,)`` valid frames per clip.
            labels: ``(n,)`` class indices.
            train_idx (Sequence[int]): the training clips, whose valid frames give the statistics.
            n_classes: classes.
            device: where the tensors go.

        Returns:
            The fold's tensors.
        """
        train = np.asarray(train_idx)
        mask = np.arange(x.shape[1])[None, :] < lengths[train, None]  # (n_train, frames): valid frames only
        frames = x[train][mask]  # (n_valid_frames, channels)
        mean, std = frames.mean(0), frames.std(0) + 1e-5
        xs = ((x - mean) / std).astype(np.float32)
        xs[np.arange(x.shape[1])[None, :] >= lengths[:, None]] = 0.0  # padding stays a constant
        dev = torch.device(device)
        return cls(torch.from_numpy(xs).to(dev), torch.from_numpy(lengths).to(dev),
                   torch.from_numpy(labels).to(dev), n_classes)

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The clips ``idx`` gathered into new tensors: ``(batch, frames, channels)``, lengths, labels.

        Args:
            idx: ``(batch,)`` clip indices, on the device.

        Returns:
            ``(x, lengths, labels)`` of those clips.
        """
        return self.x[idx], self.lengths[idx], self.labels[idx]


@dataclass
class FoldOutcome:
    """What training one fold gave (:func:`train_fold`).

    Attributes:
        epochs: one dict per epoch trained: ``epoch``, ``train_loss``, ``val_loss``, ``val_acc``, ``val_auc``.
        test_acc: test accuracy of the best-validation weights (NaN when diverged).
        test_auc: their macro one-vs-rest AUC-ROC on the test part.
        test_pred: the predicted class of each test clip, in the split's order.
        best_epoch: the epoch of the lowest validation loss, whose weights were tested (0: none).
        diverged: a loss or a weight became non-finite; training stopped there and nothing was tested.
        pruned: stopped by the ``stop`` hook (a tuner's pruner).
        note: why it diverged or was pruned (empty otherwise).
    """

    epochs: list[dict] = field(default_factory=list)  # epoch, train_loss, val_loss, val_acc, val_auc
    test_acc: float = float("nan")
    test_auc: float = float("nan")
    test_pred: list[int] = field(default_factory=list)  # predicted class per test clip, split order
    best_epoch: int = 0
    diverged: bool = False
    pruned: bool = False  # stopped by the ``stop`` hook (a tuner's pruner)
    note: str = ""

    @property
    def best(self) -> dict:
        """The epoch row of the best-validation weights (the ones tested), or ``{}`` when none."""
        return self.epochs[self.best_epoch - 1] if self.best_epoch else {}


def _auc(labels: np.ndarray, probs: np.ndarray, n_classes: int) -> float:
    """Macro one-vs-rest AUC-ROC; for two classes the plain AUC of class 1's probability (scikit-learn's
    one-vs-rest form refuses an (n, 2) matrix). NaN when a class is missing from this part, or when the
    probabilities are not finite."""
    if len(np.unique(labels)) < n_classes:
        return float("nan")
    try:
        if n_classes == 2:
            return float(roc_auc_score(labels, probs[:, 1]))
        return float(roc_auc_score(labels, probs, multi_class="ovr", average="macro", labels=list(range(n_classes))))
    except ValueError:  # non-finite probabilities (a diverging model): the epoch is marked diverged by its loss
        return float("nan")


@torch.no_grad()
def evaluate(model: torch.nn.Module, data: FoldData, idx: torch.Tensor, batch_size: int, precision: str = "fp32"):
    """Mean loss, accuracy, macro AUC and predictions on the clips ``idx`` (in the training's precision)."""
    model.eval()
    with autocast(precision, data.x.device):
        logits = torch.cat([model(data.x[b], data.lengths[b]) for b in idx.split(batch_size)]).float()
    y = data.labels[idx]
    loss = F.cross_entropy(logits, y).item()
    pred = logits.argmax(1)
    probs = torch.softmax(logits.double(), 1).cpu().numpy()
    return loss, (pred == y).double().mean().item(), _auc(y.cpu().numpy(), probs, data.n_classes), pred.cpu().tolist()


def _non_finite(model: torch.nn.Module, train_loss: float) -> str | None:
    """What is not finite after an epoch: the training loss, a weight, or nothing (None)."""
    if not math.isfinite(train_loss):
        return "training loss"
    finite = torch.stack([torch.isfinite(p).all() for p in model.parameters()]).all().item()  # one sync
    return None if finite else "weight"


def train_fold(model: torch.nn.Module, data: FoldData, split: Split, cfg: TrainConfig, timer: IterationTimer,
               seed: int, progress: bool = False, desc: str = "",
               stop: Callable[[int, float], bool] | None = None) -> FoldOutcome:
    """Train ``model`` on ``split.train``, stop on ``split.val``, score the best-validation weights on ``split.test``.

    ``stop(epoch, val_loss)``, when given, is asked after each epoch's validation (a tuner's pruner);
    True stops training there (``FoldOutcome.pruned``), and the best weights so far are tested.

    Args:
        model: the classifier, on the data's device; trained in place (left with the tested weights).
        data: the fold's tensors.
        split: the clips of the training, validation and test parts.
        cfg: how to train.
        timer: records every training step's time.
        seed: the batch order's seed (the same for every unit of a fold).
        progress: show the epoch bar.
        desc: the bar's label.
        stop: the pruner's hook, or None.

    Returns:
        The :class:`FoldOutcome`.
    """
    dev = data.x.device
    train, val, test = (torch.tensor(s, dtype=torch.long, device=dev) for s in (split.train, split.val, split.test))
    opt = make_optimizer(model, cfg.lr, cfg.weight_decay, cfg.step, cfg.fused_adam)
    step = TrainStep(model, opt, cfg.clip_grad, cfg.precision, cfg.step, cfg.batch_size)
    order = torch.Generator().manual_seed(seed)  # the batch order: same seed, same order for every unit
    out, best_loss, best_state, stale = FoldOutcome(), math.inf, None, 0
    bar = tqdm(range(1, cfg.epochs + 1), desc=desc, unit="epoch", leave=False, disable=not progress)
    for epoch in bar:
        model.train()
        perm = train[torch.randperm(len(train), generator=order).to(dev)]
        losses = []
        for b in perm.split(cfg.batch_size):
            x, lengths, y = data.batch(b)  # gathered before the clock starts
            losses.append(step(x, lengths, y, timer))  # the step times itself, and nothing else
        train_loss = torch.stack(losses).mean().item()  # one sync per epoch, outside the timed region
        bad = _non_finite(model, train_loss)  # a NaN weight can hide behind a finite loss (ReLU(NaN) = 0)
        if bad:
            out.diverged, out.note = True, f"non-finite {bad} at epoch {epoch}"
            out.epochs.append(dict(epoch=epoch, train_loss=train_loss, val_loss=math.nan, val_acc=math.nan, val_auc=math.nan))
            break
        val_loss, val_acc, val_auc, _ = evaluate(model, data, val, cfg.batch_size, cfg.precision)
        if not math.isfinite(val_loss):
            out.diverged, out.note = True, f"non-finite validation loss at epoch {epoch}"
            out.epochs.append(dict(epoch=epoch, train_loss=train_loss, val_loss=val_loss, val_acc=val_acc,
                                   val_auc=val_auc))
            break
        out.epochs.append(dict(epoch=epoch, train_loss=train_loss, val_loss=val_loss, val_acc=val_acc, val_auc=val_auc))
        bar.set_postfix(loss=f"{train_loss:.3f}", val_acc=f"{val_acc:.2f}")
        if val_loss < best_loss:
            best_loss, best_state, stale, out.best_epoch = val_loss, copy.deepcopy(model.state_dict()), 0, epoch
        else:
            stale += 1
            if cfg.patience and stale >= cfg.patience:
                break
        if stop is not None and stop(epoch, val_loss):
            out.pruned, out.note = True, f"pruned at epoch {epoch}"
            break
    if out.diverged:
        return out
    if best_state is not None:
        model.load_state_dict(best_state)
    _, out.test_acc, out.test_auc, out.test_pred = evaluate(model, data, test, cfg.batch_size, cfg.precision)
    return out
