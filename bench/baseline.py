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

__all__ = ["BASELINE", "clip_statistics", "fit_baseline"]

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
