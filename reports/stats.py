"""Comparing two units measured on the same cross-validation folds.

Folds of repeated k-fold cross-validation share most of their training data, so their accuracy
differences are correlated and the plain paired t-test is far too confident. The corrected resampled
t-test of Nadeau & Bengio ("Inference for the generalization error", Machine Learning 52, 2003),
as recommended by Bouckaert & Frank (PAKDD 2004) for repeated cross-validation, inflates the variance
of the mean difference by the test/train size ratio:

    t = mean(d) / sqrt((1/n + n_test/n_train) * var(d)),   df = n - 1,

for the n = repeats * folds paired differences d_j. With one split (protocol ``filtered``) there is
nothing to test: the difference is reported alone.

The same corrected variance gives the interval of one unit's mean score over the folds
(:func:`corrected_interval`, used by Table 1 and Figures 4 and 5a): mean +- t_{n-1} *
sqrt((1/n + n_test/n_train) * var). A bootstrap over folds, as if they were independent, is as
over-confident as the plain t-test. Several pairs tested at once get Holm's step-down adjustment
(:func:`holm`), which keeps the chance of any false "real difference" in the table at 5 %.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

__all__ = ["CorrectedTTest", "corrected_resampled_ttest", "CorrectedMean", "corrected_interval",
           "corrected_half_width", "holm", "quartiles"]


@dataclass(frozen=True)
class CorrectedTTest:
    """The corrected resampled t-test of paired per-fold differences (:func:`corrected_resampled_ttest`).

    Attributes:
        n: paired differences used.
        mean: mean difference.
        std: sample standard deviation of the differences (ddof=1); NaN if ``n < 2``.
        t: the corrected t statistic; NaN when no test is possible.
        df: degrees of freedom, ``n - 1``.
        p: two-sided p value; NaN when no test is possible.
        ci_low: lower end of the confidence interval of the mean difference (corrected variance).
        ci_high: its upper end.
        test_train_ratio: ``n_test / n_train`` used in the correction.
        note: why there is no test, if there is none.
    """

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
        """Whether a test was made (``p`` is not NaN)."""
        return not math.isnan(self.p)


def corrected_resampled_ttest(diffs, test_train_ratio: float, alpha: float = 0.05) -> CorrectedTTest:
    """Nadeau-Bengio corrected resampled t-test on paired per-fold differences.

    Args:
        diffs (ArrayLike): one difference per (repeat, fold), both units scored on the same split; NaNs dropped.
        test_train_ratio: n_test / n_train of the splits (their mean when sizes vary slightly).
        alpha: for the (1 - alpha) confidence interval.

    Returns:
        The test; ``t``, ``p`` and the interval are nan (and ``note`` says why) with fewer than two
            differences or with differences that do not vary.

    Examples:
        >>> from reports.stats import corrected_resampled_ttest
        >>> test = corrected_resampled_ttest([2.0, 1.0, 3.0, 2.5, 1.5], test_train_ratio=0.25)
        >>> round(test.t, 3), test.df, round(test.p, 3)
        (3.771, 4, 0.02)
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


@dataclass(frozen=True)
class CorrectedMean:
    """The mean of one unit's per-fold scores with its corrected interval (:func:`corrected_interval`).

    Attributes:
        n: scores used.
        mean: their mean.
        std: sample standard deviation (ddof=1); NaN if ``n < 2``.
        low: lower end of the (1 - alpha) interval of the mean, corrected variance; NaN if ``n < 2``.
        high: its upper end.
    """

    n: int  # scores used
    mean: float
    std: float  # sample standard deviation (ddof=1); nan if n < 2
    low: float  # (1 - alpha) interval of the mean, corrected resampled variance; nan if n < 2
    high: float


def corrected_half_width(std, n, test_train_ratio, alpha: float = 0.05):
    """Half width t_{n-1} * sqrt((1/n + ratio) * std^2) of the corrected interval (arrays work too).

    Args:
        std (float | ArrayLike): sample standard deviations.
        n (int | ArrayLike): the counts they come from (NaN where ``n < 2``).
        test_train_ratio (float | ArrayLike): ``n_test / n_train`` (or ``n_val / n_train``).
        alpha: for the (1 - alpha) interval.

    Returns:
        (numpy.ndarray | float): The half widths, broadcast as numpy does (a float for scalar inputs).
    """
    std, n = np.asarray(std, dtype=float), np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = sps.t.ppf(1 - alpha / 2, np.where(n > 1, n - 1, np.nan))
        return t * np.sqrt((1.0 / n + test_train_ratio) * std ** 2)


def corrected_interval(scores, test_train_ratio: float, alpha: float = 0.05) -> CorrectedMean:
    """Mean of per-fold scores of one unit with the Nadeau-Bengio corrected (1 - alpha) interval.

    Args:
        scores (ArrayLike): one score per (repeat, fold); NaNs dropped.
        test_train_ratio: n_test / n_train of the splits.
        alpha: for the (1 - alpha) interval.

    Returns:
        The mean, its standard deviation and interval (NaN with fewer than two scores).
    """
    a = np.asarray(scores, dtype=float)
    a = a[~np.isnan(a)]
    n = len(a)
    nan = float("nan")
    if n == 0:
        return CorrectedMean(0, nan, nan, nan, nan)
    m = float(a.mean())
    if n == 1:
        return CorrectedMean(1, m, nan, nan, nan)
    sd = float(a.std(ddof=1))
    half = float(corrected_half_width(sd, n, test_train_ratio, alpha))
    return CorrectedMean(n, m, sd, m - half, m + half)


def holm(pvalues) -> np.ndarray:
    """Holm-Bonferroni adjusted p values (nan stays nan and does not count as a test).

    Args:
        pvalues (ArrayLike): p values.

    Returns:
        The adjusted p values, in the same order.

    Examples:
        >>> from reports.stats import holm
        >>> holm([0.01, 0.04, float("nan"), 0.03]).round(2).tolist()
        [0.03, 0.06, nan, 0.06]
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(~np.isnan(p))
    m = len(idx)
    running = 0.0
    for rank, i in enumerate(idx[np.argsort(p[idx], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[i]))  # step-down, kept monotone
        out[i] = running
    return out


def quartiles(x) -> tuple[float, float, float]:
    """(first quartile, median, third quartile) of the finite values of ``x``; nans if none.

    Args:
        x (ArrayLike): values; NaN and infinite ones are left out.

    Returns:
        ``(q1, median, q3)``.
    """
    a = np.asarray(x, dtype=float)
    a = a[np.isfinite(a)]
    if len(a) == 0:
        return (float("nan"),) * 3
    q1, med, q3 = np.percentile(a, [25, 50, 75])
    return float(q1), float(med), float(q3)
