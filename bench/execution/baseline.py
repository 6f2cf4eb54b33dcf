"""The classic, non-recurrent reference, rerun on the same folds as the units.

In the style of Andén & Mallat: each clip's log-scattering frames are summarised by their mean and
standard deviation over *valid* frames only (padding excluded), standardised with training-fold
statistics, and classified by multinomial logistic regression (scikit-learn). It needs no validation
part, so it fits on train + validation and is scored on the same test fold as the units.
"""
from __future__ import annotations

import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..protocol.splits import Split

__all__ = ["BASELINE", "clip_statistics", "fit_baseline", "score_baseline", "c_for_weight_decay"]

BASELINE = "scat+logreg"  # its name in every table
"""The baseline's name in every table, beside the units' (``--baseline`` adds it to a run)."""


def clip_statistics(x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(n, frames, channels) -> (n, 2 * channels): mean and std over each clip's valid frames.

    Args:
        x: ``(n, frames, channels)`` features.
        lengths: ``(n,)`` valid frames per clip (at least 1).

    Returns:
        ``(n, 2 * channels)`` float32: the means, then the standard deviations.
    """
    mask = (np.arange(x.shape[1])[None, :] < lengths[:, None])[..., None]  # (n, frames, 1)
    n = lengths[:, None].astype(np.float64)
    mean = (x * mask).sum(1) / n
    var = (((x - mean[:, None, :]) * mask) ** 2).sum(1) / n
    return np.concatenate([mean, np.sqrt(var)], axis=1).astype(np.float32)


def _fit(stats: np.ndarray, labels: np.ndarray, fit_idx: np.ndarray, C: float, seed: int):
    """The pipeline (standardise, logistic regression) fitted on the clips ``fit_idx``, and its fit seconds."""
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000, random_state=seed))
    t0 = time.perf_counter()
    clf.fit(stats[fit_idx], labels[fit_idx])
    return clf, time.perf_counter() - t0


def _probabilities(clf, x: np.ndarray, n_classes: int) -> np.ndarray:
    """``(n, n_classes)``: a class the fit never saw gets probability 0."""
    probs = np.zeros((len(x), n_classes))
    probs[:, clf.classes_] = clf.predict_proba(x)
    return probs


def fit_baseline(stats: np.ndarray, labels: np.ndarray, split: Split, C: float = 1.0, seed: int = 0):
    """Fit on train + validation, predict the test fold. Returns (test_acc, predictions, probs, fit seconds).

    Args:
        stats: ``(n, 2 * channels)`` from :func:`clip_statistics`.
        labels: ``(n,)`` class indices.
        split: the split.
        C: scikit-learn's inverse L2 penalty.
        seed: the logistic regression's seed.

    Returns:
        (tuple[float, list[int], numpy.ndarray, float]): ``(test_acc, pred, probs, fit_s)``: accuracy on
            the test part, the predicted classes (a list),
            ``(n_test, n_classes)`` probabilities (0 for a class the fit never saw) and the fit's seconds.
    """
    test = np.array(split.test)
    clf, fit_s = _fit(stats, labels, np.array(split.train + split.val), C, seed)
    probs = _probabilities(clf, stats[test], labels.max() + 1)
    pred = probs.argmax(1)
    return float((pred == labels[test]).mean()), pred.tolist(), probs, fit_s


def c_for_weight_decay(weight_decay: float, n_fit: int) -> float:
    """scikit-learn's ``C`` that penalises the weights as Adam's ``weight_decay`` does a network's.

    ``LogisticRegression`` minimises ``C * sum(loss) + ||w||^2 / 2``, i.e. (divided by ``C n``) the mean
    loss plus ``||w||^2 / (2 C n)``; weight decay ``lambda`` adds ``lambda ||w||^2 / 2`` to the mean loss.
    So ``C = 1 / (lambda n)``: the tuned baseline searches the same weight-decay range as the units.

    Args:
        weight_decay: ``lambda`` (> 0).
        n_fit: clips the baseline is fitted on.

    Returns:
        ``1 / (weight_decay * n_fit)``.
    """
    return 1.0 / (weight_decay * n_fit)


def score_baseline(stats: np.ndarray, labels: np.ndarray, split: Split, C: float, seed: int = 0) -> dict:
    """A tuning trial of the baseline: fit on the training part only (the validation part chooses, as for
    the units), then score validation and test. Returns val_acc, val_loss, test_acc, pred, fit_s.

    Args:
        stats: ``(n, 2 * channels)`` from :func:`clip_statistics`.
        labels: ``(n,)`` class indices.
        split: the split.
        C: scikit-learn's inverse L2 penalty (:func:`c_for_weight_decay`).
        seed: the logistic regression's seed.

    Returns:
        ``{val_acc, val_loss, test_acc, pred, fit_s}``: the validation loss is the mean cross-entropy
            (probabilities clipped at 1e-15), ``pred`` the test clips' predicted classes.
    """
    val, test = np.array(split.val), np.array(split.test)
    clf, fit_s = _fit(stats, labels, np.array(split.train), C, seed)
    n_classes = int(labels.max()) + 1
    val_probs = _probabilities(clf, stats[val], n_classes)
    pred = _probabilities(clf, stats[test], n_classes).argmax(1)
    return dict(val_acc=float((val_probs.argmax(1) == labels[val]).mean()),
                val_loss=float(-np.log(np.clip(val_probs[np.arange(len(val)), labels[val]], 1e-15, None)).mean()),
                test_acc=float((pred == labels[test]).mean()), pred=pred.tolist(), fit_s=fit_s)
