"""``python -m bench <command>``: features, units, run, report, scale."""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from features import DatasetError, FeatureConfig, build_features, dataset_clips

DEFAULT_CACHE = Path(".cache")


def add_data_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data and features")
    g.add_argument("--dataset", choices=["synthetic", "gtzan"], default="synthetic",
                   help="the embedded synthetic corpus (default) or a GTZAN copy given by --data-dir")
    g.add_argument("--data-dir", type=Path, help="GTZAN root holding genres/ (.au) or genres_original/ (.wav)")
    g.add_argument("--device", default="cpu", help="cpu or cuda (scattering and training)")
    g.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE,
                   help="where the synthetic corpus and feature caches live (default: .cache)")
    g.add_argument("--seconds", type=float, default=None,
                   help="clip length after pad/crop, seconds (default 30; the synthetic corpus uses it too)")
    g.add_argument("--clips-per-genre", type=int, default=None, help="synthetic corpus size per genre")
    g.add_argument("--corpus-seed", type=int, default=0, help="seed of the synthetic corpus")
    g.add_argument("--J", type=int, default=FeatureConfig.J, help="scattering scale: frame hop 2**J samples")
    g.add_argument("--Q", type=int, default=FeatureConfig.Q, help="first-order wavelets per octave")


def load_features(args, progress: bool = True):
    cfg = FeatureConfig(duration=args.seconds or FeatureConfig.duration, J=args.J, Q=args.Q)
    synth = {"duration": cfg.duration, "seed": args.corpus_seed}
    if args.clips_per_genre:
        synth["clips_per_genre"] = args.clips_per_genre
    clips = dataset_clips(args.dataset, args.data_dir, args.cache_dir, synth, progress)
    return build_features(clips, cfg, args.cache_dir, args.device, progress=progress,
                          tag=f"features-{args.dataset}")


def cmd_features(args) -> int:
    t0 = time.perf_counter()
    fs, cached = load_features(args)
    dt = time.perf_counter() - t0
    n, frames, channels = fs.shape
    print(f"features: {n} clips x {frames} frames x {channels} channels (float32), {len(fs.genres)} genres")
    print(f"valid frames per clip: min {fs.lengths.min()}, median {int(sorted(fs.lengths)[n // 2])}, max {fs.lengths.max()}")
    print(f"{'loaded from cache' if cached else 'computed'} in {dt:.1f} s: {fs.path}")
    print(f"skipped clips: {len(fs.skipped)}")
    for path, reason in fs.skipped:
        print(f"  {reason}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("features", help="extract (or load cached) scattering features and print their shape")
    add_data_options(p)
    p.set_defaults(func=cmd_features)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except DatasetError as exc:
        print(f"error: {exc}")
        return 2
