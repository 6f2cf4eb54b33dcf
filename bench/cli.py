"""``python -m bench <command>``: features, units, check-unit, run, report, compare, scale, speed."""
from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

from .config import PAPER_UNITS, PRESETS, ConfigError, RunConfig
from .config import DATASETS, DEVICE_HELP, MAX_JOBS
from .options import UNITS_HELP, add_config_flags, parse_units, resolve, write_toml

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


def load_features(dataset: str, data_dir, cache_dir: Path, device: str = "cpu", seconds: float | None = None,
                  clips_per_genre: int | None = None, corpus_seed: int = 0, J: int = 10, Q: int = 8,
                  progress: bool = True, min_seconds: float = 1.0, policy: dict | None = None):
    """The cached feature table of a data set (the synthetic corpus is written first if needed)."""
    from features import FeatureConfig, build_features, dataset_clips

    cfg = FeatureConfig(duration=seconds or FeatureConfig.duration, J=J, Q=Q, min_seconds=min_seconds)
    synth = {"duration": cfg.duration, "seed": corpus_seed}
    if clips_per_genre:
        synth["clips_per_genre"] = clips_per_genre
    clips = dataset_clips(dataset, data_dir, cache_dir, synth, progress)
    processes, init = 1, None
    if policy is not None:  # on the CPU, a large data set is shared among single-threaded processes
        from functools import partial

        from features.processes import processes_for

        from .policy import apply_policy

        processes = processes_for(len(clips), cfg, policy["torch_threads"], device)
        init = partial(apply_policy, 1, policy["subnormals"])
    return build_features(clips, cfg, cache_dir, device, progress=progress, tag=f"features-{dataset}", policy=policy,
                          processes=processes, init=init)


def cmd_features(args) -> int:
    from .executors import DEFAULT_THREADS
    from .policy import apply_policy, resolve_device

    policy = apply_policy(args.threads or DEFAULT_THREADS, args.subnormals)  # scattering computes under it
    print(f"policy: {policy['torch_threads']} torch thread(s), subnormals {policy['subnormals']}")
    t0 = time.perf_counter()
    fs, cached = load_features(args.dataset, args.data_dir, args.cache_dir, resolve_device(args.device), args.seconds,
                               args.clips_per_genre, args.corpus_seed, args.J, args.Q, min_seconds=args.min_seconds,
                               policy=policy)
    dt = time.perf_counter() - t0
    n, frames, channels = fs.shape
    kind = "classes" if args.dataset == "folder" else "genres"
    print(f"features: {n} clips x {frames} frames x {channels} channels (float32), {len(fs.genres)} {kind}")
    print(f"valid frames per clip: min {fs.lengths.min()}, median {int(sorted(fs.lengths)[n // 2])}, max {fs.lengths.max()}")
    ex = fs.extraction
    per_clip = "" if cached or "seconds" not in ex else (
        f" (scattering {ex['seconds']:.1f} s, {ex['seconds_per_clip']:.3f} s per clip"
        f"{', in {} processes of {} thread(s)'.format(ex['processes'], ex['threads_per_process']) if ex.get('processes', 1) > 1 else ''})")
    print(f"{'loaded from cache' if cached else 'computed'} in {dt:.1f} s{per_clip}: {fs.path}")
    print(f"skipped clips: {len(fs.skipped)}")
    from reports.page import visible  # composition root: a file name's newline shown as \n, not obeyed

    for path, reason in fs.skipped:
        print(f"  {visible(reason)}")
    return 0


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


def check_out(run_dir: Path, cache_dir: Path, cfg: RunConfig) -> None:
    """Where a run writes, checked before any work: folders, not files, and the run directory never inside
    the data folder (nothing is ever written there)."""
    for option, folder in (("--cache-dir", Path(cache_dir)), ("--out", Path(run_dir))):
        if folder.exists() and not folder.is_dir():  # found now, not after every clip is scattered
            raise ConfigError(f"{option} {folder} is a file, not a folder")
    if cfg.data_dir:
        data, out = Path(cfg.data_dir).resolve(), Path(run_dir).resolve()
        if out == data or data in out.parents:
            raise ConfigError(f"--out {run_dir} lies inside --data-dir {cfg.data_dir}; nothing is ever written into a "
                              "data folder: choose a run directory outside it")


def run_config(args) -> RunConfig:
    """Preset, config file, flags; then the device resolved (auto -> cuda or cpu) and checked."""
    from .policy import resolve_device

    cfg = resolve(args)
    if cfg.dataset == "synthetic" and cfg.protocol == "cv" and cfg.folds > cfg.clips_per_genre:
        raise ConfigError(f"--folds {cfg.folds}: stratified folds need at least as many clips per genre; "
                          f"the synthetic corpus has {cfg.clips_per_genre} (--clips-per-genre)")
    cfg = replace(cfg, device=resolve_device(cfg.device))
    if cfg.dataset != "synthetic":  # the corpus size option means nothing for a real data set
        cfg = replace(cfg, clips_per_genre=0, corpus_seed=0)
    return cfg


def check_execution(cfg: RunConfig, executor: str = "local") -> None:
    """Refuse, before anything is written, what this machine cannot honour."""
    from .policy import check_threads
    from .step import check_graph_device

    if cfg.step == "graph":
        check_graph_device(cfg.device)
    if executor == "local":  # a Dask worker's own pool is checked where the job runs
        check_threads(cfg.threads)


def cmd_run(args) -> int:
    from .envinfo import device_name
    from .executors import make_executor
    from .run import default_run_dir

    cfg = run_config(args)
    check_execution(cfg, args.executor)
    from .checkunit import check_plugins

    check_plugins(cfg)  # a plugin that breaks the unit contract is refused before anything is written
    executor = make_executor(args.executor, args.scheduler, args.workers, args.threads_per_worker)  # fail fast
    print(f"device: {cfg.device} ({device_name(cfg.device)}), precision {cfg.precision}, {cfg.step} step, "
          f"threads {cfg.threads or 'default'}, subnormals {cfg.subnormals}")
    run_dir = args.out or default_run_dir(cfg)
    check_out(run_dir, args.cache_dir, cfg)
    from .plan import check_job_count

    print(check_job_count(cfg, args.yes))  # counted, not listed: 10^9 repeats fail here, at once
    if args.dry_run:
        from .plan import dry_run
        from .protocols import check_listing

        check_listing(cfg, args.cache_dir)  # what the run would refuse, the dry run refuses
        print(dry_run(cfg, run_dir))
        return 0
    from .runlock import run_lock

    with run_lock(run_dir, "bench run"):  # one writer at a time; a second fails here, before any work
        return _run_locked(args, cfg, executor, run_dir)


def _run_locked(args, cfg: RunConfig, executor, run_dir: Path) -> int:
    from .baseline import BASELINE
    from .executors import job_threads
    from .plan import cap_batch
    from .policy import apply_policy
    from .protocols import check_listing, protocol_splits
    from .run import format_summary, run

    t0 = time.perf_counter()
    policy = apply_policy(job_threads(cfg), cfg.subnormals)  # the scattering runs under the run's threads and policy
    check_listing(cfg, args.cache_dir)  # splits that cannot be made fail before any feature is computed
    fs, cached = load_features(cfg.dataset, cfg.data_dir, args.cache_dir, cfg.device, cfg.seconds,
                               cfg.clips_per_genre or None, cfg.corpus_seed, cfg.J, cfg.Q, min_seconds=cfg.min_seconds,
                               policy=policy)
    data_s = time.perf_counter() - t0
    scatter_s = 0.0 if cached else fs.extraction.get("seconds", 0.0)
    if fs.skipped:
        from reports.page import visible  # composition root: a file name's newline shown as \n, not obeyed

        print(f"skipped {len(fs.skipped)} clip(s): " + "; ".join(visible(r) for _, r in fs.skipped))
    splits = protocol_splits(cfg, fs)
    cfg, note = cap_batch(cfg, min(len(s.train) for s in splits))  # before any work, and recorded as run
    if note:
        print(note)
    t_run = time.perf_counter()
    store = run(cfg, fs, run_dir, splits, executor, allow_mixed=args.allow_mixed)
    run_s = time.perf_counter() - t_run
    write_toml(cfg, run_dir / "config.toml")
    print(f"\n{cfg.preset} preset, {cfg.dataset} ({len(fs)} clips, {fs.shape[1]} frames x {fs.shape[2]} channels), "
          f"protocol {cfg.protocol} ({f'{cfg.repeats}x{cfg.folds}-fold' if cfg.protocol == 'cv' else f'{len(splits)} split(s) from a file'}), "
          f"device {cfg.device}")
    print(format_summary(store.table("folds"), store.table("iterations"), order=[*cfg.units, BASELINE],
                         n_classes=len(fs.genres)))
    print(f"\nresults: {run_dir}  (wall time {time.perf_counter() - t0:.0f} s)")
    rc, t_report = 0, time.perf_counter()
    if not args.no_report:
        rc = cmd_report(argparse.Namespace(run_dir=run_dir, out=None))
    print(f"where the time went: {data_s - scatter_s:.0f} s listing{' and writing' if cfg.dataset == 'synthetic' else ''} "
          f"the clips, {scatter_s:.0f} s scattering{' (cached)' if cached else _in_processes(fs.extraction)}, "
          f"{run_s:.0f} s training the jobs "
          f"(plan and probe included), {time.perf_counter() - t_report:.0f} s the report; "
          f"{time.perf_counter() - t0:.0f} s in all")
    return rc


def _in_processes(extraction: dict) -> str:
    n = extraction.get("processes", 1)
    return f" in {n} processes of {extraction.get('threads_per_process')} thread(s)" if n > 1 else ""


def cmd_report(args) -> int:
    from reports import ReportError, render  # bench.cli is the composition root; nothing else in bench imports reports

    from .runlock import LOCK, run_lock
    from .store import ResultsStore

    store = ResultsStore(args.run_dir)
    if not any((store.dir / name).exists() for name in ("metadata.json", LOCK, "parts")):
        lock = contextlib.nullcontext()  # not a run directory (a data folder?): nothing is written there;
        # render names what is missing
    else:
        lock = run_lock(store.dir, "bench report")  # it may rebuild the tables: one writer at a time
    with lock:
        if store.parts.is_dir() and not store.is_current():  # jobs finished since the tables were built
            # damaged parts moved aside, named; CSV exports replaced, never deleted; with no part left,
            # the tables already built are the only copy and are kept (consolidate writes nothing)
            if not store.consolidate(csv=False):
                print(f"warning: {store.parts} holds no finished job; reporting from the tables built before",
                      file=sys.stderr)
        try:
            files = render(args.run_dir, args.out)
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
    from .policy import PolicyError

    for name in names:
        if getattr(args, name) < 1:
            raise PolicyError(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")


def cmd_scale(args) -> int:
    from .policy import check_threads, resolve_device
    from .scale import ScaleConfig, sweep

    device = resolve_device(args.device)  # refused here, before any cell runs or anything is written
    require_positive(args, "batch", "features", "hidden", "layers", "iters")
    check_threads(args.threads)
    if not 0 <= args.dropout < 1:
        raise ConfigError(f"--dropout must be in [0, 1), got {args.dropout}")
    cfg = ScaleConfig(batch=args.batch, features=args.features, hidden=args.hidden, layers=args.layers,
                      dropout=args.dropout, batch_norm=args.batch_norm, iters=args.iters, device=device,
                      threads=args.threads, subnormals=args.subnormals, max_memory_gb=args.max_memory_gb or None,
                      scan_kernel=args.scan_kernel)
    print(f"bench scale on {device}: batch {cfg.batch}, {cfg.layers} x {cfg.hidden}, {cfg.features} features, "
          f"dropout {cfg.dropout:g}, IndRNN batch norm {'on' if cfg.batch_norm else 'off'}, valid lengths passed, "
          f"clip {cfg.clip_grad:g}, fp32, eager, subnormals {cfg.subnormals}; lengths {', '.join(map(str, args.lengths))}")
    out = args.out or Path("runs") / f"scale-{device.replace(':', '')}"
    table = sweep(args.units, args.lengths, cfg, out)
    from reports.scaling import plot_scaling  # composition root, as for the report

    plot = plot_scaling(table, out / "scaling.png")
    cols = ["unit", "length", "status", "median_iter_s", "saved_mb", "peak_mem_mb"]
    print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"\ntable: {out / 'scaling.csv'}\nplot:  {plot}")
    return 0


def cmd_speed(args) -> int:
    from .envinfo import device_name
    from .policy import resolve_device
    from .speed import SpeedConfig, measure_speed, summarise_speed, wall_warnings, write_speed

    device = resolve_device(args.device)
    if args.step == "graph":
        from .step import check_graph_device

        check_graph_device(device)
    modes = {"eager": ("eager",), "graph": ("graph",)}.get(args.step) or (
        ("eager", "graph") if device.startswith("cuda") else ("eager",))
    require_positive(args, "batch_size", "frames", "features", "hidden", "layers", "rounds")
    paper = PRESETS["paper"]
    cfg = SpeedConfig(units=args.units, batch=args.batch_size, frames=args.frames, features=args.features,
                      hidden=args.hidden, layers=args.layers, dropout=paper.dropout, batch_norm=paper.batch_norm,
                      lr=paper.lr, clip_grad=paper.clip_grad, device=device, precision=args.precision or "fp32",
                      threads=args.threads, subnormals=args.subnormals, modes=modes, rounds=args.rounds,
                      warmup=args.warmup, scan_kernel=args.scan_kernel)
    out = args.out or Path("runs") / f"speed-{device.replace(':', '')}"
    print(f"bench speed on {device} ({device_name(device)}): batch {cfg.batch} x {cfg.frames} frames x "
          f"{cfg.features} features, {cfg.layers} x {cfg.hidden}, {cfg.precision}, modes {', '.join(modes)}, "
          f"subnormals {', '.join(cfg.subnormals)}, {cfg.rounds} interleaved rounds")
    raw = measure_speed(cfg)
    summary = summarise_speed(raw)
    paths = write_speed(cfg, raw, summary, out)
    from reports.speed import plot_speed  # composition root, as for the report

    title = (f"{device_name(device)}: batch {cfg.batch}, T {cfg.frames}, {cfg.features} features, "
             f"{cfg.layers} x {cfg.hidden}, {cfg.precision}, {cfg.threads or 'default'} thread(s)")
    plot = plot_speed(summary, out / "speed.png", title)
    show = summary.assign(median_ms=1e3 * summary.median_s, iqr_ms=1e3 * (summary.q3_s - summary.q1_s))
    cols = ["subnormals", "mode", "kind", "unit", "median_ms", "iqr_ms", "ratio_to_indrnn", "n"]
    print(show[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for line in wall_warnings(summary, device.startswith("cuda")):
        print(line, file=sys.stderr)
    print(f"\ntable: {paths['summary']} (raw rounds: {paths['raw'].name})\nplot:  {plot}")
    return 0


def parse_lengths(text: str) -> list[int]:
    try:
        lengths = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"lengths must be comma-separated integers, got {text!r}") from None
    if not lengths or min(lengths) < 1:
        raise argparse.ArgumentTypeError(f"lengths must be positive, got {text!r}")
    return lengths


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

    from . import checkunit, units  # their heavy imports are inside their commands

    units.add_parser(sub)
    checkunit.add_parser(sub)

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

    from .executors import ExecutorError
    from .policy import PolicyError
    from .runlock import RunLocked
    from .store import RunMismatch

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
