"""Read and validate one run directory (``runs/<id>/``) as written by ``bench run``.

Only the run's files are read: ``metadata.json`` and the tidy tables ``folds.csv``, ``predictions.csv``,
``epochs.parquet`` and ``iterations.parquet`` (each table also as ``<name>.csv``: a run directory written
by hand or by an older version), and ``trials.csv`` where the run was tuned (``--tune``). Anything missing, empty, unparsable or lacking a column raises
:class:`ReportError` naming the file and what is wrong, so a half-written run never yields a half-true
report.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .paper import BASELINE

__all__ = ["ReportError", "Run", "load_run", "REQUIRED_COLUMNS"]

KEYS = ["unit", "repeat", "fold"]
REQUIRED_COLUMNS: dict[str, list[str]] = {
    "folds": KEYS + ["test_acc", "median_iter_s", "q1_iter_s", "q3_iter_s", "diverged", "n_train", "n_test"],
    "epochs": KEYS + ["epoch", "val_auc"],
    "iterations": KEYS + ["iteration", "seconds", "warmup"],
    "predictions": KEYS + ["true", "pred"],
    "trials": KEYS + ["trial", "lr", "dropout", "weight_decay", "readout", "state", "val_acc", "test_acc",
                      "train_s", "overhead_s", "chosen"],
}
"""Table name -> the columns :func:`load_run` needs in it (a table may hold more); a file lacking one is
refused, naming it."""
# numeric columns of trials.csv (the rest: readout and state as text, chosen as bool)
TRIAL_NUMBERS = ["trial", "lr", "dropout", "weight_decay", "val_acc", "val_loss", "test_acc", "epochs", "best_epoch",
                 "median_iter_s", "params", "hidden", "train_s", "overhead_s"]
# Order in which units appear everywhere (unknown units follow, in the order of folds.csv).
UNIT_ORDER = ["rnn", "rnn_relu", "lstm", "gru", "indrnn", "indrnn_norec", "mingru", "minlstm", "lru", "mamba", BASELINE]


class ReportError(Exception):
    """The run directory cannot be reported on; the message names the file and the problem."""


@dataclass
class Run:
    """One run directory, validated: metadata plus the four tidy tables, and the trials of a tuned run
    (an empty DataFrame when the run was not tuned).

    Made by :func:`load_run`; the tables are pandas DataFrames with the columns of the tables reference
    (``diverged``, ``warmup`` and ``partial`` as booleans). The properties below read the metadata for
    what the report says about the run.

    Attributes:
        dir: the run directory.
        metadata: ``metadata.json``: ``config``, ``environment``, ``features`` (shape, genres, skipped
            clips, ...), ``jobs``, ``started``, ``finished``, ``sessions``, ``param_budget``, ``run_id``
            and ``seal``.
        folds: one row per job (unit x repeat x fold): test accuracy, epochs, median and quartiles of
            seconds per iteration, parameters, ``diverged``, ...
        epochs: one row per job and epoch: training and validation loss, validation accuracy and AUC.
        iterations: one row per training iteration: ``seconds``, ``batch_size``, ``warmup``, ``partial``.
        predictions: one row per test clip per job: ``clip_id``, ``true`` and ``pred`` class indices
            (-1 for a diverged fold).
        trials: one row per tuning trial (``--tune``); empty for an untuned run.
    """

    dir: Path
    metadata: dict
    folds: pd.DataFrame
    epochs: pd.DataFrame
    iterations: pd.DataFrame
    predictions: pd.DataFrame
    trials: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def config(self) -> dict:
        """The run's configuration, as stored (``RunConfig.to_dict()``: every option by name)."""
        return self.metadata.get("config", {})

    @property
    def environment(self) -> dict:
        """Where the run started: device, CPU, threads, library versions, commit (``{}`` if not recorded)."""
        return self.metadata.get("environment") or {}

    @property
    def units(self) -> list[str]:
        """Every unit in the run, baseline included, in display order."""
        present = list(dict.fromkeys(self.folds["unit"]))
        return [u for u in UNIT_ORDER if u in present] + [u for u in present if u not in UNIT_ORDER]

    @property
    def missing_units(self) -> list[str]:
        """Units the run was asked for (its config) with no finished job: listed, never silently dropped."""
        asked = list(self.config.get("units") or []) + ([BASELINE] if self.config.get("baseline") else [])
        return [u for u in asked if u not in set(self.folds["unit"])]

    @property
    def recurrent_units(self) -> list[str]:
        """Units trained by iterations (everything but the baseline)."""
        return [u for u in self.units if u != BASELINE]

    @property
    def genres(self) -> list[str]:
        """The class names, by class index (``class 0``, ... when the metadata does not list them)."""
        g = (self.metadata.get("features") or {}).get("genres")
        if g:
            return list(g)
        n = int(max(self.predictions["true"].max(), self.predictions["pred"].max())) + 1
        return [f"class {i}" for i in range(n)]

    @property
    def finished(self) -> bool:
        """Whether the run reached its end (``metadata.json`` has a ``finished`` time)."""
        return bool(self.metadata.get("finished"))

    @property
    def device_name(self) -> str:
        """The model of the GPU or CPU the run timed on."""
        env = self.environment
        return str(env.get("device_name") or env.get("device") or self.config.get("device") or "unknown device")

    @property
    def threads(self):
        """torch's thread count when the run started (the configured one if not recorded)."""
        return self.environment.get("torch_threads", self.config.get("threads"))

    @property
    def readout(self) -> str:
        """How the classifier read each clip's states (runs before the option: the last valid frame)."""
        if self.config.get("readout", "last") == "mean":
            return "mean of the states over each clip's valid frames"
        return "state at each clip's last valid frame (the paper's)"

    @property
    def width_rule(self) -> str:
        """Equal width (the paper's comparison) or an equal parameter budget."""
        budget = self.metadata.get("param_budget", self.config.get("param_budget"))  # as resolved for the run
        if budget:
            return f"equal parameter budget: each unit's width chosen for the count closest to {int(budget):,}"
        return f"equal width: {self.config.get('layers', '?')} layers x {self.config.get('hidden', '?')} for every unit"

    @property
    def scaffold(self) -> str:
        """What surrounds each unit's recurrence: as published, or one controlled scaffold for every unit."""
        c = self.config
        block, mask = c.get("block", "native"), c.get("dropout_mask", "sequence")
        if block == "native":
            return "each unit as published (native: its own norm, residual form and dropout placement)"
        dropout = "tuned" if c.get("tune") else c.get("dropout", "?")
        return (f"the same {block} scaffold for every unit (norm {c.get('norm', 'layer')}, dropout "
                f"{dropout} with one mask per {mask}); only the recurrence differs")

    @property
    def tuning(self) -> str:
        """The tuning budget, or the fixed recipe."""
        c = self.config
        n = int(c.get("tune", 0) or 0)
        if not n:
            return f"one fixed recipe for every unit (lr {c.get('lr', '?')}, dropout {c.get('dropout', '?')})"
        return (f"{n} trials per unit and fold ({c.get('tune_sampler', 'sobol')} sampler"
                + (", median pruning" if c.get("tune_prune") else "")
                + f") over lr [{c.get('tune_lr_min')}, {c.get('tune_lr_max')}], dropout "
                  f"[{c.get('tune_dropout_min')}, {c.get('tune_dropout_max')}], weight decay "
                  f"[{c.get('tune_wd_min')}, {c.get('tune_wd_max')}], readout {'/'.join(c.get('tune_readouts', []))};"
                  " each chosen on validation accuracy, tested once")

    @property
    def tuned(self) -> bool:
        """Whether every fold's result is the best of several trials (``--tune N``, ``trials.csv`` present)."""
        return len(self.trials) > 0

    @property
    def tuned_label(self) -> str:
        """What a tuned run's accuracies are, for titles and captions ("" for an untuned run)."""
        if not self.tuned:
            return ""
        n = int(self.config.get("tune") or self.trials.groupby(KEYS)["trial"].nunique().max())
        return f"tuned: best of {n} trials per fold, chosen on validation"

    @property
    def subnormals(self) -> str:
        """The subnormal policy verified in force (runs before the option: computed, not recorded)."""
        return str(self.environment.get("subnormals") or self.config.get("subnormals") or "not recorded (computed)")

    @property
    def execution(self) -> str:
        """How every time was produced: step mode, precision and subnormal policy (runs before these
        options: eager fp32, subnormals computed)."""
        c = self.config
        return f"{c.get('step', 'eager')} step, {c.get('precision', 'fp32')}, subnormals {self.subnormals}"

    @property
    def generated(self) -> bool:
        """A store of generated rows (``python -m bench.results.rehearsal``), not a measurement."""
        return bool(self.metadata.get("generated") or self.config.get("rehearsal"))

    @property
    def provenance(self) -> str:
        """What every number of this run is: measured here, or generated."""
        return "GENERATED, NOT MEASURED (a rehearsal store)" if self.generated else "measured in this run"

    def kernels(self, unit: str) -> str:
        """The kernels ``unit``'s jobs ran, ``op:kernel:dtype`` (``;`` between ops), as recorded per job.

        Args:
            unit: a unit of the run.

        Returns:
            Every distinct record, ``|`` between them; ``not recorded`` when none is.
        """
        if "kernels" not in self.folds:
            return "not recorded"
        seen = self.folds.loc[self.folds["unit"] == unit, "kernels"].dropna().astype(str)
        seen = [k for k in dict.fromkeys(seen) if k]
        return " | ".join(seen) if seen else "not recorded"

    @property
    def env_ids(self) -> list[str]:
        """The distinct environments the jobs ran in (one, unless resumed with --allow-mixed)."""
        if "env_id" not in self.folds:
            return []
        return list(dict.fromkeys(self.folds["env_id"].dropna().astype(str)))


def _as_bool(s: pd.Series) -> pd.Series:
    """CSV booleans (True/False, true/false, 1/0) to a bool column; missing counts as False."""
    if s.dtype == bool:
        return s
    return s.astype(str).str.strip().str.lower().isin(["true", "1", "1.0", "yes"])


def _read_metadata(run_dir: Path) -> dict:
    path = run_dir / "metadata.json"
    if not path.is_file():
        raise ReportError(f"{path} is missing: not a run directory, or the run never started")
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ReportError(f"{path} cannot be parsed ({e}): half-written or corrupt") from e
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        raise ReportError(f"{path} has no 'config' object: half-written or not written by bench run")
    from bench.results.store import config_hash, metadata_seal

    if "seal" in meta and meta["seal"] != metadata_seal(meta):  # runs before the seal: not checked
        raise ReportError(f"{path} was changed after the run started (its config or features no longer match "
                          "the seal written with them); restore it: config.toml beside it holds the run's options")
    if "run_id" in meta and meta["run_id"] != config_hash(meta["config"]):
        raise ReportError(f"{path}: its config no longer hashes to the run's identity {meta['run_id']}; "
                          "it was edited after the run started")
    return meta


def _table_path(run_dir: Path, name: str) -> Path:
    """``<name>.parquet`` if the run has one (the large tables), else ``<name>.csv``."""
    parquet = run_dir / f"{name}.parquet"
    return parquet if parquet.is_file() else run_dir / f"{name}.csv"


def _read_table(run_dir: Path, name: str, allow_empty: bool = False) -> pd.DataFrame:
    path, parquet = _table_path(run_dir, name), run_dir / f"{name}.parquet"
    if not path.is_file():
        raise ReportError(f"{parquet} (or {name}.csv) is missing: the run is incomplete (no job finished?)")
    try:
        df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except pd.errors.EmptyDataError:
        df = pd.DataFrame()
    except (OSError, ValueError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise ReportError(f"{path} cannot be parsed ({e}): half-written or corrupt") from e
    if df.empty:
        if allow_empty:
            return pd.DataFrame(columns=REQUIRED_COLUMNS[name])
        raise ReportError(f"{path} is empty: no job of this run has finished yet")
    missing = [c for c in REQUIRED_COLUMNS[name] if c not in df.columns]
    if missing:
        raise ReportError(f"{path} lacks column(s) {', '.join(missing)}: not written by this version of bench run")
    return df


def _check_units(run_dir: Path, name: str, df: pd.DataFrame, units: list[str]) -> None:
    have = set(df["unit"].unique())
    absent = [u for u in units if u not in have]
    if absent:
        raise ReportError(f"{_table_path(run_dir, name)} has no rows for unit(s) {', '.join(absent)} "
                          f"that {_table_path(run_dir, 'folds').name} lists: the tables are out of step (half-written run?)")


def load_run(run_dir: str | Path) -> Run:
    """Read ``run_dir`` and check that its files are complete and consistent.

    Args:
        run_dir: a directory written by ``bench run``.

    Returns:
        The validated :class:`Run`.

    Raises:
        ReportError: naming the missing, empty, unparsable or inconsistent file.

    Examples:
        A store of four generated jobs (``bench.results.rehearsal``) stands in for a run here:

        >>> import tempfile
        >>> from bench.results.rehearsal import write_rehearsal
        >>> from bench.results.store import ResultsStore
        >>> from reports import load_run
        >>> tmp = tempfile.TemporaryDirectory()
        >>> _ = write_rehearsal(tmp.name, jobs=4, checkpoints=(), size={"epochs": 3, "iters_per_epoch": 2})
        >>> _ = ResultsStore(tmp.name).consolidate()  # the top-level tables, as bench run builds them at its end
        >>> run = load_run(tmp.name)
        >>> run.units, run.generated, run.finished
        (['rnn', 'lstm', 'gru', 'indrnn'], True, False)
        >>> run.folds.groupby("unit")["test_acc"].count().to_dict()
        {'gru': 1, 'indrnn': 1, 'lstm': 1, 'rnn': 1}
        >>> steady = run.iterations[~run.iterations.warmup & ~run.iterations.partial]
        >>> len(steady)  # 6 iterations per job, the first 5 warm-up
        4
        >>> tmp.cleanup()
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ReportError(f"run directory {run_dir} does not exist")
    meta = _read_metadata(run_dir)
    folds = _read_table(run_dir, "folds")
    recurrent = [u for u in dict.fromkeys(folds["unit"]) if u != BASELINE]
    # A run of the baseline alone has no epochs and no iterations: those tables may then be empty.
    epochs = _read_table(run_dir, "epochs", allow_empty=not recurrent)
    iterations = _read_table(run_dir, "iterations", allow_empty=not recurrent)
    predictions = _read_table(run_dir, "predictions")
    for name, df in (("epochs", epochs), ("iterations", iterations)):
        _check_units(run_dir, name, df, recurrent)
    _check_units(run_dir, "predictions", predictions, list(dict.fromkeys(folds["unit"])))

    folds = folds.copy()
    folds["diverged"] = _as_bool(folds["diverged"])
    for c in ["test_acc", "median_iter_s", "q1_iter_s", "q3_iter_s", "n_train", "n_test"]:
        folds[c] = pd.to_numeric(folds[c], errors="coerce")
    iterations = iterations.copy()
    iterations["warmup"] = _as_bool(iterations["warmup"])
    # partial batches (the last of an epoch) are left out of summaries; runs before the column had none flagged
    iterations["partial"] = _as_bool(iterations["partial"]) if "partial" in iterations else False
    iterations["seconds"] = pd.to_numeric(iterations["seconds"], errors="coerce")
    epochs = epochs.copy()
    epochs["val_auc"] = pd.to_numeric(epochs["val_auc"], errors="coerce")
    predictions = predictions.copy()
    for c in ("true", "pred"):
        predictions[c] = pd.to_numeric(predictions[c], errors="coerce").fillna(-1).astype(np.int64)
    trials = _read_trials(run_dir)
    if len(trials):  # a tuned run: every unit of folds.csv was tuned, the baseline too
        _check_units(run_dir, "trials", trials, list(dict.fromkeys(folds["unit"])))
    return Run(run_dir, meta, folds, epochs, iterations, predictions, trials)


def _read_trials(run_dir: Path) -> pd.DataFrame:
    """``trials.csv`` with numbers as numbers and ``chosen`` as bool; empty when the run was not tuned."""
    if not _table_path(run_dir, "trials").is_file():
        return pd.DataFrame()
    trials = _read_table(run_dir, "trials").copy()
    for c in TRIAL_NUMBERS:
        if c in trials:
            trials[c] = pd.to_numeric(trials[c], errors="coerce")
    trials["chosen"] = _as_bool(trials["chosen"])
    trials["readout"] = trials["readout"].fillna("").astype(str)  # the baseline has none
    trials["state"] = trials["state"].astype(str)
    return trials
