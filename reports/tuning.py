"""The tuning section of a tuned run's report (``--tune N``): what the search saw, not only what it chose.

After Greff et al. (2017, *LSTM: A Search Space Odyssey*): a tuned accuracy means little without the
spread of the trials behind it, whether the budget was enough, how sensitive the unit is to its
learning rate and which hyperparameters mattered at all. Everything here is read from ``trials.csv``
(one row per trial of every (unit, repeat, fold) study); the test accuracy of a trial is shown only
for the chosen ones, which is what Table 1 reports.

- :func:`chosen_table`: the chosen trial of every fold and its values.
- :func:`summary_table`: per unit, trials, validation accuracy (mean, best), tuning wall time, the
  tuner's own overhead and the learning rates chosen.
- :func:`best_so_far`: the best validation accuracy after each trial of every fold (the budget curve).
- :func:`importance_table`: fANOVA importance of each hyperparameter per unit (Hutter et al. 2014),
  computed by Optuna from an in-memory study of the unit's trials.
- :func:`spread_figure`, :func:`budget_figure`, :func:`lr_figure`, :func:`importance_figure`.
- :func:`section`: the report page's blocks of the section "What the tuning saw".
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from .figures import _empty, palette, plain_text
from .load import KEYS, Run
from .page import _f
from .paper import label

__all__ = ["PARAMETERS", "chosen_table", "summary_table", "best_so_far", "importance_table", "tables",
           "spread_figure", "budget_figure", "lr_figure", "importance_figure", "figures", "section"]

PARAMETERS = ("lr", "dropout", "weight_decay", "readout")  # the search space's axes
"""The search space's axes (``bench.execution.tune.DIMENSIONS``), in the order every table lists them."""
MIN_TRIALS = 4  # fewer complete trials of a unit: no importance (a forest on 3 points explains nothing)
PAGE_ROWS = 40  # the chosen-values table goes on the page up to this many rows; always in its CSV


def _ordered(run: Run, df: pd.DataFrame) -> pd.DataFrame:
    """``df`` sorted as every table of the report: units in display order, then repeat, fold (and trial)."""
    rank = {u: i for i, u in enumerate(run.units)}
    keys = [k for k in ("repeat", "fold", "trial") if k in df]
    return (df.assign(_rank=df["unit"].map(rank).fillna(len(rank)))
              .sort_values(["_rank", *keys]).drop(columns="_rank").reset_index(drop=True))


# -- tables --------------------------------------------------------------------------------------
def chosen_table(run: Run) -> pd.DataFrame:
    """The chosen trial of every (unit, repeat, fold): ``unit, repeat, fold, trial, lr, dropout,
    weight_decay, readout, val_acc, test_acc`` (its test accuracy is the fold's in ``folds.csv``).

    Args:
        run: a tuned run (its ``trials`` table).

    Returns:
        One row per fold, units in display order.
    """
    cols = [*KEYS, "trial", *PARAMETERS, "val_acc", "test_acc"]
    return _ordered(run, run.trials.loc[run.trials["chosen"], cols])


def summary_table(run: Run) -> pd.DataFrame:
    """Per unit: trials by state, mean and best validation accuracy over the complete trials, the wall
    time spent (sum of the trials' ``train_s``, and that per fold), the tuner's mean overhead per trial
    and the learning rates of the chosen trials (median and range; NaN for the baseline, which has none).

    Args:
        run: a tuned run (its ``trials`` table).

    Returns:
        One row per unit, in the columns of ``report/tuning_summary.csv``.
    """
    rows = []
    for unit in run.units:
        t = run.trials[run.trials["unit"] == unit]
        done = t[t["state"] == "complete"]["val_acc"].dropna()
        lr = t.loc[t["chosen"], "lr"].dropna()
        folds = len(t.groupby(["repeat", "fold"]))
        rows.append(dict(
            unit=unit, method=label(unit), folds=folds, trials=len(t),
            complete=int((t["state"] == "complete").sum()), pruned=int((t["state"] == "pruned").sum()),
            diverged=int((t["state"] == "diverged").sum()),
            val_acc_mean_pct=100.0 * done.mean() if len(done) else math.nan,
            val_acc_best_pct=100.0 * done.max() if len(done) else math.nan,
            tuning_s=float(t["train_s"].sum()), tuning_s_per_fold=float(t["train_s"].sum()) / max(folds, 1),
            overhead_s_mean=float(t["overhead_s"].mean()),
            lr_chosen_median=float(lr.median()) if len(lr) else math.nan,
            lr_chosen_min=float(lr.min()) if len(lr) else math.nan,
            lr_chosen_max=float(lr.max()) if len(lr) else math.nan))
    return pd.DataFrame(rows)


def best_so_far(run: Run) -> pd.DataFrame:
    """``unit, repeat, fold, trial, best_val_acc``: the best validation accuracy among the complete
    trials 0..k of each fold, which is what the choice would have read with a budget of k + 1 trials
    (pruned and diverged trials are never chosen; NaN before the first complete one).

    Args:
        run: a tuned run (its ``trials`` table).

    Returns:
        One row per trial.
    """
    t = _ordered(run, run.trials)
    score = t["val_acc"].where(t["state"] == "complete")
    best = score.fillna(-np.inf).groupby([t["unit"], t["repeat"], t["fold"]]).cummax()
    return t[[*KEYS, "trial"]].assign(best_val_acc=best.replace(-np.inf, np.nan))


def _space(run: Run) -> dict:
    """The Optuna distributions of the search space, from the run's config (widened to the trials' values,
    should a trial lie outside it)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    c, t = run.config, run.trials

    def bounds(name: str, key: str) -> tuple[float, float]:
        seen = t[name].dropna()
        lo = min([v for v in (c.get(f"tune_{key}_min"), seen.min() if len(seen) else None) if v is not None])
        hi = max([v for v in (c.get(f"tune_{key}_max"), seen.max() if len(seen) else None) if v is not None])
        return float(lo), float(hi)

    readouts = list(dict.fromkeys([*(c.get("tune_readouts") or []), *t.loc[t["readout"] != "", "readout"]]))
    return {"lr": FloatDistribution(*bounds("lr", "lr"), log=True),
            "dropout": FloatDistribution(*bounds("dropout", "dropout")),
            "weight_decay": FloatDistribution(*bounds("weight_decay", "wd"), log=True),
            "readout": CategoricalDistribution(readouts or [""])}


def _varying(trials: pd.DataFrame) -> tuple[list[str], dict[str, str]]:
    """The parameters that vary over ``trials``, and a note for each one that does not."""
    used, notes = [], {}
    for p in PARAMETERS:
        values = trials[p].replace("", np.nan).dropna()
        if values.empty:
            notes[p] = "not in the unit's search space"
        elif values.nunique() < 2:
            notes[p] = "constant over the trials"
        else:
            used.append(p)
    return used, notes


def _fanova(trials: pd.DataFrame, params: list[str], space: dict) -> dict[str, float]:
    """fANOVA importances of ``params`` over ``trials`` (normalised to sum to 1) from an in-memory study."""
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "study created" line per unit
    try:
        study = optuna.create_study(direction="maximize")
        for r in trials.itertuples():
            values = {p: getattr(r, p) for p in params}
            study.add_trial(optuna.trial.create_trial(params=values, distributions={p: space[p] for p in params},
                                                      value=float(r.val_acc)))
        with warnings.catch_warnings():  # Optuna marks parts of its importance API experimental
            warnings.simplefilter("ignore")
            evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
            found = optuna.importance.get_param_importances(study, evaluator=evaluator)
    finally:
        optuna.logging.set_verbosity(verbosity)
    return {p: float(v) for p, v in found.items()}


def importance_table(run: Run) -> pd.DataFrame:
    """``unit, method, parameter, importance, trials, note``: one row per unit and parameter.

    The importance is fANOVA's share of the variance of validation accuracy that the parameter explains
    on its own, over the unit's complete trials pooled across folds, normalised to sum to 1 per unit.
    It is NaN, with a note saying why, for a parameter outside the unit's space or constant, and for
    every parameter of a unit with fewer than ``MIN_TRIALS`` complete trials, one varying parameter only
    or the same validation accuracy in every trial.

    Args:
        run: a tuned run (its ``trials`` table).

    Returns:
        One row per unit and parameter of :data:`PARAMETERS`.
    """
    space, rows = _space(run), []
    for unit in run.units:
        t = run.trials[run.trials["unit"] == unit]
        t = t[(t["state"] == "complete") & t["val_acc"].notna()]
        used, notes = _varying(t)
        why, found = "", {}
        if len(t) < MIN_TRIALS:
            why = f"only {len(t)} complete trial(s), fewer than {MIN_TRIALS}"
        elif len(used) < 2:
            why = "only one hyperparameter varies: nothing to apportion"
        else:
            try:
                found = _fanova(t, used, space)
            except RuntimeError:  # Optuna: zero total variance in all trees
                why = "the same validation accuracy in every trial: nothing to explain"
        for p in PARAMETERS:
            value = found.get(p, math.nan)
            rows.append(dict(unit=unit, method=label(unit), parameter=p, importance=value, trials=len(t),
                             note=notes.get(p) or why))
    return pd.DataFrame(rows)


def tables(run: Run) -> dict[str, pd.DataFrame]:
    """Every table of the section, by the name of its CSV (declared in :mod:`reports.schema`).

    Args:
        run: a tuned run (its ``trials`` table).

    Returns:
        ``tuning_summary``, ``tuning_chosen`` and ``tuning_importance``.
    """
    return {"tuning_summary": summary_table(run), "tuning_chosen": chosen_table(run),
            "tuning_importance": importance_table(run)}


# -- figures -------------------------------------------------------------------------------------
def _title(run: Run, text: str) -> str:
    return ("GENERATED, NOT MEASURED. " if run.generated else "") + text


@plain_text
def spread_figure(run: Run) -> plt.Figure:
    """Validation accuracy of every trial per unit (box over the trials, one dot per trial), with the
    test accuracy of each fold's chosen trial as a white diamond.

    How to read it: a tall box means the unit's accuracy depends much on its recipe; a chosen diamond far
    below the top of its box means the validation part over-rated the chosen trial (few validation clips).
    Diverged trials have no accuracy and are counted above the boxes.

    Args:
        run: a tuned run (its ``trials`` table).

    Returns:
        The figure.
    """
    names = [label(u) for u in run.units]
    t = run.trials.assign(method=run.trials["unit"].map(label), val_pct=100.0 * run.trials["val_acc"])
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(names) + 2), 4.6))
    scored = t[t["val_pct"].notna()]
    with warnings.catch_warnings():  # seaborn 0.13 passes matplotlib 3.11 a deprecated argument: not ours to fix
        warnings.filterwarnings("ignore", message=".*vert: bool was deprecated")
        sns.boxplot(data=scored, x="method", y="val_pct", hue="method", order=names, hue_order=names,
                    palette=palette(run.units), legend=False, showfliers=False, width=0.6, boxprops=dict(alpha=0.6),
                    ax=ax)
    sns.stripplot(data=scored, x="method", y="val_pct", order=names, color="0.2", size=3, jitter=0.2, alpha=0.6,
                  ax=ax, label="validation accuracy of one trial")
    chosen = t[t["chosen"] & t["test_acc"].notna()]
    xs = chosen["method"].map({n: i for i, n in enumerate(names)})
    ax.scatter(xs, 100.0 * chosen["test_acc"], marker="D", s=40, facecolor="white", edgecolor="black", zorder=5,
               label="test accuracy of a fold's chosen trial")
    for i, unit in enumerate(run.units):
        n = int(((t["unit"] == unit) & (t["state"] == "diverged")).sum())
        if n:
            ax.text(i, 1.0, f"{n} diverged", transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=8)
    handles, labels = ax.get_legend_handles_labels()
    keep = dict(zip(labels, handles))  # stripplot adds one handle per unit: one of each is enough
    ax.legend(keep.values(), keep.keys(), loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=8,
              frameon=False)
    ax.set(xlabel="", ylabel="accuracy (%)",
           title=_title(run, "Validation accuracy of every trial, and the chosen trials' test accuracy"))
    fig.tight_layout()
    return fig


@plain_text
def budget_figure(run: Run) -> plt.Figure:
    """Best validation accuracy found after k trials, per unit, mean over folds (:func:`best_so_far`).

    How to read it: a curve still rising at the last trial means the budget was too small for that unit
    (more trials would probably have found a better recipe); a curve flat early means it was enough.

    Args:
        run: a tuned run (its ``trials`` table).

    Returns:
        The figure.
    """
    curve = best_so_far(run)
    curve = curve.groupby(["unit", "trial"], sort=False)["best_val_acc"].mean().reset_index()
    colours = palette(run.units)
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    for unit in run.units:
        c = curve[curve["unit"] == unit]
        ax.plot(c["trial"] + 1, 100.0 * c["best_val_acc"], marker="o", ms=4, color=colours[label(unit)],
                label=label(unit))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(title="unit", loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    ax.set(xlabel="trials run", ylabel="best validation accuracy so far (%)",
           title=_title(run, "Best validation accuracy against the tuning budget, mean over folds"))
    fig.tight_layout()
    return fig


@plain_text
def lr_figure(run: Run) -> plt.Figure:
    """Validation accuracy of every trial against its learning rate (log axis), one panel per unit; the
    chosen trials outlined in black.

    How to read it: a peak says where the unit trains well and how wide that region is; accuracy rising
    to an edge of the range says the range (``--tune-lr-min/max``) cut the search short. The baseline has
    no learning rate and no panel.

    Args:
        run: a tuned run (its ``trials`` table).

    Returns:
        The figure.
    """
    units = [u for u in run.units if run.trials.loc[run.trials["unit"] == u, "lr"].notna().any()]
    cols = min(max(len(units), 1), 4)
    rows = -(-max(len(units), 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.2 * rows), squeeze=False, sharey=True)
    colours = palette(run.units)
    for ax, unit in zip(axes.flat, units):
        t = run.trials[(run.trials["unit"] == unit) & run.trials["val_acc"].notna()]
        ax.scatter(t["lr"], 100.0 * t["val_acc"], s=22, alpha=0.7, color=colours[label(unit)], linewidths=0)
        c = t[t["chosen"]]
        ax.scatter(c["lr"], 100.0 * c["val_acc"], s=40, facecolor="none", edgecolor="black", linewidths=1.2,
                   label="chosen")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # 0.001, not mathtext (off here)
        ax.xaxis.set_minor_formatter(NullFormatter())
        lo, hi = run.config.get("tune_lr_min"), run.config.get("tune_lr_max")
        if lo and hi:
            ax.set_xlim(lo / 1.3, hi * 1.3)
        ax.set(title=label(unit), xlabel="learning rate")
    if not units:
        _empty(axes.flat[0], "no unit with a tuned learning rate")
    for ax in axes[:, 0]:
        ax.set_ylabel("validation accuracy (%)")
    for ax in axes.flat[max(len(units), 1):]:
        ax.set_visible(False)
    fig.suptitle(_title(run, "Validation accuracy against learning rate (every trial; circled: chosen)"))
    fig.tight_layout()
    return fig


@plain_text
def importance_figure(run: Run, importance: pd.DataFrame) -> plt.Figure:
    """fANOVA importance of each hyperparameter (columns) per unit (rows), from :func:`importance_table`.

    How to read it: each row sums to 1; a dark cell is a hyperparameter that alone explains much of the
    spread of the unit's validation accuracy, a pale one a hyperparameter the unit hardly cared about
    within the range searched. Blank: not computed (see the table's note).

    Args:
        run: a tuned run.
        importance: :func:`importance_table`'s rows.

    Returns:
        The figure.
    """
    grid = importance.pivot_table(index="method", columns="parameter", values="importance", aggfunc="first",
                                  dropna=False)
    grid = grid.reindex(index=[label(u) for u in run.units], columns=list(PARAMETERS))
    fig, ax = plt.subplots(figsize=(6.5, 0.5 * len(grid) + 1.8))
    if grid.notna().any().any():
        sns.heatmap(grid, annot=True, fmt=".2f", cmap="Greens", vmin=0, vmax=1, linewidths=0.5, linecolor="white",
                    cbar_kws={"label": "share of explained variance"}, ax=ax)
        for i, row in enumerate(grid.itertuples(index=False)):
            if all(np.isnan(v) for v in row):  # a unit without importances says so on its row
                ax.text(len(PARAMETERS) / 2, i + 0.5, "not computed (see tuning_importance.csv)", ha="center",
                        va="center", fontsize=8, color="0.4")
        ax.set(xlabel="hyperparameter", ylabel="")
        ax.tick_params(axis="y", labelrotation=0)
    else:
        _empty(ax, "no importance computed: too few trials, or nothing varied")
    ax.set_title(_title(run, "Hyperparameter importance (fANOVA) per unit"))
    fig.tight_layout()
    return fig


def figures(run: Run, tabs: dict[str, pd.DataFrame]) -> dict[str, plt.Figure]:
    """Every figure of the section, by the stem of its PNG.

    Args:
        run: a tuned run.
        tabs: :func:`tables`' result.

    Returns:
        ``tuning_spread``, ``tuning_budget``, ``tuning_lr`` and ``tuning_importance``.
    """
    return {"tuning_spread": spread_figure(run), "tuning_budget": budget_figure(run), "tuning_lr": lr_figure(run),
            "tuning_importance": importance_figure(run, tabs["tuning_importance"])}


# -- the page ------------------------------------------------------------------------------------
def summary_display(s: pd.DataFrame) -> pd.DataFrame:
    """The summary as strings for the page."""
    return pd.DataFrame({
        "unit": s["method"],
        "trials (complete / pruned / diverged)": [f"{r.trials} ({r.complete} / {r.pruned} / {r.diverged})"
                                                  for r in s.itertuples()],
        "validation accuracy, mean (%)": [_f(v, ".1f") for v in s["val_acc_mean_pct"]],
        "best (%)": [_f(v, ".1f") for v in s["val_acc_best_pct"]],
        "tuning time, all folds (s)": [_f(v, ".1f") for v in s["tuning_s"]],
        "per fold (s)": [_f(v, ".1f") for v in s["tuning_s_per_fold"]],
        "tuner overhead per trial (s)": [_f(v, ".3f") for v in s["overhead_s_mean"]],
        "chosen lr, median [range]": [f"{_f(r.lr_chosen_median, '.2g')} [{_f(r.lr_chosen_min, '.2g')}, "
                                      f"{_f(r.lr_chosen_max, '.2g')}]" if np.isfinite(r.lr_chosen_median) else "–"
                                      for r in s.itertuples()],
    })


def chosen_display(c: pd.DataFrame) -> pd.DataFrame:
    """The chosen values as strings for the page."""
    return pd.DataFrame({
        "unit": c["unit"].map(label), "repeat": c["repeat"].astype(str), "fold": c["fold"].astype(str),
        "trial": c["trial"].astype(int).astype(str), "lr": [_f(v, ".2g") for v in c["lr"]],
        "dropout": [_f(v, ".2f") for v in c["dropout"]], "weight decay": [_f(v, ".2g") for v in c["weight_decay"]],
        "readout": c["readout"].replace("", "–"), "validation acc. (%)": [_f(100 * v, ".1f") for v in c["val_acc"]],
        "test acc. (%)": [_f(100 * v, ".1f") for v in c["test_acc"]],
    })


def _skipped(importance: pd.DataFrame) -> str:
    """One sentence naming the units without any importance, and why."""
    per_parameter = {"not in the unit's search space", "constant over the trials"}
    out = []
    for method, rows in importance.groupby("method", sort=False):
        if rows["importance"].isna().all():
            why = [n for n in rows["note"] if n and n not in per_parameter]
            out.append(f"{method}: {why[0] if why else 'no hyperparameter varied'}")
    return "; ".join(out)


def section(run: Run, tabs: dict[str, pd.DataFrame], images: dict[str, Path]) -> list[tuple[str, object]]:
    """The blocks of "What the tuning saw" (see :func:`reports.page.page_blocks` for the kinds).

    Args:
        run: a tuned run.
        tabs: :func:`tables`' result.
        images: the section's figures (:func:`figures`' names) -> PNG files.

    Returns:
        The section's blocks.
    """
    b: list[tuple[str, object]] = [("h2", "What the tuning saw")]
    b.append(("p", f"Every unit, the baseline too, was tuned the same way: {run.tuning}. Table 1, Figure 5 and "
                   "the pairwise table report each fold's chosen trial. Below is what the search saw on the way: "
                   "validation accuracy of every trial (what the choice read), not only of the best, after Greff "
                   "et al. (2017, LSTM: A Search Space Odyssey)."))
    b.append(("table", summary_display(tabs["tuning_summary"])))
    b.append(("p", "Mean and best over the complete trials of every fold. Tuning time: wall seconds of the "
                   "trials (training, validation, test), summed over all folds and per fold; tuner overhead: the "
                   "tuner's own seconds per trial (ask, tell, storage), not included in the tuning time. Chosen "
                   "lr: the learning rates of the folds' chosen trials."))
    b.append(("img", (images["tuning_spread"], "Validation accuracy of every trial")))
    b.append(("p", "Box: validation accuracy over every trial of the unit (all folds), dots: the trials, "
                   "white diamonds: the test accuracy of each fold's chosen trial. A tall box: the unit depends "
                   "much on its recipe; diamonds below the box: the choice over-rated on a small validation part."))
    b.append(("img", (images["tuning_budget"], "Best validation accuracy against the budget")))
    b.append(("p", "Best validation accuracy among the complete trials run so far, mean over folds. Still rising "
                   "at the last trial: the budget was too small for that unit; flat early: it was enough."))
    b.append(("img", (images["tuning_lr"], "Validation accuracy against learning rate")))
    b.append(("p", "One dot per trial, circled: chosen. A peak shows where the unit trains and how wide that "
                   "region is; accuracy rising to an edge of the axis (the searched range): the range cut the "
                   "search short."))
    b.append(("img", (images["tuning_importance"], "Hyperparameter importance")))
    skipped = _skipped(tabs["tuning_importance"])
    b.append(("p", "fANOVA (Hutter et al. 2014, Optuna's FanovaImportanceEvaluator, seed 0): the share of the "
                   "variance of validation accuracy each hyperparameter explains on its own, over the unit's "
                   "complete trials of all folds, normalised to sum to 1 per unit. With few trials it is noisy: "
                   "read large differences only. Blank: not in the unit's space, constant, or not computed"
                   + (f" ({skipped})." if skipped else ".")))
    chosen = tabs["tuning_chosen"]
    if len(chosen) <= PAGE_ROWS:
        b.append(("table", chosen_display(chosen)))
        b.append(("p", "The chosen trial of every fold (highest validation accuracy, then lowest validation "
                       "loss, then lowest index) and its values; its test accuracy is the fold's in Table 1."))
    else:
        b.append(("p", f"The chosen trial of each of the {len(chosen)} folds and its values: tuning_chosen.csv."))
    return b
