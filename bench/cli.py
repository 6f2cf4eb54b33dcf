"""``python -m bench <command>``: features, units, run, report, scale."""
from __future__ import annotations

import argparse
import logging
import time
from dataclasses import replace
from pathlib import Path

from features import DatasetError, FeatureConfig, build_features, dataset_clips
from features.pipeline import DATASETS

from . import units
from .baseline import BASELINE
from .config import PRESETS, RunConfig, preset
from .executors import ExecutorError, make_executor
from .protocols import check_split_file, protocol_splits
from .run import default_run_dir, format_summary, run
from .store import RunMismatch

DEFAULT_CACHE = Path(".cache")


def add_data_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data and features")
    g.add_argument("--dataset", choices=DATASETS, default="synthetic",
                   help="synthetic: the embedded corpus, generated under --cache-dir (default); gtzan: a GTZAN "
                        "copy; folder: any <root>/<class>/<clip> tree (both given by --data-dir)")
    g.add_argument("--data-dir", type=Path, help="gtzan: root holding genres/ (.au) or genres_original/ (.wav); "
                                                 "folder: <root> of <root>/<class>/<clip>. Never written to")
    g.add_argument("--device", default="cpu", help="cpu or cuda (scattering and training)")
    g.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE,
                   help="where the synthetic corpus and feature caches live (default: .cache)")
    g.add_argument("--seconds", type=float, default=None,
                   help="clip length after pad/crop, seconds (default 30; the synthetic corpus uses it too)")
    g.add_argument("--min-seconds", type=float, default=FeatureConfig.min_seconds,
                   help="skip clips holding less real audio than this, seconds (default 1)")
    g.add_argument("--clips-per-genre", type=int, default=None, help="synthetic corpus size per genre")
    g.add_argument("--corpus-seed", type=int, default=0, help="seed of the synthetic corpus")
    g.add_argument("--J", type=int, default=FeatureConfig.J, help="scattering scale: frame hop 2**J samples")
    g.add_argument("--Q", type=int, default=FeatureConfig.Q, help="first-order wavelets per octave")


def load_features(dataset: str, data_dir, cache_dir: Path, device: str = "cpu", seconds: float | None = None,
                  clips_per_genre: int | None = None, corpus_seed: int = 0, J: int = FeatureConfig.J,
                  Q: int = FeatureConfig.Q, progress: bool = True, min_seconds: float = FeatureConfig.min_seconds):
    """The cached feature table of a data set (the synthetic corpus is written first if needed)."""
    cfg = FeatureConfig(duration=seconds or FeatureConfig.duration, J=J, Q=Q, min_seconds=min_seconds)
    synth = {"duration": cfg.duration, "seed": corpus_seed}
    if clips_per_genre:
        synth["clips_per_genre"] = clips_per_genre
    clips = dataset_clips(dataset, data_dir, cache_dir, synth, progress)
    return build_features(clips, cfg, cache_dir, device, progress=progress, tag=f"features-{dataset}")


def cmd_features(args) -> int:
    t0 = time.perf_counter()
    fs, cached = load_features(args.dataset, args.data_dir, args.cache_dir, args.device, args.seconds,
                               args.clips_per_genre, args.corpus_seed, args.J, args.Q, min_seconds=args.min_seconds)
    dt = time.perf_counter() - t0
    n, frames, channels = fs.shape
    kind = "classes" if args.dataset == "folder" else "genres"
    print(f"features: {n} clips x {frames} frames x {channels} channels (float32), {len(fs.genres)} {kind}")
    print(f"valid frames per clip: min {fs.lengths.min()}, median {int(sorted(fs.lengths)[n // 2])}, max {fs.lengths.max()}")
    print(f"{'loaded from cache' if cached else 'computed'} in {dt:.1f} s: {fs.path}")
    print(f"skipped clips: {len(fs.skipped)}")
    for path, reason in fs.skipped:
        print(f"  {reason}")
    return 0


ALL_UNITS = ("rnn", "lstm", "gru", "indrnn")  # "--units all" (= models.PAPER_UNITS)


def parse_units(text: str) -> tuple[str, ...]:
    import models

    units = ALL_UNITS if text == "all" else tuple(u.strip() for u in text.split(",") if u.strip())
    unknown = [u for u in units if u not in models.available()]
    if unknown or not units:
        raise argparse.ArgumentTypeError(f"unknown unit(s) {', '.join(unknown) or text!r}; "
                                         f"choose 'all' or from: {', '.join(models.available())}")
    return units


def add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--units", type=parse_units, default=ALL_UNITS,
                   help="'all' (rnn,lstm,gru,indrnn) or a comma list, e.g. indrnn,lstm,rnn_relu")
    p.add_argument("--preset", choices=sorted(PRESETS), default="quick",
                   help="quick: small, minutes on a CPU (default); paper: 10x10-fold, 5 layers, lr 1e-5")
    p.add_argument("--protocol", choices=["cv", "filtered", "file"], default=None,
                   help="cv: repeated stratified k-fold (the paper's); filtered: the artist-filtered GTZAN split "
                        "file shipped with the project; file: --split-file")
    p.add_argument("--split-file", type=Path, help="CSV of clip path (relative to the data root) and part "
                                                   "(train/val/test/exclude or a fold number); implies --protocol file")
    p.add_argument("--folds", type=int, help="folds per repeat (preset: quick 5, paper 10)")
    p.add_argument("--repeats", type=int, help="times the k-fold CV is reshuffled and repeated (quick 1, paper 10)")
    p.add_argument("--epochs", type=int, help="maximum epochs per fold (quick 25, paper 500)")
    p.add_argument("--patience", type=int, help="stop after this many epochs without a better validation loss")
    p.add_argument("--batch-size", type=int, help="mini-batch size (quick 16, paper 32)")
    p.add_argument("--lr", type=float, help="Adam learning rate (quick 2e-3, paper 1e-5)")
    p.add_argument("--hidden", type=int, help="hidden units per layer, every unit (quick 64, paper 128)")
    p.add_argument("--layers", type=int, help="stacked recurrent layers (quick 3, paper 5)")
    p.add_argument("--dropout", type=float, help="dropout between layers and before the classifier")
    p.add_argument("--batch-norm", action=argparse.BooleanOptionalAction, default=None,
                   help="IndRNN: batch normalisation after each layer (default on, as Li et al.; the paper does not say)")
    p.add_argument("--clip-grad", type=float, help="max gradient norm (0 = off; default 1)")
    p.add_argument("--seed", type=int, help="seed of splits, initialisation and batch order (default 0)")
    p.add_argument("--warmup-iters", type=int, help="timed iterations per fold left out of summaries (default 5)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--no-baseline", action="store_true", help="skip the scattering + logistic-regression reference")
    g = p.add_argument_group("executor (see README: what concurrency does to CPU timings)")
    g.add_argument("--executor", choices=["local", "dask"], default="local",
                   help="local: one job after another (default, the timing reference); dask: one task per job")
    g.add_argument("--scheduler", help="address of an existing Dask scheduler, e.g. tcp://HOST:8786 "
                                       "(default: start a LocalCluster)")
    g.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (default 2)")
    g.add_argument("--threads-per-worker", type=int, default=1, help="LocalCluster threads per worker (default 1)")
    p.add_argument("--no-report", action="store_true", help="do not render the report at the end")
    p.add_argument("--out", type=Path, help="run directory (default runs/<dataset>-<preset>-<config hash>); "
                                            "rerunning the same command resumes it")


def run_config(args) -> RunConfig:
    over = dict(units=args.units, protocol=args.protocol, folds=args.folds, repeats=args.repeats,
                epochs=args.epochs, patience=args.patience, batch_size=args.batch_size, lr=args.lr,
                hidden=args.hidden, layers=args.layers, dropout=args.dropout, batch_norm=args.batch_norm, seed=args.seed,
                threads=args.threads, warmup_iters=args.warmup_iters, dataset=args.dataset, device=args.device,
                seconds=args.seconds, clips_per_genre=args.clips_per_genre, corpus_seed=args.corpus_seed,
                J=args.J, Q=args.Q, data_dir=str(args.data_dir.resolve()) if args.data_dir else None,
                min_seconds=args.min_seconds, split_file=str(args.split_file.resolve()) if args.split_file else None)
    if args.split_file and args.protocol not in (None, "file"):
        raise DatasetError(f"--split-file {args.split_file} and --protocol {args.protocol} both choose the splits; give one")
    if args.split_file:
        over["protocol"] = "file"
    elif args.protocol == "file":
        raise DatasetError("--protocol file needs --split-file FILE")
    if args.clip_grad is not None:
        over["clip_grad"] = args.clip_grad  # 0 = no clipping (None would mean "keep the preset's")
    if args.no_baseline:
        over["baseline"] = False
    cfg = preset(args.preset, **over)
    if args.dataset != "synthetic":  # the corpus size option means nothing for a real data set
        cfg = replace(cfg, clips_per_genre=0, corpus_seed=0)
    return cfg


def cmd_run(args) -> int:
    cfg = run_config(args)
    executor = make_executor(args.executor, args.scheduler, args.workers, args.threads_per_worker)  # fail fast
    t0 = time.perf_counter()
    if cfg.dataset != "synthetic" and cfg.protocol != "cv":  # a wrong split file fails before any feature is computed
        check_split_file(cfg, [c.rel for c in dataset_clips(cfg.dataset, cfg.data_dir, args.cache_dir)])
    fs, _ = load_features(cfg.dataset, cfg.data_dir, args.cache_dir, cfg.device, cfg.seconds,
                          cfg.clips_per_genre or None, cfg.corpus_seed, cfg.J, cfg.Q, min_seconds=cfg.min_seconds)
    if fs.skipped:
        print(f"skipped {len(fs.skipped)} clip(s): " + "; ".join(r for _, r in fs.skipped))
    run_dir = args.out or default_run_dir(cfg)
    splits = protocol_splits(cfg, fs)
    store = run(cfg, fs, run_dir, splits, executor)
    print(f"\n{cfg.preset} preset, {cfg.dataset} ({len(fs)} clips, {fs.shape[1]} frames x {fs.shape[2]} channels), "
          f"protocol {cfg.protocol} ({f'{cfg.repeats}x{cfg.folds}-fold' if cfg.protocol == 'cv' else f'{len(splits)} split(s) from a file'}), "
          f"device {cfg.device}")
    print(format_summary(store.table("folds"), store.table("iterations"), order=[*cfg.units, BASELINE]))
    print(f"\nresults: {run_dir}  (wall time {time.perf_counter() - t0:.0f} s)")
    if not args.no_report:
        return cmd_report(argparse.Namespace(run_dir=run_dir, out=None))
    return 0


def cmd_report(args) -> int:
    from reports import ReportError, render  # bench.cli is the composition root; nothing else in bench imports reports

    try:
        files = render(args.run_dir, args.out)
    except ReportError as exc:
        print(f"error: {exc}")
        return 2
    print(f"report: {files['report_html']}  (and {files['report_md'].name}, figures, tables in {files['report_md'].parent})")
    return 0


def cmd_scale(args) -> int:
    from .scale import ScaleConfig, sweep

    cfg = ScaleConfig(batch=args.batch, features=args.features, hidden=args.hidden, layers=args.layers,
                      iters=args.iters, device=args.device, threads=args.threads, max_memory_gb=args.max_memory_gb or None)
    out = args.out or Path("runs") / f"scale-{cfg.device}"
    table = sweep(args.units, args.lengths, cfg, out)
    from reports.scaling import plot_scaling  # composition root, as for the report

    plot = plot_scaling(table, out / "scaling.png")
    cols = ["unit", "length", "status", "median_iter_s", "saved_mb", "peak_mem_mb"]
    print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"\ntable: {out / 'scaling.csv'}\nplot:  {plot}")
    return 0


def parse_lengths(text: str) -> list[int]:
    try:
        lengths = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"lengths must be comma-separated integers, got {text!r}") from None
    if not lengths or min(lengths) < 1:
        raise argparse.ArgumentTypeError(f"lengths must be positive, got {text!r}")
    return lengths


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("features", help="extract (or load cached) scattering features and print their shape")
    add_data_options(p)
    p.set_defaults(func=cmd_features)
    p = sub.add_parser("run", help="train and time the units under cross-validation; write a results directory",
                       description="Train every chosen unit on the same cached features, splits, seeds and "
                                   "batch order, time every iteration, and store tidy results (resumable).")
    add_run_options(p)
    add_data_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("report", help="render figures, tables and the report page of a run directory")
    p.add_argument("run_dir", type=Path, help="a directory written by 'bench run' (runs/<id>)")
    p.add_argument("--out", type=Path, help="where to write (default RUN_DIR/report)")
    p.set_defaults(func=cmd_report)

    units.add_parser(sub)

    p = sub.add_parser("scale", help="time per iteration and peak memory against sequence length, per unit",
                       description="For each unit and sequence length, train a few iterations on random features "
                                   "in a fresh process; write scaling.csv and a log-log plot. A unit that fails "
                                   "(out of memory, NaN, timeout) at a length is marked, not fatal.")
    p.add_argument("--units", type=parse_units, default=ALL_UNITS, help="'all' or a comma list")
    p.add_argument("--lengths", type=parse_lengths, default=[250, 500, 1000, 2000, 5000],
                   help="sequence lengths (default 250,500,1000,2000,5000)")
    p.add_argument("--batch", type=int, default=16, help="batch size (default 16)")
    p.add_argument("--features", type=int, default=374, help="input width (default 374, the scattering channels)")
    p.add_argument("--hidden", type=int, default=128, help="hidden units per layer (default 128)")
    p.add_argument("--layers", type=int, default=5, help="stacked layers (default 5)")
    p.add_argument("--iters", type=int, default=3, help="timed iterations per cell, after one warm-up (default 3)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--max-memory-gb", type=float, default=16.0,
                   help="CPU: address-space cap per measurement, so a runaway length fails alone (0 = none)")
    p.add_argument("--out", type=Path, help="results directory (default runs/scale-<device>)")
    p.set_defaults(func=cmd_scale)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (DatasetError, RunMismatch, ExecutorError) as exc:
        print(f"error: {exc}")
        return 2
