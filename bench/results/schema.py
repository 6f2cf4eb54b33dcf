"""The tidy tables a run writes, declared as data: each table's file, what one row is, and its columns.

:func:`bench.execution.jobs.run_job` builds every table it returns through :meth:`Table.frame`, which refuses a
column that is not declared here (or a declared one that is missing), so this list is the writer's
own; the documentation's table reference (``python -m docs.gen``) is rendered from it. A column added
to a job's output is therefore one more :class:`Column` here, then one regeneration of the docs.

The store itself stays generic (:mod:`bench.results.store`): it keeps whatever tables and columns a job returns.
This module imports nothing heavy (pandas only when a table is built).
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Column", "Table", "TABLES", "KEY_COLUMNS"]


@dataclass(frozen=True)
class Column:
    """One declared column of a table.

    Attributes:
        name: the column's name.
        type: its type as written: ``int``, ``float``, ``bool`` or ``str``.
        meaning: what it holds (the tables reference prints it).
    """

    name: str
    type: str  # as written: int, float, bool, str
    meaning: str


@dataclass(frozen=True)
class Table:
    """One declared table: its file, what one row is, and its columns in order.

    Attributes:
        name: the table's name (``folds``, ``epochs``, ...).
        files: the top-level file(s) of the run directory built from the jobs' parts.
        row: what one row is.
        columns: the columns, in the order they are written.
    """

    name: str
    files: str  # the top-level file(s) of the run directory built from the jobs' parts
    row: str  # what one row is
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        """The columns' names, in order."""
        return [c.name for c in self.columns]

    def frame(self, data):
        """``data`` (a list of row dicts, or a dict of columns) as a DataFrame in the declared column order.

        Args:
            data (list[dict] | dict | pandas.DataFrame): the rows, or the columns.

        Returns:
            (pandas.DataFrame): The rows in exactly the declared columns, in order (no rows: the columns
                alone).

        Raises:
            ValueError: ``data`` has a column that is not declared, or lacks a declared one.
        """
        import pandas as pd

        df = pd.DataFrame(data)
        if df.empty and not len(df.columns):  # no rows at all (the baseline has no epochs)
            return pd.DataFrame(columns=self.names)
        extra, missing = [c for c in df.columns if c not in self.names], [c for c in self.names if c not in df.columns]
        if extra or missing:
            raise ValueError(f"table {self.name!r}: columns {extra} are not declared in its schema (bench/results/schema.py, "
                             f"reports/schema.py), {missing} are declared but not written; declare them there, then "
                             "run `python -m docs.gen`")
        return df[self.names]


_KEYS = (
    Column("unit", "str", "the unit's registry name, or `baseline` for the logistic-regression baseline"),
    Column("repeat", "int", "the repeat of the cross-validation, from 0 (always 0 with a split file)"),
    Column("fold", "int", "the test fold within the repeat, from 0 (a split file: its fold numbers in order; "
                          "0 for one fixed split)"),
)
KEY_COLUMNS = tuple(c.name for c in _KEYS)
"""``unit``, ``repeat``, ``fold``: the first columns of every table a job writes."""

TABLES: dict[str, Table] = {t.name: t for t in (
    Table("folds", "`folds.csv`", "unit x repeat x fold (one job)", _KEYS + (
        Column("test_acc", "float", "accuracy on the test part, with the best-validation weights"),
        Column("test_auc", "float", "macro one-vs-rest AUC-ROC on the test part (NaN for the baseline)"),
        Column("epochs", "int", "epochs trained (0 for the baseline)"),
        Column("best_epoch", "int", "the epoch of the lowest validation loss, whose weights are tested"),
        Column("median_iter_s", "float", "median seconds per training iteration, steady full batches only"),
        Column("q1_iter_s", "float", "first quartile of the same"),
        Column("q3_iter_s", "float", "third quartile of the same"),
        Column("timed_iters", "int", "iterations in those summaries"),
        Column("params", "int", "parameters of the model (the baseline's weights and biases)"),
        Column("hidden", "int", "the width the unit trained at: `--hidden`, or its own under `--param-budget` "
                                "(0 for the baseline)"),
        Column("macs_per_frame", "int", "multiply-adds per frame of the unit's encoder (`models/cost.py`: every weight "
                                        "matrix once, plus the recurrence's elementwise work; 0 for the baseline)"),
        Column("diverged", "bool", "the training loss became NaN or infinite; the fold stopped there"),
        Column("note", "str", "why a fold diverged, e.g. `non-finite training loss at epoch 7` (empty otherwise)"),
        Column("train_s", "float", "wall seconds of the whole job (training, validation, test; the baseline's fit; "
                                   "under `--tune`, every trial of the fold and the tuner's own work)"),
        Column("kernels", "str", "the kernel and dtype each recurrence really ran, `op:kernel:dtype` joined by `;` "
                                 "(e.g. `indrnn:numba:float32`, `lstm:aten:bfloat16`); empty for the baseline"),
        Column("n_train", "int", "training clips"),
        Column("n_val", "int", "validation clips"),
        Column("n_test", "int", "test clips"),
        Column("env_id", "str", "the environment the job ran in (a row of `environment.csv`)"),
        Column("trial", "int", "`--tune`: the trial chosen on validation accuracy, whose test accuracy this row "
                               "holds (from 0); -1 for the fixed recipe"),
        Column("lr", "float", "the learning rate the row's model trained with (the chosen trial's, or `--lr`)"),
        Column("dropout", "float", "its dropout (the chosen trial's, or `--dropout`)"),
        Column("weight_decay", "float", "its weight decay; for the baseline, its L2 penalty as "
                                        "`C = 1 / (weight_decay x n_fit)`, or `C = 1` untuned (NaN)"),
        Column("readout", "str", "its readout, `last` or `mean` (empty for the baseline)"),
    )),
    Table("trials", "`trials.csv`", "unit x repeat x fold x trial (`--tune`)", _KEYS + (
        Column("trial", "int", "the trial's index in its (unit, repeat, fold) study, from 0; the sampler's "
                               "point for that index"),
        Column("lr", "float", "learning rate drawn for the trial"),
        Column("dropout", "float", "dropout drawn for the trial"),
        Column("weight_decay", "float", "weight decay drawn for the trial (the baseline: its L2 penalty)"),
        Column("readout", "str", "readout drawn for the trial (empty for the baseline)"),
        Column("state", "str", "`complete`, `pruned` (stopped early by the pruner on validation loss) or "
                               "`diverged`"),
        Column("val_acc", "float", "validation accuracy with the trial's best-validation weights: what the choice "
                                   "reads (NaN when diverged)"),
        Column("val_loss", "float", "the lowest validation loss of the trial"),
        Column("test_acc", "float", "test accuracy of the trial: recorded, never used to choose"),
        Column("epochs", "int", "epochs trained"),
        Column("best_epoch", "int", "epoch of the lowest validation loss"),
        Column("median_iter_s", "float", "median seconds per steady training iteration"),
        Column("params", "int", "parameters of the model"),
        Column("hidden", "int", "its width"),
        Column("train_s", "float", "wall seconds of the trial (training, validation, test)"),
        Column("overhead_s", "float", "wall seconds of the tuner's own work for the trial (ask, tell, storage)"),
        Column("chosen", "bool", "the trial chosen for the fold: the highest validation accuracy, then the "
                                 "lowest validation loss, then the lowest index"),
    )),
    Table("epochs", "`epochs.parquet` (+ `epochs.csv`)", "unit x repeat x fold x epoch", _KEYS + (
        Column("epoch", "int", "1, 2, ..."),
        Column("train_loss", "float", "mean cross-entropy over the epoch's training batches"),
        Column("val_loss", "float", "cross-entropy on the validation part (NaN once diverged)"),
        Column("val_acc", "float", "accuracy on the validation part"),
        Column("val_auc", "float", "macro one-vs-rest AUC-ROC on the validation part (Figure 4)"),
    )),
    Table("iterations", "`iterations.parquet` (+ `iterations.csv`)", "training iteration", _KEYS + (
        Column("iteration", "int", "0, 1, ... within the job"),
        Column("seconds", "float", "the timed training step (see Timing rules)"),
        Column("batch_size", "int", "clips in the batch"),
        Column("warmup", "bool", "a warm-up (or CUDA-graph capture) iteration, left out of summaries"),
        Column("partial", "bool", "the last, smaller batch of an epoch, left out of summaries"),
    )),
    Table("predictions", "`predictions.csv`", "test clip per job", _KEYS + (
        Column("clip_id", "str", "the clip's path relative to the data set's root"),
        Column("true", "int", "its class index (the genres in `metadata.json`)"),
        Column("pred", "int", "the predicted class index (-1 for a diverged fold)"),
    )),
    Table("environment", "`environment.csv`", "job: the machine it ran on", _KEYS + (
        Column("host", "str", "host name"),
        Column("device_name", "str", "the GPU's or the CPU's model"),
        Column("cpu", "str", "the CPU's model"),
        Column("torch", "str", "`torch.__version__`, with its build tag (+cpu, +cu130)"),
        Column("numba", "str", "numba's version (it compiles the IndRNN's CPU kernel)"),
        Column("triton", "str", "triton's version (it compiles the CUDA kernels; empty without it)"),
        Column("cuda", "str", "CUDA version of the torch build (empty on a CPU build)"),
        Column("cudnn", "str", "cuDNN version (empty without one)"),
        Column("python", "str", "Python version"),
        Column("commit", "str", "git commit of the code, `+dirty` with uncommitted changes"),
        Column("torch_threads", "int", "torch's intra-op threads in the job's thread"),
        Column("numba_threads", "int", "numba's threads (the IndRNN's CPU kernel)"),
        Column("blas_threads", "int", "the BLAS libraries' threads (the baseline's logistic regression), "
                                      "bound by the thread policy through threadpoolctl"),
        Column("subnormals", "str", "the subnormal policy verified in force in the job's thread pools: `flush`, "
                                    "`keep` or `mixed` (not merely the option asked for)"),
        Column("precision_flags", "str", "JSON of the precision flags in force (TF32 for matmul and cuDNN, ...)"),
        Column("env_id", "str", "a hash of the fields that decide whether two timings are comparable"),
        Column("plugin", "str", "a plugin unit's code, as the job loaded it: its distribution's name and version "
                                "and the SHA-256 of its factory's file (a `module:factory` spec: the hash alone); "
                                "part of the run's identity; empty for built-in units and the baseline"),
    )),
)}
"""Every table a job writes, by name: ``folds``, ``trials``, ``epochs``, ``iterations``, ``predictions``,
``environment``. Each :class:`Table` declares its columns; the tables reference of the documentation
(``docs/reference/tables.md``) is generated from it."""
