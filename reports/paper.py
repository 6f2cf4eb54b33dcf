"""What the paper reports, and how units are named in every table and figure.

Wu, Han, Song, Wang, "Music Genre Classification Using Independent Recurrent Neural Network":
Figure 5 gives accuracy and training seconds per iteration for RNN, LSTM and IndRNN (hardware not
stated); Table 1 quotes four earlier GTZAN results beside the paper's IndRNN. None of these numbers is
rerun here: every table and figure marks them as quoted.
"""
from __future__ import annotations

__all__ = ["BASELINE", "REFERENCE_UNIT", "PAPER_FIGURE5", "LITERATURE", "UNIT_LABELS", "label", "PAPER_NAME",
           "MODERN_UNITS", "PAPER_FAMILY", "GROUPS", "group"]

BASELINE = "scat+logreg"  # the harness's name for the non-recurrent reference
"""The baseline's name in a run's tables (``bench.execution.baseline.BASELINE``; ``reports`` never imports ``bench``)."""
REFERENCE_UNIT = "indrnn"  # time ratios are taken to this unit, as in the paper
"""The unit every time ratio is taken to, as in the paper."""
PAPER_NAME = "Wu et al."
"""How tables and figures cite the paper."""

# unit -> (test accuracy in %, training seconds per iteration), Figure 5 of the paper
PAPER_FIGURE5: dict[str, tuple[float, float]] = {
    "rnn": (89.0, 0.27),
    "lstm": (97.0, 0.68),
    "indrnn": (96.0, 0.23),
}
"""Unit -> (test accuracy %, training seconds per iteration), as the paper's Figure 5 gives them (hardware
not stated); drawn as marks beside the measured values, never rerun."""

# (method, mean test accuracy in % on GTZAN), Table 1 of the paper, in its order
LITERATURE: list[tuple[str, float]] = [
    ("Lee et al. (2009), modulation spectral analysis", 90.6),
    ("Andén & Mallat (2014), deep scattering spectrum", 91.6),
    ("Panagakis et al. (2009), locality preserving NTF", 92.4),
    ("Dai et al. (2015), multilingual DNN", 93.4),
    ("Wu et al., scattering + IndRNN (the paper)", 96.0),
]
"""``(method, mean test accuracy %)`` on GTZAN, the rows of the paper's Table 1 in its order: quoted in
the report's Table 1 below the measured rows."""

UNIT_LABELS = {
    "rnn": "RNN",
    "rnn_relu": "RNN (ReLU)",
    "lstm": "LSTM",
    "gru": "GRU",
    "indrnn": "IndRNN",
    "indrnn_norec": "IndRNN (no rec.)",
    "mingru": "minGRU",
    "minlstm": "minLSTM",
    "lru": "LRU",
    "mamba": "Mamba",
    BASELINE: "scat+logreg",
}
"""Registry name -> display name in every table and figure (:func:`label`)."""

# The diagonal linear recurrences (issue 20): minGRU, minLSTM (Feng et al. 2024), LRU (Orvieto et al.
# 2023), Mamba's S6 (Gu & Dao 2023). The other built-in units are the paper's or a variant of one (RNN
# with ReLU, the IndRNN without its recurrence); a unit named nowhere here came from outside (a plugin).
MODERN_UNITS = ("mingru", "minlstm", "lru", "mamba")
"""The units of the ``modern`` group (equal to ``models.MODERN_UNITS``; ``reports`` never imports ``models``)."""
PAPER_FAMILY = ("rnn", "rnn_relu", "lstm", "gru", "indrnn", "indrnn_norec")
"""The units of the ``paper`` group: the paper's four and their variants."""
GROUPS = ("paper", "modern", "plugin", "baseline")  # display order of the groups
"""The groups of :func:`group`, in display order."""


def label(unit: str) -> str:
    """Display name of a unit; unknown units keep their registry name.

    Args:
        unit: a registry name (or the baseline's).

    Returns:
        Its :data:`UNIT_LABELS` entry, else ``unit``.
    """
    return UNIT_LABELS.get(unit, unit)


def group(unit: str) -> str:
    """The unit's group in tables and figures.

    Args:
        unit: a registry name (or the baseline's).

    Returns:
        ``"paper"`` (the paper's units and their variants), ``"modern"``, ``"baseline"``, or ``"plugin"``
            (a unit from outside the project: any other name).
    """
    if unit == BASELINE:
        return "baseline"
    return "modern" if unit in MODERN_UNITS else "paper" if unit in PAPER_FAMILY else "plugin"
