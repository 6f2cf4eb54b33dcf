"""The CSV tables of a run's report (``runs/<id>/report/``), declared as data like the run's own tables
(:mod:`bench.results.schema`): :func:`reports.render` writes each through :meth:`bench.results.schema.Table.frame`,
which refuses an undeclared or missing column, and the documentation's table reference is generated
from this list (``python -m docs.gen``). Column names are those of the default reference unit
(``indrnn``: ``ratio_to_indrnn``)."""
from __future__ import annotations

from bench.results.schema import Column, Table

from .paper import REFERENCE_UNIT

__all__ = ["REPORT_TABLES"]

_REF = REFERENCE_UNIT

REPORT_TABLES: dict[str, Table] = {t.name: t for t in (
    Table("table1", "`report/table1.csv` (and `table1.md`)", "unit of this run, then each result the paper quotes", (
        Column("method", "str", "the unit's display name, or the quoted work"),
        Column("unit", "str", "the unit's registry name (empty for a quoted row)"),
        Column("group", "str", "paper (the paper's units and their variants), modern, plugin (a unit from outside "
                               "the project), baseline, or quoted"),
        Column("hidden", "float", "the width the unit trained at, median over its jobs (empty: baseline, quoted)"),
        Column("params", "float", "its parameter count, median over its jobs (empty for a quoted row)"),
        Column("macs_per_frame", "float", "multiply-adds per frame of its encoder, median over its jobs (empty: "
                                          "baseline, quoted, or a run before it was recorded)"),
        Column("source", "str", "measured in this run, generated (a rehearsal store), or quoted from the paper"),
        Column("quoted", "bool", "a row quoted from the paper's Table 1, not rerun"),
        Column("folds", "int", "folds counted: every fold, a diverged one at chance accuracy"),
        Column("diverged", "int", "folds whose training loss became NaN or infinite"),
        Column("accuracy_mean_pct", "float", "mean test accuracy over those folds, %"),
        Column("accuracy_std_pct", "float", "its standard deviation over folds, %"),
        Column("ci_low_pct", "float", "lower end of the 95 % interval (Nadeau-Bengio corrected resampled variance)"),
        Column("ci_high_pct", "float", "upper end of the same"),
        Column("finished_folds", "int", "folds that did not diverge"),
        Column("finished_mean_pct", "float", "mean test accuracy over those only, %"),
        Column("finished_std_pct", "float", "its standard deviation, %"),
    )),
    Table("timing", "`report/timing.csv`", "recurrent unit (and environment, in a run resumed with --allow-mixed)", (
        Column("unit", "str", "the unit's registry name"),
        Column("method", "str", "its display name"),
        Column("group", "str", "paper (the paper's units and their variants), modern or plugin"),
        Column("hidden", "float", "the width the unit trained at, median over its jobs"),
        Column("params", "float", "its parameter count, median over its jobs"),
        Column("macs_per_frame", "float", "multiply-adds per frame of its encoder, median over its jobs"),
        Column("timed_iters", "int", "steady full iterations pooled (warm-up and partial batches excluded)"),
        Column("folds", "int", "the unit's jobs"),
        Column("median_s", "float", "median seconds per training iteration"),
        Column("q1_s", "float", "first quartile"),
        Column("q3_s", "float", "third quartile"),
        Column("iqr_s", "float", "interquartile range"),
        Column(f"ratio_to_{_REF}", "float", f"median over `{_REF}`'s median in the same environment"),
        Column("paper_s", "float", "the paper's seconds per iteration (Figure 5), where it timed the unit"),
        Column(f"paper_ratio_to_{_REF}", "float", f"the paper's ratio to `{_REF}`"),
        Column("device", "str", "the device of the run (`cpu`, `cuda`, ...)"),
        Column("device_name", "str", "the GPU's or the CPU's model"),
        Column("threads", "int", "torch threads"),
        Column("execution", "str", "step mode, precision and subnormal policy that produced the times"),
        Column("kernel", "str", "the kernels the unit's recurrence ran, `op:kernel:dtype`, as recorded per job"),
        Column("env_id", "str", "the environment (a row of `environment.csv`)"),
        Column("source", "str", "measured in this run, or generated (a rehearsal store)"),
    )),
    Table("pairwise", "`report/pairwise.csv`", "pair of units (a before b in display order)", (
        Column("unit_a", "str", "the first unit"),
        Column("unit_b", "str", "the second unit"),
        Column("groups", "str", "their groups, `a / b` (paper, modern, plugin, baseline)"),
        Column("folds", "int", "folds both scored (a diverged fold at chance accuracy)"),
        Column("diverged_a", "int", "of those, folds where a diverged"),
        Column("diverged_b", "int", "and where b diverged"),
        Column("diff_pp", "float", "mean accuracy difference a - b, percentage points"),
        Column("diff_std_pp", "float", "its standard deviation over folds"),
        Column("t", "float", "the Nadeau-Bengio corrected resampled t statistic"),
        Column("df", "int", "its degrees of freedom (folds - 1)"),
        Column("p", "float", "two-sided p value"),
        Column("p_holm", "float", "p after Holm's step-down adjustment over every pair of the table (the verdict)"),
        Column("ci_low_pp", "float", "lower end of the corrected 95 % interval of the difference"),
        Column("ci_high_pp", "float", "upper end"),
        Column("test_train_ratio", "float", "n_test / n_train, the correction's factor"),
        Column("time_ratio_median", "float", "median over folds of a's time per iteration over b's"),
        Column("time_ratio_q1", "float", "its first quartile"),
        Column("time_ratio_q3", "float", "its third quartile"),
        Column("time_folds", "int", "folds with both times (recurrent units only)"),
        Column("note", "str", "why there is no test, when there is none"),
        Column("source", "str", "measured in this run, or generated (a rehearsal store)"),
    )),
    Table("tuning_summary", "`report/tuning_summary.csv` (tuned runs)", "unit", (
        Column("unit", "str", "the unit's registry name"),
        Column("method", "str", "its display name"),
        Column("folds", "int", "the unit's (repeat, fold) studies"),
        Column("trials", "int", "trials over all its folds"),
        Column("complete", "int", "of those, trials that ran to the end"),
        Column("pruned", "int", "trials stopped early by the pruner"),
        Column("diverged", "int", "trials whose training loss became non-finite"),
        Column("val_acc_mean_pct", "float", "mean validation accuracy of the complete trials, %"),
        Column("val_acc_best_pct", "float", "the best of them, %"),
        Column("tuning_s", "float", "wall seconds of every trial (training, validation, test), summed over folds"),
        Column("tuning_s_per_fold", "float", "the same per fold"),
        Column("overhead_s_mean", "float", "mean seconds of the tuner's own work per trial (ask, tell, storage)"),
        Column("lr_chosen_median", "float", "median learning rate of the folds' chosen trials (empty: baseline)"),
        Column("lr_chosen_min", "float", "the lowest of them"),
        Column("lr_chosen_max", "float", "the highest"),
    )),
    Table("tuning_chosen", "`report/tuning_chosen.csv` (tuned runs)", "unit x repeat x fold: its chosen trial", (
        Column("unit", "str", "the unit"),
        Column("repeat", "int", "the repeat"),
        Column("fold", "int", "the fold"),
        Column("trial", "int", "index of the chosen trial in the fold's study (as `trial` in `folds.csv`)"),
        Column("lr", "float", "its learning rate (empty for the baseline)"),
        Column("dropout", "float", "its dropout (empty for the baseline)"),
        Column("weight_decay", "float", "its weight decay (the baseline: its L2 penalty)"),
        Column("readout", "str", "its readout (empty for the baseline)"),
        Column("val_acc", "float", "its validation accuracy, what the choice read"),
        Column("test_acc", "float", "its test accuracy: the fold's result"),
    )),
    Table("tuning_importance", "`report/tuning_importance.csv` (tuned runs)", "unit x hyperparameter", (
        Column("unit", "str", "the unit"),
        Column("method", "str", "its display name"),
        Column("parameter", "str", "`lr`, `dropout`, `weight_decay` or `readout`"),
        Column("importance", "float", "fANOVA share of the variance of validation accuracy the parameter explains "
                                      "alone, over the unit's complete trials; sums to 1 per unit (empty: not computed)"),
        Column("trials", "int", "complete trials it was computed from"),
        Column("note", "str", "why there is no importance, when there is none"),
    )),
    Table("confusion", "`report/confusion.csv`", "unit x true genre x predicted genre (zeros included)", (
        Column("unit", "str", "the unit"),
        Column("true", "str", "the true genre (class)"),
        Column("pred", "str", "the predicted genre"),
        Column("count", "int", "test clips, pooled over the finished folds"),
    )),
)}
"""Every CSV table of a report, by name (``table1``, ``timing``, ``pairwise``, the tuning tables,
``confusion``): :func:`reports.render` writes each in exactly its declared columns."""
