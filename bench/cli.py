"""``python -m bench <command>``: features, units, check-unit, run, report, compare, scale, speed.

The command line only: it builds the parser and turns a command's arguments into its configuration
(a :class:`bench.config.RunConfig`, or the command's own small config); each ``cmd_*`` then calls the
one function that does the command's work, in the module that owns it, and returns its exit status.
It is also the composition root: the one module of ``bench`` that calls into ``reports`` (the report,
the comparison, the figures of ``scale`` and ``speed``), handing those functions down.
"""
from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import fields, replace
from pathlib import Path

from .config import PAPER_UNITS, PRESETS, ConfigError, RunConfig
from .config import BLOCKS, DATASETS, DEVICE_HELP, MAX_JOBS, NORMS
from .options import UNITS_HELP, add_config_flags, parse_units, resolve

# Heavy modules (torch, kymatio, pandas) are imported inside the commands, so --help is instant.

DEFAULT_CACHE = Path(".cache")


def add_data_options(p: argparse.ArgumentParser) -> None:
    """The data and feature options of ``bench features`` (the same fields as ``bench run``'s)."""
    d = RunConfig()
    g = p.add_argument_group("data and features")
    g.add_argument("--dataset", choices=DATASETS, default=d.dataset,
                   help="synthetic: the embedded corpus, generated under --cache-dir (default); gtzan: a GTZAN "
                        "copy; folder: any <root>/<class>/<clip> tree (both given by --data-dir)")
    g.add_argument("--data-dir", type=path_arg, help="gtzan: root holding genres/ (.au) or genres_original/ (.wav); "
                                                 "folder: <root> of <root>/<class>/<clip>. Never written to")
    g.add_argument("--device", default="auto", help=DEVICE_HELP)
    g.add_argument("--seconds", type=float, default=None,
                   help=f"clip length after pad/crop, seconds (default {d.seconds:g}; the synthetic corpus uses it too)")
    g.add_argument("--min-seconds", type=float, default=d.min_seconds,
                   help=f"skip clips holding less real audio than this, seconds (default {d.min_seconds:g})")
    g.add_argument("--clips-per-genre", type=int, default=None, help="synthetic corpus size per genre")
    g.add_argument("--corpus-seed", type=int, default=d.corpus_seed, help="seed of the synthetic corpus")
    g.add_argument("--J", type=int, default=d.J, help="scattering scale: frame hop 2**J samples")
    g.add_argument("--Q", type=int, default=d.Q, help="first-order wavelets per octave")


def add_cache_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cache-dir", type=path_arg, default=DEFAULT_CACHE,
                   help="where the synthetic corpus and feature caches live (default: .cache)")


def cmd_features(args) -> int:
    from reports.page import visible  # composition root: a file name's newline shown as \n, not obeyed

    from .measure.policy import resolve_device
    from .protocol.dataset import features_command

    return features_command(args.dataset, args.data_dir, args.cache_dir, resolve_device(args.device), args.seconds,
                            args.clips_per_genre, args.corpus_seed, args.J, args.Q, min_seconds=args.min_seconds,
                            threads=args.threads, subnormals=args.subnormals, show=visible)


def add_run_options(p: argparse.ArgumentParser) -> None:
    add_config_flags(p)  # one flag per field of the configuration, with its help and the presets' values
    g = p.add_argument_group("executor (see docs/cluster.md: CPU timings under concurrency)")
    g.add_argument("--executor", choices=["local", "dask"], default="local",
                   help="local: one job after another (default, the timing reference); dask: one task per job")
    g.add_argument("--scheduler", help="address of an existing Dask scheduler, e.g. tcp://HOST:8786 "
                                       "(default: start a LocalCluster)")
    g.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (default 2)")
    g.add_argument("--threads-per-worker", type=int, default=1, help="LocalCluster threads per worker (default 1)")
    g = p.add_argument_group("output")
    add_cache_option(g)
    g.add_argument("--no-report", action="store_true", help="do not render the report at the end")
    g.add_argument("--dry-run", action="store_true",
                   help="print the plan (jobs in total, done, to do per unit, estimated time) and stop; "
                        "extracts no features and writes nothing")
    g.add_argument("--yes", action="store_true",
                   help=f"run more jobs than the sane limit ({MAX_JOBS}; repeats x folds x units)")
    g.add_argument("--allow-mixed", action="store_true",
                   help="resume a run whose finished jobs ran on another machine, torch build or commit "
                        "(the report then gives each environment its own timing rows)")
    g.add_argument("--out", type=path_arg, help="run directory (default runs/<dataset>-<preset>-<config hash>); "
                                            "rerunning the same command resumes it")


def add_execution_options(p: argparse.ArgumentParser, precision: bool = True, several_subnormals: bool = False,
                          scan_kernel: bool = False) -> None:
    """Threads and subnormals (and precision, and the modern units' scan back end), for the commands that
    compute outside ``bench run``: the same fields, help and defaults as ``bench run``'s."""
    d, f = RunConfig(), {f.name: f for f in fields(RunConfig)}
    g = p.add_argument_group("execution (the same for every unit; see docs/timing.md)")
    if precision:
        g.add_argument("--precision", choices=f["precision"].metadata["choices"], default=d.precision,
                       help=f["precision"].metadata["help"] + f" (default {d.precision})")
    g.add_argument("--threads", type=int, help=f["threads"].metadata["help"])
    if scan_kernel:
        g.add_argument("--scan-kernel", choices=f["scan_kernel"].metadata["choices"], default=d.scan_kernel,
                       help=f["scan_kernel"].metadata["help"] + f" (default {d.scan_kernel}); time one back end "
                            "against another by running twice")
    help_ = f["subnormals"].metadata["help"] + f" (default {d.subnormals})"
    if several_subnormals:
        g.add_argument("--subnormals", type=parse_subnormals, default=(d.subnormals,),
                       help=help_ + "; 'flush,keep' (or 'both') times both side by side")
    else:
        g.add_argument("--subnormals", choices=f["subnormals"].metadata["choices"], default=d.subnormals, help=help_)


def parse_subnormals(text: str) -> tuple[str, ...]:
    from .config import SUBNORMALS

    names = SUBNORMALS if text == "both" else tuple(dict.fromkeys(v.strip() for v in text.split(",") if v.strip()))
    bad = [n for n in names if n not in SUBNORMALS]
    if not names or bad:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(SUBNORMALS)} (a comma list) or both, got {text!r}")
    return names


def path_arg(text: str) -> Path:
    """A path option's value; an empty string (an unset shell variable) is refused, never read as '.'."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is an empty string (an unset variable?): name a folder or a file")
    return Path(text)


def run_config(args) -> RunConfig:
    """Preset, config file, flags; then the device resolved (auto -> cuda or cpu) and checked."""
    from .measure.policy import resolve_device

    cfg = resolve(args)
    if cfg.dataset == "synthetic" and cfg.protocol == "cv" and cfg.folds > cfg.clips_per_genre:
        raise ConfigError(f"--folds {cfg.folds}: stratified folds need at least as many clips per genre; "
                          f"the synthetic corpus has {cfg.clips_per_genre} (--clips-per-genre)")
    cfg = replace(cfg, device=resolve_device(cfg.device))
    if cfg.dataset != "synthetic":  # the corpus size option means nothing for a real data set
        cfg = replace(cfg, clips_per_genre=0, corpus_seed=0)
    return cfg


def cmd_run(args) -> int:
    from reports.page import visible  # composition root: a file name's newline shown as \n, not obeyed

    from .execution.run import run_command

    return run_command(run_config(args), args.out, args.cache_dir, args.executor, args.scheduler, args.workers,
                       args.threads_per_worker, dry_run=args.dry_run, yes=args.yes, allow_mixed=args.allow_mixed,
                       report=None if args.no_report else report_run, show=visible)


def cmd_report(args) -> int:
    return report_run(args.run_dir, args.out)


def report_run(run_dir: Path, out: Path | None = None) -> int:
    """``bench report``, and the report at the end of ``bench run``: the run's tables brought up to date
    under its lock, then rendered (:func:`reports.render`); 2 when the run cannot be reported."""
    from reports import ReportError, render  # bench.cli is the composition root; nothing else in bench imports reports

    from .results.runlock import current_tables

    with current_tables(run_dir, "bench report"):  # the tables up to date, under the run's lock
        try:
            files = render(run_dir, out)
        except ReportError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    print(f"report: {files['report_html']}  (and {files['report_md'].name}, figures, tables in {files['report_md'].parent})")
    return 0


def cmd_compare(args) -> int:
    from reports import ReportError
    from reports.compare import compare_runs  # composition root, as for the report

    if len(args.runs) < 2:
        print("error: bench compare needs at least two run directories", file=sys.stderr)
        return 2
    out = args.out or Path("runs") / ("compare-" + "-vs-".join(Path(d).name for d in args.runs))[:120]
    try:
        paths = compare_runs(args.runs, out)
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(paths["md"].read_text().split("## Configuration differences")[0].strip())
    print(f"\ncomparison: {paths['md']}  (and {paths['csv'].name}, {paths['png'].name})")
    return 0


def require_positive(args, *names: str) -> None:
    """Refuse a size or count below 1 among ``args``' options ``names``, naming the flag."""
    from .measure.policy import PolicyError

    for name in names:
        if getattr(args, name) < 1:
            raise PolicyError(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")


def cmd_scale(args) -> int:
    from reports.scaling import plot_scaling  # composition root, as for the report

    from .measure.scale import scale_command

    return scale_command(args.units, args.lengths, scale_config(args), args.out, plot=plot_scaling)


def scale_config(args):
    """``bench scale``'s options as a :class:`bench.measure.scale.ScaleConfig`, refused here before any cell runs."""
    from .measure.policy import check_threads, resolve_device
    from .measure.scale import ScaleConfig

    device = resolve_device(args.device)  # refused here, before any cell runs or anything is written
    require_positive(args, "batch", "features", "hidden", "layers", "iters")
    check_threads(args.threads)
    if not 0 <= args.dropout < 1:
        raise ConfigError(f"--dropout must be in [0, 1), got {args.dropout}")
    return ScaleConfig(batch=args.batch, features=args.features, hidden=args.hidden, layers=args.layers,
                       dropout=args.dropout, batch_norm=args.batch_norm, iters=args.iters, device=device,
                       threads=args.threads, subnormals=args.subnormals, max_memory_gb=args.max_memory_gb or None,
                       scan_kernel=args.scan_kernel)


def cmd_speed(args) -> int:
    from reports.speed import plot_speed  # composition root, as for the report

    from .measure.speed import speed_command

    return speed_command(speed_config(args), args.out, plot=plot_speed)


def speed_config(args):
    """``bench speed``'s options as a :class:`bench.measure.speed.SpeedConfig` (shapes and training settings
    the paper preset's unless given), refused here before anything is measured."""
    from .measure.policy import resolve_device
    from .measure.speed import SpeedConfig

    device = resolve_device(args.device)
    if args.step == "graph":
        from .execution.step import check_graph_device

        check_graph_device(device)
    modes = {"eager": ("eager",), "graph": ("graph",)}.get(args.step) or (
        ("eager", "graph") if device.startswith("cuda") else ("eager",))
    require_positive(args, "batch_size", "frames", "features", "hidden", "layers", "rounds")
    paper = PRESETS["paper"]
    return SpeedConfig(units=args.units, batch=args.batch_size, frames=args.frames, features=args.features,
                       hidden=args.hidden, layers=args.layers, dropout=paper.dropout, batch_norm=paper.batch_norm,
                       lr=paper.lr, clip_grad=paper.clip_grad, device=device, precision=args.precision or "fp32",
                       threads=args.threads, subnormals=args.subnormals, modes=modes, rounds=args.rounds,
                       warmup=args.warmup, scan_kernel=args.scan_kernel)


def cmd_units(args) -> int:
    from .execution.units import units_command

    return units_command(args.units, args.hidden, args.layers, args.dropout, args.input_dim, args.frames, args.classes,
                         args.param_budget, args.block, args.norm)


def cmd_check_unit(args) -> int:
    from .execution.checkunit import check_unit_command

    return check_unit_command(args.name, args.device, args.block)


def parse_lengths(text: str) -> list[int]:
    try:
        lengths = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"lengths must be comma-separated integers, got {text!r}") from None
    if not lengths or min(lengths) < 1:
        raise argparse.ArgumentTypeError(f"lengths must be positive, got {text!r}")
    return lengths


def add_units_command(subparsers) -> None:
    """``bench units``: every registered unit's width, shapes, parameters and multiply-adds."""
    p = subparsers.add_parser("units", help="list the recurrent units with output shapes and parameter counts")
    p.add_argument("--units", type=parse_units, default=None,
                   help=UNITS_HELP + " (default: registered, every unit)")
    p.add_argument("--hidden", type=int, default=128, help="neurons per layer (default 128)")
    p.add_argument("--layers", type=int, default=5, help="stacked layers (default 5)")
    p.add_argument("--dropout", type=float, default=0.5, help="dropout (default 0.5)")
    p.add_argument("--input-dim", type=int, default=374, help="features per frame (default 374)")
    p.add_argument("--frames", type=int, default=449, help="frames per sequence (default 449: a 30 s clip's valid frames)")
    p.add_argument("--classes", type=int, default=10, help="classes (default 10)")
    p.add_argument("--param-budget", type=int, default=None,
                   help="choose each unit's width so its parameter count is closest to this (default: --hidden for "
                        "all in native; the IndRNN's count at --hidden in stack and residual; 0: equal width)")
    p.add_argument("--block", choices=BLOCKS, default="native",
                   help="native: each unit as published (default); stack, residual: every unit in one scaffold")
    p.add_argument("--norm", choices=NORMS, default="layer", help="the scaffolds' one norm (default layer)")
    p.set_defaults(func=cmd_units)


def add_check_unit_command(subparsers) -> None:
    """``bench check-unit NAME``: the unit contract checked on one unit."""
    p = subparsers.add_parser("check-unit", help="check one unit (built-in or plugin) against the unit contract",
                              description="Check a unit against the unit contract (models/contract.py): output "
                                          "shape and dtype, no padding leak, causal, finite gradients, the same "
                                          "outputs for the same seed, both readouts, float64 gradcheck, the "
                                          "optional hooks; one line per point. Exit status 1 if one fails.")
    p.add_argument("name", help="a unit: a built-in, an installed plugin, or path.to.module:factory")
    p.add_argument("--block", choices=(*BLOCKS, "all"), default="all",
                   help="the module tree around the unit: native, stack, residual, or all three (default all)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="auto: the CPU, and CUDA where torch sees a GPU (default); cpu; cuda")
    p.set_defaults(func=cmd_check_unit)


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``error: <what>`` on stderr, exit status 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m bench", description="Benchmark recurrent units (RNN, LSTM, GRU, IndRNN; minGRU, "
                    "minLSTM, LRU, Mamba) on "
                    "music genre classification from scattering features. Commands: features, run, report, "
                    "compare, units, check-unit, scale, speed; 'python -m bench COMMAND --help' for each.")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("features", help="extract (or load cached) scattering features and print their shape")
    add_data_options(p)
    add_cache_option(p)
    add_execution_options(p, precision=False)
    p.set_defaults(func=cmd_features)
    p = sub.add_parser("run", help="train and time the units under cross-validation; write a results directory",
                       description="Train every chosen unit on the same cached features, splits, seeds and "
                                   "batch order, time every iteration, and store tidy results (resumable).")
    add_run_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("report", help="render figures, tables and the report page of a run directory")
    p.add_argument("run_dir", type=path_arg, help="a directory written by 'bench run' (runs/<id>)")
    p.add_argument("--out", type=path_arg, help="where to write (default RUN_DIR/report)")
    p.set_defaults(func=cmd_report)

    add_units_command(sub)
    add_check_unit_command(sub)

    p = sub.add_parser("compare", help="two or more runs side by side: accuracy, time ratios, config and machines",
                       description="Per unit: accuracy and median time per iteration of each run, ratios to the "
                                   "first run, the paired corrected t-test of accuracy differences when the runs "
                                   "share their splits, the configuration differences and each run's machine. "
                                   "Writes compare.md, compare.csv and compare.png.")
    p.add_argument("runs", nargs="+", type=path_arg, help="run directories (the first is the reference)")
    p.add_argument("--out", type=path_arg, help="where to write (default runs/compare-<A>-vs-<B>)")
    p.set_defaults(func=cmd_compare)

    paper = PRESETS["paper"]
    p = sub.add_parser("scale", help="time per iteration and peak memory against sequence length, per unit",
                       description="For each unit and sequence length, train a few iterations on random features "
                                   "in a fresh process; write scaling.csv and a log-log plot. A unit that fails "
                                   "(out of memory, NaN, timeout) at a length is marked, not fatal.")
    p.add_argument("--units", type=parse_units, default=PAPER_UNITS, help=UNITS_HELP + " (default: all)")
    p.add_argument("--lengths", type=parse_lengths, default=[250, 500, 1000, 2000, 5000],
                   help="sequence lengths (default 250,500,1000,2000,5000)")
    p.add_argument("--batch", type=int, default=16, help="batch size (default 16)")
    p.add_argument("--features", type=int, default=374, help="input width (default 374, the scattering channels)")
    p.add_argument("--hidden", type=int, default=128, help="hidden units per layer (default 128)")
    p.add_argument("--layers", type=int, default=5, help="stacked layers (default 5)")
    p.add_argument("--dropout", type=float, default=paper.dropout,
                   help=f"dropout between layers and before the head, as bench run (default {paper.dropout:g}, the paper's)")
    p.add_argument("--batch-norm", action=argparse.BooleanOptionalAction, default=paper.batch_norm,
                   help="IndRNN: batch norm after each layer, as bench run (default on)")
    p.add_argument("--iters", type=int, default=3, help="timed iterations per cell, after one warm-up (default 3)")
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    add_execution_options(p, precision=False, scan_kernel=True)
    p.add_argument("--max-memory-gb", type=float, default=16.0,
                   help="CPU: address-space cap per measurement, so a runaway length fails alone (0 = none)")
    p.add_argument("--out", type=path_arg, help="results directory (default runs/scale-<device>)")
    p.set_defaults(func=cmd_scale)

    p = sub.add_parser("speed", help="each unit's forward, backward and training-step time alone, at fixed shapes",
                       description="Time forward, forward+backward and the whole training step of every unit at "
                                   "the same shapes (default: the paper preset's), in interleaved rounds after "
                                   "warm-up; eager, and on CUDA also replayed from one CUDA graph. Writes speed.csv "
                                   "(median, IQR, ratio to IndRNN), the raw rounds and speed.png.")
    p.add_argument("--units", type=parse_units, default=PAPER_UNITS, help=UNITS_HELP + " (default: all)")
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--batch-size", type=int, default=paper.batch_size, help=f"batch (default {paper.batch_size})")
    p.add_argument("--frames", type=int, default=449, help="sequence length (default 449: the valid frames of a 30 s clip at J=10)")
    p.add_argument("--features", type=int, default=374, help="input width (default 374 scattering channels)")
    p.add_argument("--hidden", type=int, default=paper.hidden, help=f"hidden units (default {paper.hidden})")
    p.add_argument("--layers", type=int, default=paper.layers, help=f"stacked layers (default {paper.layers})")
    p.add_argument("--rounds", type=int, default=10, help="interleaved timed rounds (default 10)")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls first, per measurement (default 3)")
    p.add_argument("--step", choices=["eager", "graph", "both"], default=None,
                   help="eager, graph (CUDA) or both (default: both on CUDA, eager on CPU)")
    add_execution_options(p, several_subnormals=True, scan_kernel=True)
    p.add_argument("--out", type=path_arg, help="results directory (default runs/speed-<device>)")
    p.set_defaults(func=cmd_speed)
    return parser


def _user_errors() -> tuple[type[Exception], ...]:
    """Errors that are the user's to fix: one line, exit status 2 (imported only once one is raised)."""
    from features import DatasetError
    from models.plugins import PluginError

    from .execution.executors import ExecutorError
    from .measure.policy import PolicyError
    from .results.runlock import RunLocked
    from .results.store import RunMismatch

    return ConfigError, DatasetError, RunMismatch, ExecutorError, PolicyError, RunLocked, PluginError


def main(argv: list[str] | None = None) -> int:
    """The command line, ``python -m bench <command> [options]``, callable from Python.

    Commands: ``features``, ``run``, ``report``, ``compare``, ``units``, ``scale``, ``speed``
    (``python -m bench <command> --help``; every option of ``run`` is in the options reference). A
    user's error (a bad option value, a run directory of another configuration, a data folder laid out
    otherwise, a run directory another process is writing) is printed as one line ``error: ...`` on
    stderr and returned as status 2, never raised; logging is configured at level INFO.

    Args:
        argv: the arguments after ``python -m bench``; None reads ``sys.argv[1:]``.

    Returns:
        The exit status: 0 done; 2 a user's error or a run that cannot be reported; 1 an unexpected
            error (one line; ``--debug`` before the command raises it instead); 130 interrupted (Ctrl-C:
            every finished job is kept and the same call resumes).

    Raises:
        SystemExit: from the argument parser: the arguments do not parse (status 2, the problem on
            stderr) or ask for ``--help`` (status 0).

    Examples:
        A small protocol on the synthetic corpus, then its report (``runs/example/report/``); about
        three minutes on 2 cores, most of it computing the features once::

            from bench.cli import main

            status = main(["run", "--units", "indrnn", "--no-baseline", "--folds", "2", "--epochs", "2",
                           "--batch-size", "8", "--clips-per-genre", "4", "--seconds", "2",
                           "--out", "runs/example"])  # 0; the same call again resumes, with nothing to do
            main(["run", "--units", "indrnn,lstm", "--dry-run"])  # the plan of the quick preset, no work
    """
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:  # Ctrl-C: the state left is correct (every job and file is atomic); no traceback
        if args.debug:
            raise
        print("\ninterrupted: everything finished is kept; the same command resumes", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - sorted below: a user's error, or a bug shown briefly
        if isinstance(exc, _user_errors()):
            from reports.page import visible  # one line, whatever a file or folder name holds

            print(f"error: {visible(exc)}", file=sys.stderr)
            return 2
        if args.debug:
            raise
        if isinstance(exc, OSError) and exc.filename:  # a file that cannot be written or read: name it
            print(f"error: {exc.filename}: {exc.strerror}", file=sys.stderr)
            return 1
        print(f"error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", file=sys.stderr)
        return 1
