"""``bench compare RUN_A RUN_B [...]``: two or more runs side by side (CPU vs GPU, eager vs graph,
before vs after a change).

Per unit and run: mean test accuracy, median seconds per iteration (steady iterations, as in each run's
timing table) and, against the first run, the time ratio and the accuracy difference. When a run has
exactly the first run's splits (``splits.json``), the accuracy difference is paired fold by fold and
tested with the Nadeau-Bengio corrected resampled t-test (:mod:`reports.stats`); otherwise the runs
are not paired and no test is made. Beside the numbers: every configuration field that differs, and
the machine of each run. Writes ``compare.csv``, ``compare.md`` and ``compare.png``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .load import Run, load_run
from .page import markdown_table, md_escape
from .paper import group, label
from .stats import corrected_resampled_ttest
from .tables import timing_table

__all__ = ["compare_table", "config_differences", "machines", "compare_runs"]

MACHINE_KEYS = ("device", "device_name", "cpu", "torch_threads", "subnormals", "cuda", "commit")


def _names(runs: list[Run]) -> list[str]:
    names, seen = [], {}
    for run in runs:
        base = run.dir.name
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
    return names


def _splits(run: Run):
    path = run.dir / "splits.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _accuracy(run: Run, unit: str) -> pd.Series:
    """Test accuracy per (repeat, fold), diverged folds as NaN."""
    f = run.folds[run.folds["unit"] == unit].set_index(["repeat", "fold"])
    return f["test_acc"].where(~f["diverged"]).astype(float)


def _accuracy_cell(mean: float, std: float, folds: int, diverged: int) -> str:
    """Mean +- std, or what there is instead: a unit absent from a run, or one whose every fold diverged."""
    if not np.isfinite(mean):
        return f"all {diverged} diverged" if diverged else "not in this run"
    return f"{100 * mean:.1f} ± {100 * std:.1f} %" if np.isfinite(std) else f"{100 * mean:.1f} %"


def compare_table(runs: list[Run], names: list[str] | None = None) -> pd.DataFrame:
    """One row per (unit, run): accuracy, time per iteration and, against the first run, ratios and tests.

    Args:
        runs: the runs; the first is the reference.
        names: a name per run (default: its directory's name, numbered when two are equal).

    Returns:
        ``unit, run, execution, device_name, folds, diverged, acc_mean, acc_std, median_s, q1_s, q3_s,
            time_ratio, acc_diff_pp, paired, p, ci_low_pp, ci_high_pp, note``; the test only where a run
            has exactly the first run's splits.
    """
    names = names or _names(runs)
    first = runs[0]
    base_splits = _splits(first)
    times = [timing_table(r).set_index("unit") for r in runs]
    units = list(dict.fromkeys(u for r in runs for u in r.units))
    rows = []
    for unit in units:
        base_acc = _accuracy(first, unit)
        base_t = times[0]["median_s"].get(unit, np.nan)
        for name, run, tt in zip(names, runs, times):
            acc = _accuracy(run, unit)
            med = tt["median_s"].get(unit, np.nan)
            row = dict(unit=unit, run=name, execution=run.execution, device_name=run.device_name,
                       folds=int(acc.notna().sum()), diverged=int(acc.isna().sum()),
                       acc_mean=acc.mean(), acc_std=acc.std(ddof=1) if acc.notna().sum() > 1 else np.nan,
                       median_s=med, q1_s=tt["q1_s"].get(unit, np.nan), q3_s=tt["q3_s"].get(unit, np.nan),
                       time_ratio=med / base_t if base_t and np.isfinite(base_t) else np.nan,
                       acc_diff_pp=100 * (acc.mean() - base_acc.mean()) if len(base_acc) else np.nan,
                       paired=False, p=np.nan, ci_low_pp=np.nan, ci_high_pp=np.nan, note="")
            if run is first:
                row["note"] = "reference"
            elif base_splits is None or _splits(run) != base_splits:
                row["note"] = "other splits: not paired, no test"
            elif len(acc) and len(base_acc):
                d = (acc - base_acc).dropna()
                f = run.folds[run.folds["unit"] == unit]
                ratio = float((f["n_test"] / f["n_train"]).mean())
                test = corrected_resampled_ttest(100 * d.values, ratio)
                row.update(paired=True, p=test.p, ci_low_pp=test.ci_low, ci_high_pp=test.ci_high, note=test.note)
            rows.append(row)
    return pd.DataFrame(rows)


def config_differences(runs: list[Run], names: list[str] | None = None) -> pd.DataFrame:
    """Every configuration field whose value is not the same in all runs, one column per run.

    Args:
        runs: the runs.
        names: a name per run (default: as :func:`compare_table`).

    Returns:
        ``field`` and one column of JSON values per run.
    """
    names = names or _names(runs)
    keys = sorted({k for r in runs for k in r.config})
    rows = []
    for k in keys:
        values = [r.config.get(k) for r in runs]
        if any(json.dumps(v, sort_keys=True, default=str) != json.dumps(values[0], sort_keys=True, default=str)
               for v in values):
            rows.append({"field": k, **{n: json.dumps(v, default=str) for n, v in zip(names, values)}})
    return pd.DataFrame(rows, columns=["field", *names])


def machines(runs: list[Run], names: list[str] | None = None) -> pd.DataFrame:
    """Where each run was measured, and how (step mode, precision).

    Args:
        runs: the runs.
        names: a name per run (default: as :func:`compare_table`).

    Returns:
        ``field`` (device, device name, CPU, threads, subnormals, CUDA, commit, torch, execution) and
            one column per run.
    """
    names = names or _names(runs)
    rows = []
    for k in (*MACHINE_KEYS, "torch", "execution"):
        vals = []
        for r in runs:
            env = r.environment
            v = r.execution if k == "execution" else (env.get("versions") or {}).get("torch") if k == "torch" else env.get(k)
            vals.append("" if v is None else str(v))
        rows.append({"field": k, **dict(zip(names, vals))})
    return pd.DataFrame(rows, columns=["field", *names])


def _figure(table: pd.DataFrame, names: list[str]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    units = list(dict.fromkeys(table["unit"]))
    if len(units) > 6:  # many units: accuracy above time, each across the page, names slanted
        fig, axes = plt.subplots(2, 1, figsize=(max(10.0, 3 + 0.55 * len(units) * len(names)), 8.5))
    else:
        fig, axes = plt.subplots(1, 2, figsize=(4 + 1.6 * len(units) * len(names) / 2, 4.2))
    palette = dict(zip(names, sns.color_palette(n_colors=len(names))))
    width = 0.8 / len(names)
    bars = []
    for j, name in enumerate(names):
        t = table[table["run"] == name].set_index("unit").reindex(units)
        x = np.arange(len(units)) + (j - (len(names) - 1) / 2) * width
        bars.append(axes[0].bar(x, 100 * t["acc_mean"], width, yerr=100 * t["acc_std"].fillna(0), capsize=2,
                                color=palette[name], label=name))
        lo = (1e3 * (t["median_s"] - t["q1_s"])).fillna(0)
        hi = (1e3 * (t["q3_s"] - t["median_s"])).fillna(0)
        axes[1].bar(x, 1e3 * t["median_s"], width, yerr=[lo, hi], capsize=2, color=palette[name], label=name)
    for ax, ylabel in zip(axes, ("mean test accuracy (%), bars: std over folds",
                                 "median ms per training iteration (bars: IQR)")):
        if len(units) > 6:
            ax.set_xticks(np.arange(len(units)), [label(u) for u in units], rotation=35, ha="right",
                          rotation_mode="anchor")
        else:
            ax.set_xticks(np.arange(len(units)), [label(u) for u in units])
        groups = [group(u) for u in units]
        for i in range(1, len(units)):  # a dotted line where the paper's units end and the modern ones begin
            if groups[i] != groups[i - 1]:
                ax.axvline(i - 0.5, color="0.4", ls=":", lw=1)
        ax.set_ylabel(ylabel)
        ax.grid(True, axis="y", alpha=0.3)
    if (table["median_s"] > 0).any():  # no steady iteration timed (every batch partial): no log axis to draw
        axes[1].set_yscale("log")
        axes[1].yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # a label even within one decade
        axes[1].yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # 5, 10, 20: no mathtext (off here)
        axes[1].yaxis.set_minor_formatter(NullFormatter())
    axes[0].legend(bars, names, fontsize=7)  # named outright: matplotlib drops labels that start with "_"
    fig.tight_layout()
    return fig


def _md(df: pd.DataFrame) -> str:
    if df.empty:
        return "(none)"
    return markdown_table(df.astype(object).where(df.notna(), ""))  # every cell escaped (run names, paths)


def compare_runs(run_dirs: list[str | Path], out_dir: str | Path) -> dict[str, Path]:
    """Load the runs, write ``compare.csv``, ``compare.md`` and ``compare.png`` into ``out_dir``.

    Args:
        run_dirs: two or more run directories; the first is the reference.
        out_dir: where to write (created if needed).

    Returns:
        ``{"csv", "md", "png"}`` -> the files written.

    Raises:
        ValueError: fewer than two runs.
        ReportError: a run directory cannot be read (:func:`reports.load_run`).
    """
    if len(run_dirs) < 2:
        raise ValueError("bench compare needs at least two run directories")
    runs = [load_run(d) for d in run_dirs]
    names = _names(runs)
    table = compare_table(runs, names)
    diff, where = config_differences(runs, names), machines(runs, names)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "compare.csv", "md": out / "compare.md", "png": out / "compare.png"}
    table.to_csv(paths["csv"], index=False)
    from .figures import plain_text, save

    with plain_text():  # run names drawn as typed, never as mathtext
        save(_figure(table, names), paths["png"])
    show = table.assign(accuracy=[_accuracy_cell(m, s, n, d) for m, s, n, d in
                                  zip(table.acc_mean, table.acc_std.fillna(np.nan), table.folds, table.diverged)],
                        ms_per_iter=(1e3 * table.median_s).round(3), time_ratio=table.time_ratio.round(3),
                        acc_diff_pp=table.acc_diff_pp.round(2), p=table.p.round(4))
    cols = ["unit", "run", "execution", "accuracy", "folds", "diverged", "acc_diff_pp", "p", "ms_per_iter",
            "time_ratio", "note"]
    text = [f"# Comparison of {len(runs)} runs", "",
            f"Against the first run, {md_escape(names[0])}: `time_ratio` = median seconds per steady iteration "
            "over the first "
            "run's; `acc_diff_pp` = difference of mean test accuracy in percentage points; `p` = Nadeau-Bengio "
            "corrected resampled t-test on the per-fold differences, only when the runs share their splits.", "",
            _md(show[cols]), "", "## Configuration differences", "", _md(diff), "", "## Machines", "", _md(where),
            "", "![comparison](compare.png)", ""]
    paths["md"].write_text("\n".join(text))
    return paths
