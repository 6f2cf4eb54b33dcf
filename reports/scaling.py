"""The sequence-length scaling plot: time per iteration and peak memory against T, log-log, per unit."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402

__all__ = ["plot_scaling", "scaling_figure"]


def scaling_figure(table: pd.DataFrame):
    """Three log-log panels from ``scaling.csv`` rows; failed cells are marked with an x at the top.

    Args:
        table: ``bench scale``'s rows (:func:`bench.measure.scale.sweep`).

    Returns:
        (matplotlib.figure.Figure): Seconds per iteration, memory saved for backward and peak memory,
            against the length.
    """
    ok = table[table.status == "ok"]
    cfg = table.iloc[0]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    peak = ("peak GPU memory allocated above set-up (MiB)" if str(cfg.device).startswith("cuda")
            else "peak resident memory above set-up (MiB)")  # what bench.measure.scale measures on each
    panels = (("median_iter_s", "seconds per training iteration"),
              ("saved_mb", "memory saved for backward (MiB)"),
              ("peak_mem_mb", peak))
    units = list(dict.fromkeys(table.unit))
    palette = dict(zip(units, sns.color_palette(n_colors=len(units))))
    for ax, (col, label) in zip(axes, panels):
        if not ok.empty:  # every cell failed: the axes only carry the failure marks
            sns.lineplot(data=ok, x="length", y=col, hue="unit", hue_order=units, palette=palette, marker="o",
                         ax=ax)
        ax.set(xscale="log", yscale="log", xlabel="sequence length T (frames)", ylabel=label)
        lengths = sorted(table.length.unique())
        ax.set_xticks(lengths, [str(n) for n in lengths])
        ax.xaxis.set_minor_formatter(NullFormatter())
        failed = table[table.status != "ok"]
        if not failed.empty and not ok.empty:
            top = ok[col].max()
            for _, r in failed.iterrows():
                ax.scatter(r.length, top, marker="x", s=80, color=palette[r.unit])
                ax.annotate(f"{r.unit}: {r.status}", (r.length, top), fontsize=7, rotation=20,
                            textcoords="offset points", xytext=(4, 4))
        ax.grid(True, which="both", alpha=0.3)
    names = table.get("device_name", pd.Series(dtype=object)).dropna().unique()
    where = f"{cfg.device} ({', '.join(map(str, names))})" if len(names) else str(cfg.device)
    fig.suptitle(f"Scaling with sequence length: batch {cfg.batch}, {cfg.layers} layers x {cfg.hidden}, "
                 f"{cfg.features} features, fp32, eager, {where}")
    fig.tight_layout()
    return fig


def plot_scaling(table: pd.DataFrame, path: str | Path) -> Path:
    """:func:`scaling_figure` written as a PNG.

    Args:
        table: ``bench scale``'s rows.
        path: the PNG file.

    Returns:
        ``path``.
    """
    fig = scaling_figure(table)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
