"""The ``bench speed`` figure: per unit, median time of forward, forward + backward and the whole
training step, with interquartile bars; one panel per step mode (eager, CUDA graph) and subnormal
policy (flush, keep)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

__all__ = ["plot_speed", "speed_figure"]

KIND_LABELS = {"forward": "forward", "forward_backward": "forward + backward", "step": "training step"}


def speed_figure(summary: pd.DataFrame, title: str = ""):
    """Grouped bars (unit x measurement) of median milliseconds, IQR as error bars, per mode.

    Args:
        summary: ``bench speed``'s summary (:func:`bench.measure.speed.summarise_speed`).
        title: the figure's title, or ``""``.

    Returns:
        (matplotlib.figure.Figure): One panel per (subnormal policy, step mode).
    """
    if "subnormals" not in summary:
        summary = summary.assign(subnormals="flush")
    panels = list(dict.fromkeys(zip(summary["subnormals"], summary["mode"])))
    units = list(dict.fromkeys(summary["unit"]))
    kinds = [k for k in KIND_LABELS if k in set(summary["kind"])]
    fig, axes = plt.subplots(1, len(panels), figsize=(1.6 + 2.2 * len(units) * len(panels), 4.2), squeeze=False,
                             sharey=True)
    colors = dict(zip(kinds, sns.color_palette(n_colors=len(kinds))))
    width = 0.8 / len(kinds)
    for ax, (sub, mode) in zip(axes[0], panels):
        s = summary[(summary["mode"] == mode) & (summary["subnormals"] == sub)].set_index(["unit", "kind"])
        for j, kind in enumerate(kinds):
            rows = [s.loc[(u, kind)] if (u, kind) in s.index else None for u in units]
            med = np.array([1e3 * r.median_s if r is not None else np.nan for r in rows])
            lo = np.array([1e3 * (r.median_s - r.q1_s) if r is not None else 0 for r in rows])
            hi = np.array([1e3 * (r.q3_s - r.median_s) if r is not None else 0 for r in rows])
            x = np.arange(len(units)) + (j - (len(kinds) - 1) / 2) * width
            ax.bar(x, med, width, yerr=[lo, hi], capsize=2, color=colors[kind], label=KIND_LABELS[kind])
        ax.set_xticks(np.arange(len(units)), units)
        ax.set_title((f"{mode} step" if mode == "eager" else "whole step in one CUDA graph") + f", subnormals {sub}")
        ax.grid(True, axis="y", alpha=0.3)
    axes[0][0].set_ylabel("median ms per call (bars: IQR)")
    axes[0][-1].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_speed(summary: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """:func:`speed_figure` written as a PNG.

    Args:
        summary: ``bench speed``'s summary.
        path: the PNG file.
        title: the figure's title.

    Returns:
        ``path``.
    """
    fig = speed_figure(summary, title)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
