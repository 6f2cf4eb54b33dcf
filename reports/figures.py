"""The report's figures. Each function returns a matplotlib Figure (tests inspect it); :func:`save`
writes it as a small PNG and closes it.

- :func:`figure5`: accuracy (corrected 95 % interval) and time per iteration per unit, the paper's
  values as labelled marks.
- :func:`figure4`: validation AUC-ROC against epoch, one line per unit with a corrected 95 % band.
- :func:`confusion_figure`: one confusion matrix per unit, predictions pooled over folds and repeats.
"""
from __future__ import annotations

import functools
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window; must precede the pyplot import
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.container import BarContainer  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import seaborn as sns  # noqa: E402

from .load import Run  # noqa: E402
from .paper import BASELINE, PAPER_FIGURE5, PAPER_NAME, REFERENCE_UNIT, group, label  # noqa: E402
from .stats import corrected_half_width, quartiles  # noqa: E402
from .tables import confusion_matrix, fold_times, table1, timing_table  # noqa: E402

__all__ = ["figure5", "figure4", "confusion_figure", "save", "palette", "plain_text", "PAPER_MARK"]

# Names a user chose (genres, clips, runs) reach titles and tick labels: no text is ever parsed as
# mathtext or LaTeX (a genre "$\\foo{x}$" made matplotlib raise while drawing every figure).
PLAIN_TEXT = {"text.parse_math": False, "text.usetex": False}


def plain_text(fn=None):
    """``matplotlib`` with mathtext and LaTeX off: a context manager, or a decorator of a figure function.

    Names a user chose (genres, clips, runs) reach titles and labels; with this, none is ever parsed as
    mathtext or LaTeX.

    Args:
        fn (Callable | None): a function to wrap; None returns the context manager.

    Returns:
        (Callable | contextlib.AbstractContextManager): ``fn`` wrapped so it draws with mathtext off, or
            (without ``fn``) a context manager.
    """
    if fn is None:
        return plt.rc_context(PLAIN_TEXT)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with plt.rc_context(PLAIN_TEXT):
            return fn(*args, **kwargs)
    return wrapper

DPI = 100
PAPER_MARK = f"paper ({PAPER_NAME}), not rerun"
"""The legend of the paper's values in every figure: they are quoted, never rerun."""
_PAPER_STYLE = dict(marker="D", s=60, color="black", edgecolor="white", zorder=5, label=PAPER_MARK)


def _fixed_colours() -> dict[str, tuple]:
    """Every known unit's colour: the paper's units in the colour-blind palette (as before issue 20), the
    modern ones in dark shades of other hues (they are also hatched in bar charts: told apart without colour)."""
    light, dark = sns.color_palette("colorblind"), sns.color_palette("dark")
    return {"rnn": light[0], "rnn_relu": light[1], "lstm": light[2], "gru": light[3], "indrnn": light[4],
            BASELINE: light[5], "indrnn_norec": light[9], "mingru": dark[9], "minlstm": dark[6], "lru": dark[8],
            "mamba": dark[7]}


def palette(units: list[str]) -> dict[str, tuple]:
    """One fixed colour per unit label, the same in every figure of every report.

    Args:
        units: registry names; an unknown unit gets a pastel colour.

    Returns:
        Display label (:func:`reports.paper.label`) -> RGB colour.
    """
    fixed = _fixed_colours()
    extra = iter(sns.color_palette("pastel") * 10)
    return {label(u): fixed[u] if u in fixed else next(extra) for u in units}


HATCH = {"modern": "//"}  # bar pattern per group (none for the paper's units and the baseline)


def _wide(n: int) -> bool:
    """Whether ``n`` units need the crowded layout: slanted names, a wider figure."""
    return n > 6


def _group_marks(ax, units: list[str]) -> None:
    """A dotted line between the paper's units and the modern ones, each group named above its bars."""
    groups = [group(u) for u in units]
    if "modern" not in groups or "paper" not in groups:
        return
    first = groups.index("modern")
    last = len(groups) - 1 - groups[::-1].index("modern")
    ax.axvline(first - 0.5, color="0.4", ls=":", lw=1)
    if "baseline" in groups:
        ax.axvline(last + 0.5, color="0.4", ls=":", lw=1)
    for text, lo, hi in (("paper units", 0, first - 1), ("modern units", first, last)):
        ax.text((lo + hi) / 2, 1.0, text, transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                fontsize=8, color="0.3")


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def _bars(ax, names: list[str], values, lows, highs, colours: dict, units: list[str] | None = None) -> None:
    """One bar (one container) per unit with asymmetric error bars from lows to highs; the modern
    units hatched, and with many units the names slanted and the groups marked (``units``: the keys)."""
    units = units or [""] * len(names)
    for i, (n, u, v, lo, hi) in enumerate(zip(names, units, values, lows, highs)):
        err = np.array([[max(v - lo, 0.0)], [max(hi - v, 0.0)]]) if np.isfinite([v, lo, hi]).all() else None
        ax.bar(i, v, color=colours[n], label=n, yerr=err, capsize=4 if len(names) <= 6 else 2, ecolor="0.2",
               hatch=HATCH.get(group(u)) if u else None, edgecolor="white", linewidth=0)
    if _wide(len(names)):
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right", rotation_mode="anchor", fontsize=9)
    else:
        ax.set_xticks(range(len(names)), names)
    if units[0]:
        _group_marks(ax, units)


def _paper_marks(ax, names: list[str], values: dict[str, float]) -> None:
    xs = [i for i, n in enumerate(names) if n in values]
    if xs:
        marks = ax.scatter(xs, [values[names[i]] for i in xs], **_PAPER_STYLE)
        below = -0.3 if _wide(len(names)) else -0.16  # under the (slanted) unit names
        ax.legend(handles=[marks], loc="upper center", bbox_to_anchor=(0.5, below), fontsize=8, frameon=False)


@plain_text
def figure5(run: Run) -> plt.Figure:
    """Figure 5: (a) test accuracy, (b) ms per iteration, (c) time ratio to IndRNN; paper marks beside.

    Args:
        run: the run.

    Returns:
        The figure (save it with :func:`save`).
    """
    n = len(run.units)
    if _wide(n):  # many units: (a) across the top, (b) and (c) below, so the page can show it at full size
        fig = plt.figure(figsize=(14, 10))
        grid = fig.add_gridspec(2, 2, height_ratios=[1, 1])
        ax_a, ax_b, ax_c = fig.add_subplot(grid[0, :]), fig.add_subplot(grid[1, 0]), fig.add_subplot(grid[1, 1])
    else:
        fig, (ax_a, ax_b, ax_c) = plt.subplots(1, 3, figsize=(15, 4.6), gridspec_kw=dict(width_ratios=[1.2, 1, 1]))
    colours = palette(run.units)

    # (a) accuracy of every unit and the baseline over every fold (a diverged fold at chance accuracy),
    # with the corrected resampled 95 % interval: folds share training data, a bootstrap would be too narrow
    t1 = table1(run)
    t1 = t1[~t1["quoted"] & (t1["folds"] > 0)]  # measured rows; a unit with no finished job has no bar
    names = list(t1["method"])
    _bars(ax_a, names, t1["accuracy_mean_pct"], t1["ci_low_pct"], t1["ci_high_pct"], colours, list(t1["unit"]))
    for bars, div in zip([c for c in ax_a.containers if isinstance(c, BarContainer)], t1["diverged"]):
        text = "%.1f" + (f"\n{int(div)} div." if div else "")
        ax_a.bar_label(bars, fmt=text, label_type="center", color="white", fontsize=8 if n <= 6 else 7,
                       bbox=dict(boxstyle="round,pad=0.15", fc="0.15", ec="none", alpha=0.55))
    _paper_marks(ax_a, names, {label(u): a for u, (a, _) in PAPER_FIGURE5.items()})
    ax_a.set(xlabel="unit", ylabel="test accuracy (%)", ylim=(0, 100),
             title="(a) mean test accuracy, corrected 95 % interval")

    # (b) median ms per iteration with IQR, measured; the paper's seconds as text (other hardware)
    tt = timing_table(run)
    tt = tt[np.isfinite(tt["median_s"])]
    rnames = [label(u) for u in tt["unit"]]
    if len(tt):
        _bars(ax_b, rnames, 1e3 * tt["median_s"], 1e3 * tt["q1_s"], 1e3 * tt["q3_s"], colours, list(tt["unit"]))
        ax_b.set(xlabel="unit", ylabel="training time per iteration (ms)")
        paper = " · ".join(f"{label(u)} {s:.2f} s" for u, (_, s) in PAPER_FIGURE5.items())
        ax_b.text(0.02, 0.98, f"{PAPER_MARK}, hardware not stated:\n{paper}", transform=ax_b.transAxes,
                  va="top", fontsize=8, bbox=dict(boxstyle="round", fc="white", ec="0.6"))
        ax_b.set_ylim(0, 1.25 * np.nanmax(1e3 * tt["q3_s"]))
    else:
        _empty(ax_b, "no timed training iterations in this run")
    ax_b.set_title("(b) median time per iteration, IQR bars")

    # (c) time per iteration relative to IndRNN, per fold (same fold, same batches), against the paper's
    ft = fold_times(run).pivot_table(index=["repeat", "fold"], columns="unit", values="median_s", aggfunc="first")
    if REFERENCE_UNIT in ft and len(tt):
        qs = [quartiles(ft[u] / ft[REFERENCE_UNIT]) for u in tt["unit"]]
        _bars(ax_c, rnames, [q[1] for q in qs], [q[0] for q in qs], [q[2] for q in qs], colours, list(tt["unit"]))
        ref_s = PAPER_FIGURE5[REFERENCE_UNIT][1]
        _paper_marks(ax_c, rnames, {label(u): s / ref_s for u, (_, s) in PAPER_FIGURE5.items()})
        ax_c.axhline(1.0, color="0.5", ls="--", lw=1)
        ax_c.set(xlabel="unit", ylabel=f"time per iteration / {label(REFERENCE_UNIT)}'s (ratio)")
    else:
        _empty(ax_c, f"{label(REFERENCE_UNIT)} is not in this run: no time ratios")
    ax_c.set_title(f"(c) time ratio to {label(REFERENCE_UNIT)}, median and IQR over folds")

    if {"paper", "modern"} <= {group(u) for u in run.units}:  # room for the group names above the bars
        for ax in (ax_a, ax_b, ax_c):
            ax.set_title(ax.get_title(), pad=16)
    if _wide(n):  # the slanted names say what the axis holds
        for ax in (ax_a, ax_b, ax_c):
            ax.set_xlabel("")
    what = "GENERATED, NOT MEASURED" if run.generated else f"measured on {run.device_name}"
    tuned = f"\n{run.tuned_label}" if run.tuned else ""
    fig.suptitle(f"Figure 5: accuracy and training time per iteration, {what} ({run.threads} threads; "
                 f"{run.execution}){tuned}")
    fig.tight_layout()
    return fig


@plain_text
def figure4(run: Run) -> plt.Figure:
    """Figure 4: validation AUC-ROC against epoch, mean line and corrected 95 % band across folds, per unit.

    The band uses the corrected resampled variance (n_val / n_train of the folds), as Table 1 does:
    the folds of repeated cross-validation share training data. Computed per (unit, epoch) with one
    group-by, so it stays fast at 400 folds x 500 epochs.

    Args:
        run: the run.

    Returns:
        The figure.
    """
    units = [u for u in run.recurrent_units if run.epochs.loc[run.epochs["unit"] == u, "val_auc"].notna().any()]
    fig, ax = plt.subplots(figsize=(9.5 if _wide(len(units)) else 7.5, 4.6))
    if units:
        colours = palette(units)
        folds = run.folds
        val = folds["n_val"] if "n_val" in folds else folds["n_test"]  # the part each epoch is scored on
        ratio = (val / folds["n_train"]).groupby(folds["unit"]).mean()
        stats = run.epochs.groupby(["unit", "epoch"])["val_auc"].agg(["mean", "std", "count"]).reset_index()
        for unit in units:
            s = stats[stats["unit"] == unit]
            half = corrected_half_width(s["std"], s["count"], float(ratio.get(unit, np.nan)))
            ax.plot(s["epoch"], s["mean"], color=colours[label(unit)], label=label(unit),
                    ls="--" if group(unit) == "modern" else "-")  # the modern units dashed
            ok = np.isfinite(half)
            low, high = (s["mean"] - half).clip(0.0, 1.0), (s["mean"] + half).clip(0.0, 1.0)  # an AUC lies in [0, 1]
            ax.fill_between(s["epoch"][ok], low[ok], high[ok], color=colours[label(unit)], alpha=0.2, linewidth=0)
        if _wide(len(units)):  # ten lines: the legend beside the plot, not over it
            ax.legend(title="unit (dashed: modern)", loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        else:
            ax.legend(title="unit", loc="lower right")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        _empty(ax, "no validation AUC recorded in this run")
    ax.set(xlabel="epoch", ylabel="validation AUC-ROC (macro, one-vs-rest)",
           title=("GENERATED, NOT MEASURED. " if run.generated else "")
           + "Figure 4: validation AUC-ROC per epoch, mean and corrected 95 % interval across folds")
    fig.tight_layout()
    return fig


@plain_text
def confusion_figure(run: Run) -> plt.Figure:
    """One confusion matrix per unit: counts pooled over folds and repeats, shaded by row share.

    Args:
        run: the run.

    Returns:
        The figure.
    """
    genres, units = run.genres, run.units
    cols = min(4 if _wide(len(units)) else 3, len(units))
    rows = -(-len(units) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 4.3 * rows), squeeze=False)
    preds = run.predictions
    for ax, unit in zip(axes.flat, units):
        m = confusion_matrix(preds[preds["unit"] == unit], len(genres))
        share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
        sns.heatmap(share, annot=m, fmt="d", cmap="Blues", vmin=0, vmax=1, cbar=False, square=True,
                    xticklabels=genres, yticklabels=genres, annot_kws={"fontsize": 7}, ax=ax)
        acc = 100.0 * np.trace(m) / max(m.sum(), 1)
        ax.set(xlabel="predicted genre", ylabel="true genre", title=f"{label(unit)}: {acc:.1f} % of {m.sum()} clips")
        ax.tick_params(labelsize=7)
        ax.tick_params(axis="x", labelrotation=90)
        ax.tick_params(axis="y", labelrotation=0)
    for ax in axes.flat[len(units):]:
        ax.set_visible(False)
    fig.suptitle(("GENERATED, NOT MEASURED. " if run.generated else "")
                 + "Confusion matrices, test clips pooled over folds and repeats (shade = share of the true genre)")
    fig.tight_layout()
    return fig


@plain_text
def save(fig: plt.Figure, path: str | Path) -> Path:
    """Write ``fig`` as a PNG at a modest resolution (small enough to commit) and close it.

    Args:
        fig: the figure.
        path: the PNG file.

    Returns:
        ``path``.
    """
    path = Path(path)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path
