"""The one configuration of a run: every option, its default, its help, its check, and the presets.

Each field of :class:`RunConfig` belongs to a section of the tree (``protocol``, ``data``,
``features``, ``model``, ``training``, ``execution``) and carries its help text and validity check in
its metadata. From this one table come the command line of ``bench run`` (a flag per field,
:mod:`bench.options`), the sections of a ``--config FILE.toml`` and of the ``config.toml`` every run
writes, the run's hash, and the validation that runs before anything touches the disk.

``quick`` is small enough for CI and a first look (minutes on a 2-core CPU); it is NOT the paper's
protocol. ``paper`` is the paper's protocol: 10 x shuffled stratified 10-fold CV, 5 layers,
dropout 0.5, learning rate 1e-5, training until validation loss stops improving (patience) within a
maximum epoch count. This module imports nothing heavy (no torch), so ``--help`` is instant.
"""
from __future__ import annotations

import math
import types
import typing
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Callable

__all__ = ["RunConfig", "ConfigError", "field_problem", "MAX_JOBS", "PRESETS", "preset", "SECTIONS", "PAPER_UNITS",
           "MODERN_UNITS", "UNIT_GROUPS", "PRECISIONS", "DATASETS", "STEP_MODES", "DEVICE_HELP", "SUBNORMALS",
           "READOUTS", "SCAN_KERNELS", "BLOCKS", "NORMS", "DROPOUT_MASKS", "SAMPLERS"]

PAPER_UNITS = ("rnn", "lstm", "gru", "indrnn")  # what "--units all" means (= models.PAPER_UNITS, tested)
MODERN_UNITS = ("mingru", "minlstm", "lru", "mamba")  # what "--units modern" means (= models.MODERN_UNITS, tested)
# The named unit lists of every --units option ("registered", every unit, is the registry's own list).
UNIT_GROUPS = {"all": PAPER_UNITS, "modern": MODERN_UNITS}
READOUTS = ("last", "mean")  # = models.config.READOUTS (tested)
SCAN_KERNELS = ("auto", "numba", "triton", "logspace", "reference")  # = models.config.SCAN_KERNEL_CHOICES (tested)
PRECISIONS = ("fp32", "tf32", "bf16")
SUBNORMALS = ("flush", "keep")  # = bench.measure.subnormals.SUBNORMAL_POLICIES (tested)
DATASETS = ("synthetic", "gtzan", "folder")  # = features.pipeline.DATASETS (tested)
STEP_MODES = ("eager", "graph")
SECTIONS = ("protocol", "data", "features", "model", "training", "tuning", "execution")
BLOCKS = ("native", "stack", "residual")  # = models.config.BLOCKS (tested)
NORMS = ("none", "layer", "batch")  # = models.config.NORMS (tested)
DROPOUT_MASKS = ("sequence", "element")
SAMPLERS = ("sobol", "random", "tpe")  # bench.execution.tune
MAX_JOBS = 1000  # more jobs than this in one run need --yes (the paper's protocol is 500)
DEVICE_HELP = "auto (default: cuda when torch sees a GPU, else cpu), cpu, cuda or cuda:N"


class ConfigError(ValueError):
    """An option value that is not allowed; the message names the option and what is allowed."""


def _int_in(lo: int, hi: int | None = None) -> Callable[[Any], str | None]:
    """An integer from ``lo`` to ``hi`` (the type itself is checked first, from the field's annotation)."""
    low = {0: "must be an integer >= 0", 1: "must be a positive integer"}.get(lo, f"must be an integer >= {lo}")
    whole = low + (f", at most {hi}" if hi is not None else "")  # what the option reference says

    def check(v) -> str | None:
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return whole
        if v < lo:
            return low
        return f"must be at most {hi}" if hi is not None and v > hi else None
    return check


def _number_in(lo: float, hi: float | None = None, lo_open: bool = False, hi_open: bool = False,
               text: str | None = None) -> Callable[[Any], str | None]:
    """A finite number in an interval; ``text`` says it when one bound fails (default: the interval)."""
    low = f"must be {'>' if lo_open else '>='} {lo:g}"
    whole = text or low + (f", at most {hi:g}" if hi is not None else "")  # what the option reference says

    def check(v) -> str | None:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return whole
        low_ok = v > lo if lo_open else v >= lo
        high_ok = hi is None or (v < hi if hi_open else v <= hi)
        if low_ok and high_ok:
            return None
        if text:
            return text
        return low if not low_ok else f"must be at most {hi:g}"
    return check


_positive = _int_in(1)
_positive_or_none = _int_in(1)  # None passes every check: unset
_non_negative = _int_in(0)
_positive_float = _number_in(0, lo_open=True)
_non_negative_float = _number_in(0)
_fraction = _number_in(0, 1, hi_open=True, text="must be in [0, 1)")
_open_fraction = _number_in(0, 1, lo_open=True, hi_open=True, text="must be in (0, 1)")


def type_problem(hint, value) -> str | None:
    """Whether ``value`` has the type a field's annotation ``hint`` asks for: booleans are booleans,
    integers are not booleans, numbers are finite, a unit list is a list of names."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        hint = next(a for a in args if a is not type(None))
    if hint is bool:
        return None if isinstance(value, bool) else "must be true or false"
    if hint is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "must be an integer"
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "must be a number"
        return None if math.isfinite(value) else "must be a finite number"
    if hint is str:
        return None if isinstance(value, str) else "must be a string"
    if typing.get_origin(hint) is tuple:
        ok = isinstance(value, (tuple, list)) and all(isinstance(v, str) for v in value)
        return None if ok else 'must be a list of names, e.g. ["indrnn", "lstm"]'
    return None


def _radius(v) -> str | None:
    return None if isinstance(v, (int, float)) and 0 <= v < 1 else "must be in [0, 1)"


def _phase(v) -> str | None:
    return None if isinstance(v, (int, float)) and 0 < v <= math.tau else "must be in (0, 2 pi]"


def _choice(*allowed) -> Callable[[Any], str | None]:
    return lambda v: None if v in allowed else f"must be one of {', '.join(map(str, allowed))}"


def opt(default, section: str, help: str, check: Callable[[Any], str | None] | None = None, cli: bool = True,
        choices: tuple | None = None):
    """A configuration field: its default, section, help text and check (None = anything of its type)."""
    if choices and check is None:
        check = _choice(*choices)
    return field(default=default, metadata=dict(section=section, help=help, check=check, cli=cli, choices=choices))


@dataclass(frozen=True)
class RunConfig:
    """The configuration of one run: every option of ``bench run``, checked when it is constructed.

    Each field is one option (``hidden`` is ``--hidden``, in the ``[model]`` section of a TOML file); its
    default, section, help text and bounds are the field's metadata, listed with both presets' values in
    the generated options reference (``docs/reference/options.md``). The instance is frozen: derive
    another with ``dataclasses.replace`` (which checks again) or :func:`preset`.

    ``RunConfig()`` holds the dataclass defaults, which are **not** a preset (its ``preset`` field says
    ``"quick"``, but it has 10 x 10 folds and 30 epochs): start from :func:`preset` (``"quick"`` or
    ``"paper"``, :data:`PRESETS`), as the command line does. ``to_dict()`` is what a run's metadata
    records and what its identity hashes (:func:`bench.results.store.config_hash`), so equal configurations
    resume the same run.

    Raises:
        ConfigError: an option of the wrong type or out of its bounds, or options that contradict each
            other (:meth:`validate`).

    Examples:
        >>> from bench.config import RunConfig, preset
        >>> RunConfig().folds, preset("quick").folds, preset("paper").folds
        (10, 5, 10)
        >>> RunConfig() == preset("quick")
        False
        >>> cfg = preset("quick", units=("indrnn", "lstm"), epochs=5)
        >>> cfg.preset, cfg.hidden, cfg.epochs, cfg.sections()["model"]["hidden"]
        ('quick', 64, 5, 64)
        >>> preset("quick", hidden=0)
        Traceback (most recent call last):
        ...
        bench.config.ConfigError: --hidden must be a positive integer, got 0
    """

    preset: str = opt("quick", "protocol", "the preset these values started from", cli=False)
    # protocol
    units: tuple[str, ...] = opt(PAPER_UNITS, "protocol",
                                 "units to train: 'all' (rnn,lstm,gru,indrnn), 'modern' (mingru,minlstm,lru,mamba), "
                                 "'registered' (every registered unit, installed plugins included) or a comma list, "
                                 "e.g. indrnn,lstm,mingru; a plugin by its name, or path.to.module:factory")
    baseline: bool = opt(True, "protocol", "also fit the scattering + logistic-regression baseline on the same folds")
    protocol: str = opt("cv", "protocol", "cv: repeated stratified k-fold (the paper's); filtered: the "
                                          "artist-filtered GTZAN split file shipped with the project; file: "
                                          "--split-file", choices=("cv", "filtered", "file"))
    split_file: str | None = opt(None, "protocol", "CSV of clip path (relative to the data root) and part "
                                                   "(train/val/test/exclude or a fold number); implies --protocol file")
    folds: int = opt(10, "protocol", "folds per repeat", _int_in(2, 100))
    repeats: int = opt(10, "protocol", "times the k-fold CV is reshuffled and repeated", _int_in(1, 1000))
    seed: int = opt(0, "protocol", "seed of splits, initialisation and batch order", _int_in(0, 2**31 - 1))
    val_fraction: float = opt(0.1, "protocol", "share of the training folds held out for validation "
                                               "(curves, early stopping)", _open_fraction)
    # data
    dataset: str = opt("synthetic", "data", "synthetic: the embedded corpus, generated under --cache-dir; gtzan: a "
                                            "GTZAN copy; folder: any <root>/<class>/<clip> tree (both in --data-dir)",
                       choices=DATASETS)
    data_dir: str | None = opt(None, "data", "gtzan: the folder holding genres/ (.au) or genres_original/ (.wav); "
                                             "folder: <root> of <root>/<class>/<clip>. Never written to")
    seconds: float = opt(30.0, "data", "clip length after padding or cropping, seconds",
                         _number_in(0, 3600, lo_open=True))
    min_seconds: float = opt(1.0, "data", "skip clips holding less real audio than this, seconds", _non_negative_float)
    clips_per_genre: int = opt(10, "data", "synthetic corpus: clips per genre", _int_in(0, 10_000))
    corpus_seed: int = opt(0, "data", "synthetic corpus: its seed", _int_in(0, 2**31 - 1))
    # features
    J: int = opt(10, "features", "scattering scale: frame hop 2**J samples (2**16: 4 s at 16 kHz)",
                _int_in(1, 16))
    Q: int = opt(8, "features", "first-order wavelets per octave", _int_in(1, 32))
    # model (the same for every unit)
    hidden: int = opt(128, "model", "hidden units per layer, every unit", _int_in(1, 65_536))
    layers: int = opt(5, "model", "stacked recurrent layers", _int_in(1, 100))
    dropout: float = opt(0.5, "model", "dropout between layers and before the classifier", _fraction)
    batch_norm: bool = opt(True, "model", "IndRNN: batch normalisation after each layer (Li et al. always use it; "
                                          "the paper does not say)")
    readout: str = opt("last", "model", "what the classifier reads: last = the state at each clip's last valid frame "
                                        "(the paper's); mean = the average over its valid frames", choices=READOUTS)
    block: str = opt("native", "model", "the module tree around each unit's recurrence: native = each unit as "
                                        "published (the paper's setup); stack = every unit as plain stacked layers, "
                                        "residual = every unit in the same pre-norm residual block; in both only "
                                        "the recurrence differs", choices=BLOCKS)
    norm: str = opt("layer", "model", "stack and residual: the one norm of every unit (none; layer: per frame; batch: "
                                      "statistics over valid frames); native keeps each unit's own", choices=NORMS)
    dropout_mask: str = opt("sequence", "model", "sequence: one dropout mask per clip shared over time; element: a "
                                                 "fresh one per element (native PyTorch RNN/LSTM/GRU: always element)",
                            choices=DROPOUT_MASKS)
    param_budget: int | None = opt(None, "model", "compare at an equal parameter budget: each unit's width is chosen "
                                                  "so its parameter count is closest to this. Default: equal width "
                                                  "(--hidden) in native; in stack and residual, the IndRNN's count at "
                                                  "--hidden. 0: equal width always", _non_negative)
    scan_kernel: str = opt("auto", "model", "minGRU, minLSTM, LRU, Mamba: back end of their linear scan (auto: the "
                                            "fastest for the device)", choices=SCAN_KERNELS)
    lru_r_min: float = opt(0.9, "model", "LRU: inner radius of the ring its eigenvalues start on (Orvieto et al.)",
                           _radius)
    lru_r_max: float = opt(0.999, "model", "LRU: outer radius of that ring", _radius)
    lru_max_phase: float = opt(math.tau, "model", "LRU: largest initial eigenvalue phase, radians (2 pi: the "
                                                           "whole ring; the paper uses pi/10 on its longest tasks)", _phase)
    mamba_d_state: int = opt(16, "model", "Mamba: state size per inner channel (Gu & Dao)", _positive)
    mamba_expand: int = opt(2, "model", "Mamba: inner width = expand x hidden", _positive)
    mamba_d_conv: int = opt(4, "model", "Mamba: width of the causal depthwise convolution", _positive)
    # training
    epochs: int = opt(30, "training", "maximum epochs per fold", _int_in(1, 100_000))
    patience: int = opt(10, "training", "stop after this many epochs without a better validation loss (0 = never)",
                        _non_negative)
    batch_size: int = opt(32, "training", "mini-batch size (capped at the training set)", _int_in(1, 1_000_000))
    lr: float = opt(1e-3, "training", "Adam learning rate", _number_in(0, 10, lo_open=True))
    weight_decay: float = opt(0.0, "training", "Adam weight decay", _non_negative_float)
    clip_grad: float = opt(1.0, "training", "max gradient norm (0 = no clipping)", _non_negative_float)
    warmup_iters: int = opt(5, "training", "timed iterations per fold left out of summaries", _non_negative)
    # tuning (bench.execution.tune): the same search, budget and rule for every unit and the baseline
    tune: int = opt(0, "tuning", "trials per unit and fold: each trains on the training part and is scored on the "
                                 "validation part; the best one's test accuracy is the fold's (0 = the fixed recipe)",
                    _int_in(0, 10_000))
    tune_sampler: str = opt("sobol", "tuning", "sobol: a scrambled Sobol design, trial k the same point for every "
                                               "unit and fold (order-free); random: seeded uniform points, also "
                                               "order-free; tpe: Optuna's TPE, sequential", choices=SAMPLERS)
    tune_storage: str | None = opt(None, "tuning", "Optuna storage URL (any SQLAlchemy URL on a cluster; default: "
                                                   "SQLite tuning.db in the run directory)")
    tune_prune: bool = opt(False, "tuning", "stop a trial early when its validation loss is worse than the median "
                                            "of earlier trials at the same epoch (Optuna's MedianPruner)")
    tune_lr_min: float = opt(1e-4, "tuning", "learning rate searched from (log scale)", _number_in(0, 10, lo_open=True))
    tune_lr_max: float = opt(1e-2, "tuning", "learning rate searched to", _number_in(0, 10, lo_open=True))
    tune_dropout_min: float = opt(0.0, "tuning", "dropout searched from (linear)", _fraction)
    tune_dropout_max: float = opt(0.5, "tuning", "dropout searched to", _fraction)
    tune_wd_min: float = opt(1e-6, "tuning", "weight decay searched from (log scale; the baseline's L2 penalty too)",
                             _positive_float)
    tune_wd_max: float = opt(1e-2, "tuning", "weight decay searched to", _positive_float)
    tune_readouts: tuple[str, ...] = opt(READOUTS, "tuning", "readouts searched, e.g. [\"last\", \"mean\"]",
                                         lambda v: None if isinstance(v, (tuple, list)) and v and set(v) <= set(READOUTS)
                                         else f"must be a non-empty list of {', '.join(READOUTS)}")
    # execution (bench.measure.policy): the same for every unit, recorded with every job
    device: str = opt("auto", "execution", DEVICE_HELP,
                      lambda v: None if v in ("auto", "cpu", "cuda") or str(v).startswith("cuda:")
                      else "must be auto, cpu, cuda or cuda:N")
    threads: int | None = opt(None, "execution", "threads of torch's, numba's and the BLAS pools (default: "
                                                 "torch's, the core count)", _int_in(1, 4096))
    precision: str = opt("fp32", "execution", "fp32: TF32 off for matmul and cuDNN alike; tf32: on for both; "
                                              "bf16: autocast for every unit", choices=PRECISIONS)
    subnormals: str = opt("flush", "execution", "flush: subnormal floats read and written as 0 in every thread "
                                                "that computes (x86 FTZ/DAZ; on some CPUs they slow PyTorch's "
                                                "LSTM/GRU several-fold, not the IndRNN); keep: computed in full",
                          choices=SUBNORMALS)
    step: str = opt("eager", "execution", "eager: the step as a training script runs it; graph (CUDA): the whole "
                                          "step replayed from one CUDA graph, the unit's own cost", choices=STEP_MODES)
    fused_adam: bool = opt(False, "execution", "eager mode: Adam's fused implementation")

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first invalid option (as its command-line flag).

        Run on construction. Each field's type and bounds first, then the rules between fields (a
        data set other than ``synthetic`` needs ``data_dir``, graph mode refuses fused Adam, ...). An
        integer given for a float field is stored as that float, so both hash alike.

        Raises:
            ConfigError: the message names the option as its flag and says what is allowed.
        """
        for f in fields(self):
            value = getattr(self, f.name)
            problem = field_problem(f.name, value)
            if problem:
                raise ConfigError(f"{flag(f.name)} {problem}, got {value!r}")
        for f in fields(self):  # an integer given for a number: stored as the float it means (one hash)
            if _HINTS[f.name] is float and isinstance(getattr(self, f.name), int):
                object.__setattr__(self, f.name, float(getattr(self, f.name)))
        if not self.units:
            raise ConfigError("--units names no unit")
        if self.step == "graph" and self.fused_adam:
            raise ConfigError("--fused-adam is an eager-mode option: graph mode uses capturable Adam")
        if self.dataset != "synthetic" and not self.data_dir:
            raise ConfigError(f"--dataset {self.dataset} needs --data-dir, the root of the data set")
        if self.dataset == "synthetic" and self.data_dir:
            raise ConfigError(f"--data-dir {self.data_dir} was given with the synthetic corpus, which is generated "
                              "under --cache-dir and never in a data folder: add --dataset gtzan or --dataset folder")
        if not self.lru_r_min < self.lru_r_max:
            raise ConfigError(f"--lru-r-min {self.lru_r_min} must be below --lru-r-max {self.lru_r_max}")
        for low, high in (("tune_lr_min", "tune_lr_max"), ("tune_dropout_min", "tune_dropout_max"),
                          ("tune_wd_min", "tune_wd_max")):
            if getattr(self, low) > getattr(self, high):
                raise ConfigError(f"{flag(low)} {getattr(self, low)} must not exceed {flag(high)} {getattr(self, high)}")
        if self.protocol == "file" and not self.split_file:
            raise ConfigError("--protocol file needs --split-file FILE")

    def to_dict(self) -> dict:
        """Every field by name, tuples as lists: what ``metadata.json`` stores and the run's identity hashes.

        Returns:
            ``{field: value}`` (JSON-able).
        """
        d = asdict(self)
        d["units"] = list(self.units)
        d["tune_readouts"] = list(self.tune_readouts)
        return d

    def sections(self) -> dict[str, dict]:
        """The tree: section -> {field: value} (None values left out), as a TOML file holds it.

        Returns:
            ``{section: {field: value}}`` for every section of :data:`SECTIONS`, ``preset`` left out and
                tuples as lists.
        """
        tree: dict[str, dict] = {s: {} for s in SECTIONS}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "preset" or value is None:
                continue
            tree[f.metadata["section"]][f.name] = list(value) if isinstance(value, tuple) else value
        return tree

    def train_options(self) -> dict:
        """The training options of this run.

        Returns:
            The keyword arguments of :class:`bench.execution.trainer.TrainConfig` (epochs, patience, batch size,
                learning rate, weight decay, clipping, warm-up, step mode, precision, fused Adam).
        """
        return dict(epochs=self.epochs, patience=self.patience, batch_size=self.batch_size, lr=self.lr,
                    weight_decay=self.weight_decay, clip_grad=self.clip_grad, warmup_iters=self.warmup_iters,
                    step=self.step, precision=self.precision, fused_adam=self.fused_adam)

    def model_options(self) -> dict:
        """The fields of ``models.ModelConfig`` this run sets (every model-section field but the budget;
        ``dropout_mask`` as ``time_shared_dropout``).

        Returns:
            Keyword arguments of :class:`models.config.ModelConfig` (``max_len`` is the data's, set by
                :func:`bench.execution.jobs.unit_config`).
        """
        options = {f.name: getattr(self, f.name) for f in fields(self)
                   if f.metadata["section"] == "model" and f.name not in ("param_budget", "dropout_mask")}
        return {**options, "time_shared_dropout": self.dropout_mask == "sequence"}


_HINTS = typing.get_type_hints(RunConfig)
_FIELDS = {f.name: f for f in fields(RunConfig)}


def field_problem(name: str, value) -> str | None:
    """What is wrong with ``value`` for the option ``name`` (its type first, then its bounds), or None.

    Args:
        name: a field of :class:`RunConfig`.
        value (Any): a candidate value (from a flag, a TOML file, or code).

    Returns:
        The problem as the end of a sentence (``"must be a positive integer"``), or None when the value
            is allowed; None is allowed wherever the field may be unset.

    Raises:
        KeyError: ``name`` is not a field.
    """
    problem = type_problem(_HINTS[name], value)
    if problem is None and value is not None:
        check = _FIELDS[name].metadata.get("check")
        problem = check(value) if check else None
    return problem


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


PRESETS: dict[str, RunConfig] = {
    # Synthetic corpus of 20 x 5 s clips per genre (59 valid frames), 3 layers of 64, 5-fold CV once, lr 2e-3:
    # the README's main command in about 3 min on the slowest 2-core machine of our fleet (issue 18's limit: 5).
    "quick": RunConfig(preset="quick", folds=5, repeats=1, epochs=25, patience=8, batch_size=16, lr=2e-3,
                       hidden=64, layers=3, dropout=0.2, seconds=5.0, clips_per_genre=20),
    # The paper: 10 x 10-fold, 5 layers, dropout 0.5, lr 1e-5, Adam; until convergence (patience 30).
    "paper": RunConfig(preset="paper", folds=10, repeats=10, epochs=500, patience=30, batch_size=32, lr=1e-5,
                       hidden=128, layers=5, dropout=0.5, seconds=30.0, clips_per_genre=100),
}
"""The named starting points of a configuration, by name: ``quick`` (a first look, minutes on a 2-core
CPU; NOT the paper's protocol) and ``paper`` (Wu et al.'s protocol: 10 x 10-fold CV, 5 layers x 128,
dropout 0.5, learning rate 1e-5, up to 500 epochs). Each sets the fields it names and keeps the
:class:`RunConfig` defaults for the rest (the options reference lists both presets' values). Read them
through :func:`preset`, which returns a checked copy with overrides."""


def preset(name: str, **overrides) -> RunConfig:
    """The preset ``name`` with ``overrides`` (None values keep the preset's); validated.

    Args:
        name: a key of :data:`PRESETS` (``"quick"`` or ``"paper"``).
        **overrides (Any): fields of :class:`RunConfig` to change; a value of None keeps the preset's.

    Returns:
        The configuration, its ``preset`` field set to ``name``.

    Raises:
        ConfigError: an unknown preset or field, or a value that is not allowed.

    Examples:
        >>> from bench.config import preset
        >>> cfg = preset("paper", units=("indrnn",), lr=None)
        >>> cfg.units, cfg.lr, cfg.repeats
        (('indrnn',), 1e-05, 10)
    """
    if name not in PRESETS:
        raise ConfigError(f"--preset {name!r}: choose one of {', '.join(PRESETS)}")
    try:
        return replace(PRESETS[name], preset=name, **{k: v for k, v in overrides.items() if v is not None})
    except TypeError as exc:  # a key that is no field
        raise ConfigError(f"unknown option: {exc}") from None
