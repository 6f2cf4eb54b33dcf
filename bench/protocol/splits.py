"""Cross-validation splits: repeated, shuffled, stratified k-fold (the paper's protocol). Fixed splits and
user folds come from split files (``splitfile.py``).

Each (repeat, fold) is a :class:`Split` of indices into the feature table. The validation part, used for
curves and early stopping, is carved out of the training folds (stratified); the test fold is never
seen during training. Seeds are recorded in the split itself, and splits are saved with the run.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

__all__ = ["Split", "cv_splits", "carve_validation"]


@dataclass(frozen=True)
class Split:
    """One (repeat, fold) split of the clips, as indices into the feature table.

    Attributes:
        repeat: the repeat of the cross-validation, from 0 (0 for a split file).
        fold: the test fold within the repeat, from 0.
        seed: the seed that shuffled this repeat's folds.
        train: the clips trained on.
        val: the clips of validation (curves, early stopping, a tuner's choice), carved from training.
        test: the clips tested on, never seen in training.
    """

    repeat: int
    fold: int
    seed: int  # the seed that shuffled this repeat's folds
    train: tuple[int, ...]
    val: tuple[int, ...]
    test: tuple[int, ...]

    def to_dict(self) -> dict:
        """The split as ``splits.json`` stores it.

        Returns:
            ``{repeat, fold, seed, train, val, test}``.
        """
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Split":
        """The inverse of :meth:`to_dict`.

        Args:
            d: a dict with the six fields (the index lists may be lists).

        Returns:
            The split.
        """
        return cls(d["repeat"], d["fold"], d["seed"], tuple(d["train"]), tuple(d["val"]), tuple(d["test"]))


def cv_splits(labels: np.ndarray, folds: int, repeats: int, seed: int, val_fraction: float = 0.1) -> list[Split]:
    """``repeats`` x stratified ``folds``-fold CV, reshuffled per repeat with seed ``seed + repeat``.

    Args:
        labels: ``(n,)`` class indices of the clips.
        folds: folds per repeat (>= 2, and at most the smallest class's clips).
        repeats: repeats.
        seed: the first repeat's seed.
        val_fraction: share of each training part carved out for validation (:func:`carve_validation`).

    Returns:
        ``repeats * folds`` splits, repeat-major.

    Raises:
        ValueError: a class has fewer clips than ``folds``, or a training part cannot spare validation
            clips.

    Examples:
        >>> import numpy as np
        >>> from bench.protocol.splits import cv_splits
        >>> splits = cv_splits(np.repeat(np.arange(2), 10), folds=5, repeats=2, seed=0)
        >>> len(splits), [len(s.test) for s in splits[:5]], len(splits[0].train), len(splits[0].val)
        (10, [4, 4, 4, 4, 4], 14, 2)
    """
    labels = np.asarray(labels)
    counts = np.bincount(labels)
    if folds < 2 or counts[counts > 0].min() < folds:
        raise ValueError(f"--folds {folds}: stratified {folds}-fold CV needs at least {folds} clips per class; the "
                         f"smallest class has {counts[counts > 0].min()} (after leaving out unreadable clips): "
                         "fewer --folds, or more clips")
    out = []
    for r in range(repeats):
        rseed = seed + r
        skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=rseed)
        for f, (train, test) in enumerate(skf.split(np.zeros(len(labels)), labels)):
            train, val = carve_validation(train, labels, val_fraction, rseed * 1000 + f)
            out.append(Split(r, f, rseed, tuple(map(int, train)), tuple(map(int, val)), tuple(map(int, test))))
    return out


def carve_validation(train: np.ndarray, labels: np.ndarray, fraction: float, seed: int):
    """Split a training part into training and validation clips, stratified by class.

    Args:
        train: the clips of the training part (indices).
        labels: the class of every clip (indexed by those indices).
        fraction: the share held out, at least one clip per class.
        seed: the draw's seed.

    Returns:
        (tuple[numpy.ndarray, numpy.ndarray]): ``(train, val)``, sorted index arrays.

    Raises:
        ValueError: a class has a single clip in the part, or too few clips would be left to train on.
    """
    classes, counts = np.unique(labels[train], return_counts=True)
    n_classes = len(classes)
    n_val = max(int(round(fraction * len(train))), n_classes)  # at least one clip per genre
    if counts.min() < 2:
        raise ValueError(f"--val-fraction {fraction:g}: a class has {counts.min()} clip in a training part, which "
                         "cannot give one to validation and keep one to train on: more clips per class, fewer "
                         "--folds, or a split file with val rows")
    if len(train) - n_val < n_classes:
        raise ValueError(f"--val-fraction {fraction:g} holds out {n_val} of a training part's {len(train)} clips, "
                         f"leaving fewer than one per class ({n_classes}) to train on: use a smaller fraction")
    tr, val = train_test_split(train, test_size=n_val, stratify=labels[train], random_state=seed)
    return np.sort(tr), np.sort(val)
