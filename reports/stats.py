"""Comparing two units measured on the same cross-validation folds.

Folds of repeated k-fold cross-validation share most of their training data, so their accuracy
differences are correlated and the plain paired t-test is far too confident. The corrected resampled
t-test of Nadeau & Bengio ("Inference for the generalization error", Machine Learning 52, 2003),
as recommended by Bouckaert & Frank (PAKDD 2004) for repeated cross-validation, inflates the variance
of the mean difference by the test/train size ratio:

    t = mean(d) / sqrt((1/n + n_test/n_train) * var(d)),   df = n - 1,

for the n = repeats * folds paired differences d_j. With one split (protocol ``filtered``) there is
nothing to test: the difference is reported alone.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

__all__ = ["CorrectedTTest", "corrected_resampled_ttest", "quartiles"]


@dataclass(frozen=True)
class CorrectedTTest:
    n: int  # paired differences used
    mean: float  # mean difference
    std: float  # sample standard deviation of the differences (ddof=1); nan if n < 2
    t: float  # corrected t statistic; nan when no test is possible
    df: int  # n - 1
    p: float  # two-sided p value; nan when no test is possible
    ci_low: float  # 95 % confidence interval of the mean difference, corrected variance
    ci_high: float
    test_train_ratio: float  # n_test / n_train used in the correction
    note: str  # why there is no test, if there is none

    @property
    def tested(self) -> bool:
        return not math.isnan(self.p)


def corrected_resampled_ttest(diffs, test_train_ratio: float, alpha: float = 0.05) -> CorrectedTTest:
    """Nadeau-Bengio corrected resampled t-test on paired per-fold differences.

    Args:
        diffs: one difference per (repeat, fold), both units scored on the same split; NaNs dropped.
        test_train_ratio: n_test / n_train of the splits (their mean when sizes vary slightly).
        alpha: for the (1 - alpha) confidence interval.

    Returns:
        The test; ``t``, ``p`` and the interval are nan (and ``note`` says why) with fewer than two
        differences or with differences that do not vary.
    """
    d = np.asarray(diffs, dtype=float)
    d = d[~np.isnan(d)]
    n = len(d)
    nan = float("nan")
    if n == 0:
        return CorrectedTTest(0, nan, nan, nan, 0, nan, nan, nan, test_train_ratio, "no fold scored both units")
    m = float(d.mean())
    if n == 1:
        return CorrectedTTest(1, m, nan, nan, 0, nan, nan, nan, test_train_ratio,
                              "one split only: the difference is reported, no test is possible")
    s2 = float(d.var(ddof=1))
    if s2 == 0.0:
        return CorrectedTTest(n, m, 0.0, nan, n - 1, nan, nan, nan, test_train_ratio,
                              "the difference is the same on every fold: no variance to test against")
    se = math.sqrt((1.0 / n + test_train_ratio) * s2)
    t = m / se
    df = n - 1
    p = float(2 * sps.t.sf(abs(t), df))
    half = float(sps.t.ppf(1 - alpha / 2, df)) * se
    return CorrectedTTest(n, m, math.sqrt(s2), t, df, p, m - half, m + half, test_train_ratio, "")


def quartiles(x) -> tuple[float, float, float]:
    """(first quartile, median, third quartile) of the finite values of ``x``; nans if none."""
    a = np.asarray(x, dtype=float)
    a = a[np.isfinite(a)]
    if len(a) == 0:
        return (float("nan"),) * 3
    q1, med, q3 = np.percentile(a, [25, 50, 75])
    return float(q1), float(med), float(q3)
