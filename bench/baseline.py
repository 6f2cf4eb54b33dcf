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

from .splits import Split

__all__ = ["BASELINE", "clip_statistics", "fit_baseline", "score_baseline", "c_for_weight_decay"]

BASELINE = "scat+logreg"  # its name in every table


def clip_statistics(x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(n, frames, channels) -> (n, 2 * channels): mean and std over each clip's valid frames."""
    mask = (np.arange(x.shape[1])[None, :] < lengths[:, None])[..., None]  # (n, frames, 1)
    n = lengths[:, None].astype(np.float64)
    mean = (x * mask).sum(1) / n
    var = (((x - mean[:, None, :]) * mask) ** 2).sum(1) / n
    return np.concatenate([mean, np.sqrt(var)], axis=1).astype(np.float32)


def fit_baseline(stats: np.ndarray, labels: np.ndarray, split: Split, C: float = 1.0, seed: int = 0):
    """Fit on train + validation, predict the test fold. Returns (test_acc, predictions, probs, fit seconds)."""
    fit_idx = np.array(split.train + split.val)
    test = np.array(split.test)
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000, random_state=seed))
    t0 = time.perf_counter()
    clf.fit(stats[fit_idx], labels[fit_idx])
    fit_s = time.perf_counter() - t0
    probs = np.zeros((len(test), labels.max() + 1))
    probs[:, clf.classes_] = clf.predict_proba(stats[test])
    pred = probs.argmax(1)
    return float((pred == labels[test]).mean()), pred.tolist(), probs, fit_s


def c_for_weight_decay(weight_decay: float, n_fit: int) -> float:
    """scikit-learn's ``C`` that penalises the weights as Adam's ``weight_decay`` does a network's.

    ``LogisticRegression`` minimises ``C * sum(loss) + ||w||^2 / 2``, i.e. (divided by ``C n``) the mean
    loss plus ``||w||^2 / (2 C n)``; weight decay ``lambda`` adds ``lambda ||w||^2 / 2`` to the mean loss.
    So ``C = 1 / (lambda n)``: the tuned baseline searches the same weight-decay range as the units.
    """
    return 1.0 / (weight_decay * n_fit)


def score_baseline(stats: np.ndarray, labels: np.ndarray, split: Split, C: float, seed: int = 0) -> dict:
    """A tuning trial of the baseline: fit on the training part only (the validation part chooses, as for
    the units), then score validation and test. Returns val_acc, val_loss, test_acc, pred, fit_s."""
    train, val, test = (np.array(p) for p in (split.train, split.val, split.test))
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000, random_state=seed))
    t0 = time.perf_counter()
    clf.fit(stats[train], labels[train])
    fit_s = time.perf_counter() - t0
    n_classes = int(labels.max()) + 1
    val_probs = np.zeros((len(val), n_classes))
    val_probs[:, clf.classes_] = clf.predict_proba(stats[val])
    test_probs = np.zeros((len(test), n_classes))
    test_probs[:, clf.classes_] = clf.predict_proba(stats[test])
    pred = test_probs.argmax(1)
    return dict(val_acc=float((val_probs.argmax(1) == labels[val]).mean()),
                val_loss=float(-np.log(np.clip(val_probs[np.arange(len(val)), labels[val]], 1e-15, None)).mean()),
                test_acc=float((pred == labels[test]).mean()), pred=pred.tolist(), fit_s=fit_s)
