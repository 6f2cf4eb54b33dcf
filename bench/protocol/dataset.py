"""The data a protocol runs on: a data set's cached feature table, and ``bench features``.

:func:`load_features` is the one way ``bench run`` and ``bench features`` get their features: the clips
listed (the synthetic corpus written under the cache first, if needed), scattered under the execution
policy (on the CPU, a large data set is shared among single-threaded processes) and cached.
:func:`features_command` is ``python -m bench features``.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from features import FeatureSet

__all__ = ["load_features", "features_command"]


def load_features(dataset: str, data_dir, cache_dir: Path, device: str = "cpu", seconds: float | None = None,
                  clips_per_genre: int | None = None, corpus_seed: int = 0, J: int = 10, Q: int = 8,
                  progress: bool = True, min_seconds: float = 1.0, policy: dict | None = None
                  ) -> tuple[FeatureSet, bool]:
    """The cached feature table of a data set (the synthetic corpus is written first if needed).

    Args:
        dataset: ``synthetic``, ``gtzan`` or ``folder`` (``--dataset``).
        data_dir (str | Path | None): the data set's root (``--data-dir``); None for the synthetic corpus.
        cache_dir: where the synthetic corpus and the feature caches live.
        device: where the scattering computes (a concrete device: ``cpu``, ``cuda``, ``cuda:N``).
        seconds: clip length after pad/crop; None: the feature config's default.
        clips_per_genre: synthetic corpus size per genre; None: its default.
        corpus_seed: seed of the synthetic corpus.
        J: scattering scale (frame hop ``2**J`` samples).
        Q: first-order wavelets per octave.
        progress: show progress bars.
        min_seconds: skip clips holding less real audio than this.
        policy: the execution policy in force (:func:`bench.measure.policy.apply_policy`'s result); with
            it, a large data set on the CPU is shared among single-threaded processes. None: one process.

    Returns:
        ``(fs, cached)``: the :class:`features.FeatureSet` and whether it was loaded from the cache.

    Raises:
        DatasetError: the data set cannot be listed or read.
    """
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

        from ..measure.policy import apply_policy

        processes = processes_for(len(clips), cfg, policy["torch_threads"], device)
        init = partial(apply_policy, 1, policy["subnormals"])
    return build_features(clips, cfg, cache_dir, device, progress=progress, tag=f"features-{dataset}", policy=policy,
                          processes=processes, init=init)


def features_command(dataset: str, data_dir, cache_dir: Path, device: str = "cpu", seconds: float | None = None,
                     clips_per_genre: int | None = None, corpus_seed: int = 0, J: int = 10, Q: int = 8,
                     min_seconds: float = 1.0, threads: int | None = None, subnormals: str = "flush",
                     show: Callable[[object], str] = str) -> int:
    """``python -m bench features``: extract (or load cached) features under the execution policy and print
    their shape, the valid frames per clip, where the cache is and every skipped clip.

    Args:
        dataset: ``synthetic``, ``gtzan`` or ``folder``.
        data_dir (str | Path | None): the data set's root; None for the synthetic corpus.
        cache_dir: where the synthetic corpus and the feature caches live.
        device: a concrete device (``cpu``, ``cuda``, ``cuda:N``).
        seconds: clip length after pad/crop; None: the feature config's default.
        clips_per_genre: synthetic corpus size per genre; None: its default.
        corpus_seed: seed of the synthetic corpus.
        J: scattering scale.
        Q: first-order wavelets per octave.
        min_seconds: skip clips holding less real audio than this.
        threads: torch threads while scattering; None: torch's own count in this process.
        subnormals: the subnormal policy (``flush`` or ``keep``).
        show: how a skipped clip's reason is printed (the command line passes
            :func:`reports.page.visible`: one line, whatever a file name holds).

    Returns:
        The exit status, 0.
    """
    from ..execution.executors import DEFAULT_THREADS
    from ..measure.policy import apply_policy

    policy = apply_policy(threads or DEFAULT_THREADS, subnormals)  # scattering computes under it
    print(f"policy: {policy['torch_threads']} torch thread(s), subnormals {policy['subnormals']}")
    t0 = time.perf_counter()
    fs, cached = load_features(dataset, data_dir, cache_dir, device, seconds, clips_per_genre, corpus_seed, J, Q,
                               min_seconds=min_seconds, policy=policy)
    dt = time.perf_counter() - t0
    n, frames, channels = fs.shape
    kind = "classes" if dataset == "folder" else "genres"
    print(f"features: {n} clips x {frames} frames x {channels} channels (float32), {len(fs.genres)} {kind}")
    print(f"valid frames per clip: min {fs.lengths.min()}, median {int(sorted(fs.lengths)[n // 2])}, max {fs.lengths.max()}")
    ex = fs.extraction
    per_clip = "" if cached or "seconds" not in ex else (
        f" (scattering {ex['seconds']:.1f} s, {ex['seconds_per_clip']:.3f} s per clip"
        f"{', in {} processes of {} thread(s)'.format(ex['processes'], ex['threads_per_process']) if ex.get('processes', 1) > 1 else ''})")
    print(f"{'loaded from cache' if cached else 'computed'} in {dt:.1f} s{per_clip}: {fs.path}")
    print(f"skipped clips: {len(fs.skipped)}")
    for path, reason in fs.skipped:
        print(f"  {show(reason)}")
    return 0
