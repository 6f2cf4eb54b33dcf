"""The report's tables, computed from a :class:`~reports.load.Run` (numbers only; formatting is in page.py).

- :func:`fold_scores`: the accuracy of every (unit, repeat, fold) as every statistic uses it: a fold
  that diverged stays in, as a failed fold scored at chance accuracy (1 / genres).
- :func:`table1`: mean +- std test accuracy per unit over every fold, its corrected 95 % interval, the
  diverged count, and a second mean over finished folds only; then the literature rows the paper quotes.
- :func:`timing_table`: median and IQR of seconds per training iteration per unit (warm-up excluded),
  pooled over every fold, and the ratio to IndRNN.
- :func:`pairwise_table`: every pair of units, accuracy difference on the same folds with the
  corrected resampled t-test (Holm-adjusted over the pairs too), and the per-fold time ratio.
- :func:`confusion_counts`: test predictions pooled over folds and repeats, one row per cell.
"""
from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from .load import Run
from .paper import LITERATURE, PAPER_FIGURE5, PAPER_NAME, REFERENCE_UNIT, group, label
from .stats import corrected_interval, corrected_resampled_ttest, holm, quartiles

__all__ = ["chance_accuracy", "fold_scores", "table1", "timing_table", "fold_times", "pairwise_table", "confusion_counts", "confusion_matrix"]

QUOTED = f"quoted in {PAPER_NAME} Table 1, not rerun"


def chance_accuracy(run: Run) -> float:
    """What a failed fold scores: one clip in (number of genres) right, a uniform guess.

    Args:
        run: the run (:func:`reports.load_run`).

    Returns:
        ``1 / len(run.genres)``.
    """
    return 1.0 / len(run.genres)


def fold_scores(run: Run) -> pd.DataFrame:
    """``unit, repeat, fold, finished, acc, test_train_ratio``: one row per fold of every unit.

    ``acc`` is the test accuracy of a finished fold and :func:`chance_accuracy` for a fold that
    diverged (or has no accuracy), so a unit that diverges often is not judged by its survivors.

    Args:
        run: the run (:func:`reports.load_run`).

    Returns:
        One row per row of ``run.folds``; ``test_train_ratio`` is ``n_test / n_train``.
    """
    f = run.folds
    finished = ~f["diverged"] & f["test_acc"].notna()
    return pd.DataFrame({"unit": f["unit"], "repeat": f["repeat"], "fold": f["fold"], "finished": finished,
                         "acc": f["test_acc"].where(finished, chance_accuracy(run)),
                         "test_train_ratio": f["n_test"] / f["n_train"]})


def table1(run: Run) -> pd.DataFrame:
    """Table 1: measured units first (this run), then the paper's quoted rows.

    Columns: ``method, unit, group, hidden, params, macs_per_frame, source, quoted, folds, diverged, accuracy_mean_pct,
    accuracy_std_pct, ci_low_pct, ci_high_pct, finished_folds, finished_mean_pct, finished_std_pct``;
    ``group`` is paper / modern / plugin / baseline, ``hidden`` the width the unit trained at (its own under an
    equal parameter budget), ``params`` its parameter count and ``macs_per_frame`` its multiply-adds per
    frame (medians over its jobs). The mean, std and
    95 % interval (Nadeau-Bengio corrected resampled variance) are over every fold, a diverged one
    at chance accuracy; ``finished_*`` is the mean over the folds that did not diverge.

    Args:
        run: the run (:func:`reports.load_run`).

    Returns:
        The table, in the columns of ``report/table1.csv``: measured units in display order, a row for
            each unit asked for with no finished job, then the quoted rows.
    """
    scores = fold_scores(run)
    rows = []
    for unit in run.units:
        s = scores[scores["unit"] == unit]
        ratio = float(s["test_train_ratio"].mean())
        every = corrected_interval(100.0 * s["acc"], ratio)
        done = corrected_interval(100.0 * s.loc[s["finished"], "acc"], ratio)
        rows.append(dict(method=label(unit), unit=unit, group=group(unit), **_size(run, unit), source=run.provenance,
                         quoted=False, folds=every.n,
                         diverged=int((~s["finished"]).sum()), accuracy_mean_pct=every.mean,
                         accuracy_std_pct=every.std, ci_low_pct=float(np.clip(every.low, 0, 100)),
                         ci_high_pct=float(np.clip(every.high, 0, 100)),  # an accuracy lies in [0, 100] %
                         finished_folds=done.n, finished_mean_pct=done.mean, finished_std_pct=done.std))
    for unit in run.missing_units:  # asked for, no job finished: a row that says so, not a silent gap
        rows.append(dict(method=label(unit), unit=unit, group=group(unit), hidden=np.nan, params=np.nan,
                         macs_per_frame=np.nan, source="no finished job", quoted=False, folds=0, diverged=0,
                         accuracy_mean_pct=np.nan, accuracy_std_pct=np.nan, ci_low_pct=np.nan, ci_high_pct=np.nan,
                         finished_folds=0, finished_mean_pct=np.nan, finished_std_pct=np.nan))
    for method, acc in LITERATURE:
        rows.append(dict(method=method, unit="", group="quoted", hidden=np.nan, params=np.nan, macs_per_frame=np.nan,
                         source=QUOTED,
                         quoted=True, folds=np.nan, diverged=np.nan,
                         accuracy_mean_pct=acc, accuracy_std_pct=np.nan, ci_low_pct=np.nan, ci_high_pct=np.nan,
                         finished_folds=np.nan, finished_mean_pct=np.nan, finished_std_pct=np.nan))
    return pd.DataFrame(rows)


def _size(run: Run, unit: str) -> dict:
    """``hidden`` (width; runs before it was recorded: the run's ``hidden``; the baseline: none),
    ``params`` and ``macs_per_frame`` (multiply-adds per frame; none for the baseline and for runs
    before it was recorded) of ``unit``, medians over its jobs."""
    f = run.folds[run.folds["unit"] == unit]
    if group(unit) == "baseline":
        hidden = np.nan
    elif "hidden" in f and f["hidden"].notna().any():
        hidden = float(f["hidden"].median())
    else:
        hidden = float(run.config.get("hidden", np.nan))
    params = float(f["params"].median()) if "params" in f and f["params"].notna().any() else np.nan
    recorded = "macs_per_frame" in f and f["macs_per_frame"].notna().any() and group(unit) != "baseline"
    macs = float(f["macs_per_frame"].median()) if recorded else np.nan  # runs before the column: none
    return dict(hidden=hidden, params=params, macs_per_frame=macs)


def _timed(run: Run) -> pd.DataFrame:
    """Steady iterations: warm-up and partial batches left out."""
    it = run.iterations
    return it[~it["warmup"] & ~it["partial"] & np.isfinite(it["seconds"])]


def timing_table(run: Run, reference: str = REFERENCE_UNIT) -> pd.DataFrame:
    """Seconds per training iteration per recurrent unit, warm-up iterations and partial batches excluded.

    The median and quartiles pool every steady iteration of every fold of the unit. ``ratio_to_<ref>``
    is the unit's median over the reference unit's median; it is nan when the reference is absent.
    The paper's seconds and ratios are given beside, for units the paper timed. ``execution`` says
    which step mode, precision and subnormal policy produced the times, ``kernel`` what each unit's
    recurrence ran (``op:kernel:dtype``, recorded per job), ``source`` whether the times were measured
    or generated (a rehearsal store). A run resumed elsewhere with ``--allow-mixed``
    gets one row per unit and environment (``env_id``), never a median pooled across machines.

    Args:
        run: the run.
        reference: the unit time ratios are taken to.

    Returns:
        One row per recurrent unit (and environment), in the columns of ``report/timing.csv``.
    """
    timed = _timed(run)
    env = run.environment
    ref_col = f"ratio_to_{reference}"
    rows = []
    mixed = len(run.env_ids) > 1
    if mixed:
        timed = timed.merge(run.folds[["unit", "repeat", "fold", "env_id"]], on=["unit", "repeat", "fold"])
    groups = [(u, e) for u in run.recurrent_units for e in (run.env_ids if mixed else [None])]
    for unit, env_id in groups:
        s = timed.loc[(timed["unit"] == unit) & ((timed["env_id"] == env_id) if mixed else True), "seconds"]
        q1, med, q3 = quartiles(s)
        paper = PAPER_FIGURE5.get(unit)
        ref_paper = PAPER_FIGURE5.get(reference)
        rows.append(dict(unit=unit, method=label(unit), group=group(unit), **_size(run, unit), timed_iters=len(s),
                         folds=len(run.folds[run.folds["unit"] == unit]),
                         median_s=med, q1_s=q1, q3_s=q3, iqr_s=q3 - q1,
                         paper_s=paper[1] if paper else np.nan,
                         paper_ratio=paper[1] / ref_paper[1] if paper and ref_paper else np.nan,
                         device=env.get("device", run.config.get("device")), device_name=run.device_name,
                         threads=run.threads, execution=run.execution, kernel=run.kernels(unit),
                         env_id=env_id or (run.env_ids or [""])[0], source=run.provenance))
    out = pd.DataFrame(rows, columns=["unit", "method", "group", "hidden", "params", "macs_per_frame", "timed_iters",
                                      "folds", "median_s",
                                      "q1_s", "q3_s", "iqr_s", "paper_s", "paper_ratio", "device", "device_name",
                                      "threads", "execution", "kernel", "env_id", "source"])
    num = ["hidden", "params", "macs_per_frame", "median_s", "q1_s", "q3_s", "iqr_s", "paper_s", "paper_ratio"]
    out[num] = out[num].astype(float)  # also when empty (a run of the baseline alone)
    ref = out[out["unit"] == reference].set_index("env_id")["median_s"]  # the reference in the same environment
    out.insert(12, ref_col, out["median_s"] / out["env_id"].map(ref).astype(float))
    return out.rename(columns={"paper_ratio": f"paper_ratio_to_{reference}"})


def fold_times(run: Run) -> pd.DataFrame:
    """Median seconds per iteration of each (unit, repeat, fold), warm-up excluded.

    Partial batches are left out too, as in every summary.

    Args:
        run: the run (:func:`reports.load_run`).

    Returns:
        ``unit, repeat, fold, median_s``.
    """
    return (_timed(run).groupby(["unit", "repeat", "fold"])["seconds"].median()
            .rename("median_s").reset_index())


def pairwise_table(run: Run) -> pd.DataFrame:
    """Every pair (a, b) of units, a before b in display order.

    Accuracy: d = acc_a - acc_b in percentage points on each (repeat, fold) both units scored (a
    diverged fold at chance accuracy, see :func:`fold_scores`; ``diverged_a``/``diverged_b`` count
    them), and the Nadeau-Bengio corrected resampled t-test on d; ``p_holm`` is its p value after
    Holm's adjustment over every tested pair of the table. Time (recurrent units only): the ratio of
    the two units' median seconds per iteration on each fold, summarised by its median and quartiles.

    Args:
        run: the run (:func:`reports.load_run`).

    Returns:
        One row per pair, in the columns of ``report/pairwise.csv``.
    """
    scores = fold_scores(run)
    acc = scores.pivot_table(index=["repeat", "fold"], columns="unit", values="acc", aggfunc="first")
    failed = scores.assign(failed=(~scores["finished"]).astype(int)).pivot_table(
        index=["repeat", "fold"], columns="unit", values="failed", aggfunc="first")
    sizes = scores.set_index(["unit", "repeat", "fold"])["test_train_ratio"]
    ft = fold_times(run).pivot_table(index=["repeat", "fold"], columns="unit", values="median_s", aggfunc="first")
    rows = []
    for a, b in combinations(run.units, 2):
        d = (100.0 * (acc.get(a) - acc.get(b))).dropna() if a in acc and b in acc else pd.Series(dtype=float)
        r = sizes.xs(a, level="unit").reindex(d.index).dropna() if len(d) else pd.Series(dtype=float)
        test = corrected_resampled_ttest(d.to_numpy(), float(r.mean()) if len(r) else np.nan)
        if a in ft and b in ft:
            ratio = (ft[a] / ft[b]).dropna()
            tq1, tmed, tq3 = quartiles(ratio)
        else:
            ratio, (tq1, tmed, tq3) = [], (np.nan,) * 3
        div_a, div_b = (int(failed[u].reindex(d.index).sum()) if len(d) else 0 for u in (a, b))
        rows.append(dict(unit_a=a, unit_b=b, groups=f"{group(a)} / {group(b)}", folds=test.n, diverged_a=div_a,
                         diverged_b=div_b, diff_pp=test.mean,
                         diff_std_pp=test.std, t=test.t, df=test.df, p=test.p, ci_low_pp=test.ci_low,
                         ci_high_pp=test.ci_high, test_train_ratio=test.test_train_ratio, time_ratio_median=tmed,
                         time_ratio_q1=tq1, time_ratio_q3=tq3, time_folds=len(ratio), note=test.note,
                         source=run.provenance))
    out = pd.DataFrame(rows, columns=["unit_a", "unit_b", "groups", "folds", "diverged_a", "diverged_b", "diff_pp",
                                      "diff_std_pp", "t", "df", "p", "ci_low_pp", "ci_high_pp",
                                      "test_train_ratio", "time_ratio_median", "time_ratio_q1", "time_ratio_q3",
                                      "time_folds", "note", "source"])
    out.insert(out.columns.get_loc("p") + 1, "p_holm", holm(out["p"]) if len(out) else [])
    return out


def confusion_counts(run: Run) -> pd.DataFrame:
    """Test predictions pooled over folds and repeats: ``unit, true, pred, count`` (genre names),
    every cell present (zeros included). Clips of diverged folds (pred = -1) are left out.

    Args:
        run: the run (:func:`reports.load_run`).

    Returns:
        ``units x genres x genres`` rows.
    """
    genres = run.genres
    p = run.predictions[(run.predictions["pred"] >= 0) & (run.predictions["true"] >= 0)]
    rows = []
    for unit in run.units:
        m = confusion_matrix(p[p["unit"] == unit], len(genres))
        for i, t in enumerate(genres):
            for j, q in enumerate(genres):
                rows.append(dict(unit=unit, true=t, pred=q, count=int(m[i, j])))
    return pd.DataFrame(rows, columns=["unit", "true", "pred", "count"])


def confusion_matrix(pred: pd.DataFrame, n_classes: int) -> np.ndarray:
    """Counts (true class, predicted class) of the rows of a predictions table.

    Args:
        pred: rows with ``true`` and ``pred`` class indices (a negative ``pred`` is left out).
        n_classes: classes.

    Returns:
        ``(n_classes, n_classes)`` int64 counts, rows the true class.
    """
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    ok = (pred["true"] < n_classes) & (pred["pred"] < n_classes) & (pred["pred"] >= 0)
    np.add.at(m, (pred.loc[ok, "true"].to_numpy(), pred.loc[ok, "pred"].to_numpy()), 1)
    return m
