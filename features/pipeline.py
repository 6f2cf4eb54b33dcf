"""One call from a dataset name to the cached feature table: sources -> audio -> scattering -> cache."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from . import featureset
from .featureset import CacheError, FeatureSet
from .processes import extract_in_processes
from .scattering import FeatureConfig, Scatterer
from .sources import DatasetError, folder_clips, gtzan_clips
from .synthetic import write_corpus

__all__ = ["DATASETS", "SYNTHETIC_DEFAULTS", "dataset_clips", "build_features"]

DATASETS = ("synthetic", "gtzan", "folder")
"""The data sets :func:`dataset_clips` knows (``--dataset``; ``bench.config.DATASETS`` is equal, tested)."""

log = logging.getLogger(__name__)


# The embedded corpus by default: 10 genres x 10 clips of 30 s (keys are write_corpus's arguments).
SYNTHETIC_DEFAULTS = {"clips_per_genre": 10, "duration": 30.0, "seed": 0}
"""The synthetic corpus :func:`dataset_clips` writes when its ``synthetic`` argument leaves a key out
(keys of :func:`features.synthetic.write_corpus`)."""


STALE_AFTER_S = 600  # a cache write takes seconds: a temporary file this old was left by a killed process


def remove_stale_temporaries(cache_dir: Path) -> list[Path]:
    """Remove the temporary files of cache writes killed mid-way (``kill -9``), left beside the caches.

    Only files untouched for :data:`STALE_AFTER_S`: another process may be writing its own right now."""
    removed = []
    for tmp in cache_dir.glob(".*.tmp") if cache_dir.is_dir() else []:
        try:
            if time.time() - tmp.stat().st_mtime > STALE_AFTER_S:
                tmp.unlink()
                removed.append(tmp)
        except OSError:  # gone meanwhile, or not ours to remove
            continue
    if removed:
        log.info("removed %d temporary file(s) left by an interrupted cache write in %s", len(removed), cache_dir)
    return removed


def dataset_clips(dataset: str, data_dir: str | Path | None, cache_dir: Path,
                  synthetic: dict | None = None, progress: bool = True):
    """The clips of ``dataset`` (one of :data:`DATASETS`); the synthetic corpus is written if needed.

    Generated data goes only under ``cache_dir``: nothing is ever written into a user's data folder,
    so ``data_dir`` with the synthetic corpus is an error rather than a place to write it.

    Args:
        dataset: ``synthetic``, ``gtzan`` or ``folder``.
        data_dir: the data set's root (``gtzan``, ``folder``); None for ``synthetic``.
        cache_dir: where the synthetic corpus is written, as
            ``synthetic-s<seed>-n<clips_per_genre>-d<duration>/``.
        synthetic: ``write_corpus`` arguments overriding :data:`SYNTHETIC_DEFAULTS`.
        progress: show a progress bar while the corpus is written.

    Returns:
        (list[Clip]): The clips, sorted by class then file name.

    Raises:
        DatasetError: an unknown data set, a missing or extra ``data_dir``, ``cache_dir`` inside
            ``data_dir``, or a data folder that is not laid out as expected.
    """
    if data_dir is not None and Path(data_dir).resolve() in (Path(cache_dir).resolve(), *Path(cache_dir).resolve().parents):
        raise DatasetError(f"--cache-dir {cache_dir} lies inside --data-dir {data_dir}; caches are written there, "
                           "and nothing is ever written into a data folder: choose a cache folder outside it")
    if dataset in ("gtzan", "folder"):
        if data_dir is None:
            what = "the folder holding genres/ or genres_original/" if dataset == "gtzan" else "<root> of <root>/<class>/<clip>"
            raise DatasetError(f"--dataset {dataset} needs --data-dir PATH ({what})")
        return gtzan_clips(data_dir) if dataset == "gtzan" else folder_clips(data_dir)
    if dataset == "synthetic":
        if data_dir is not None:
            raise DatasetError(f"--data-dir {data_dir} was given with the synthetic corpus, which is generated under "
                               "--cache-dir and never written into a data folder; to use the clips in that folder "
                               "add --dataset folder (any <root>/<class>/<clip> tree) or --dataset gtzan")
        spec = {**SYNTHETIC_DEFAULTS, **(synthetic or {})}
        name = "synthetic-s{seed}-n{clips_per_genre}-d{duration:g}".format(**spec)
        write_corpus(Path(cache_dir) / name, progress=progress, **spec)
        return gtzan_clips(Path(cache_dir) / name)
    raise DatasetError(f"unknown dataset {dataset!r}; choose from {', '.join(DATASETS)}")


def build_features(clips, config: FeatureConfig, cache_dir: Path, device: str = "cpu",
                   batch_size: int | None = None, progress: bool = True, tag: str = "features",
                   policy: dict | None = None, processes: int = 1,
                   init: Callable[[], object] | None = None) -> tuple[FeatureSet, bool]:
    """Load the feature table for ``clips`` from the cache, or compute and cache it.

    ``policy`` is the execution policy the caller put in force (threads, subnormals); it is stored
    with the table, with the extraction's seconds, as ``FeatureSet.extraction``. It is not part of the
    cache key: the features are the same under either subnormal policy (tested: the log compression
    adds 1e-6, far above any subnormal) and, up to float32 rounding, under any thread count (one
    thread against two: at most 2.2e-4 on log values up to 14, the quick corpus, 2026-12-02).

    ``processes`` > 1 (CPU only) shares the clips among that many spawned processes of one thread
    each, every one running ``init`` first (the caller's policy at one thread): see
    :mod:`features.processes`. The count and the workers' threads are recorded in ``extraction``.

    A damaged cache file, or one holding features of other inputs or options, is reported and rebuilt.

    Args:
        clips (Sequence[Clip]): the clips (:func:`dataset_clips`); the genres are their sorted classes.
        config: the feature options; with the inputs' fingerprint, they key the cache file
            ``<cache_dir>/<tag>-<key>.npz``.
        cache_dir: the cache folder.
        device: where the scattering runs (``cpu``, ``cuda``).
        batch_size: clips per transform call (:meth:`Scatterer.extract`; None: its default).
        progress: show a progress bar.
        tag: the cache file's prefix.
        policy: the execution policy in force (recorded in ``extraction``), or None.
        processes: scatter in this many processes (CPU, see :func:`features.processes.processes_for`).
        init: what each of those processes runs first (the caller's policy at one thread).

    Returns:
        ``(features, from_cache)``: the :class:`FeatureSet` (written to the cache when computed) and
            whether it was read from the cache.

    Raises:
        DatasetError: none of the clips could be read.

    Examples:
        The quick preset's corpus, as ``bench run`` builds it (written and scattered once, then read
        from the cache)::

            from pathlib import Path
            from features import FeatureConfig, build_features, dataset_clips

            cache = Path(".cache")
            clips = dataset_clips("synthetic", None, cache, {"clips_per_genre": 20, "duration": 5.0})
            fs, cached = build_features(clips, FeatureConfig(duration=5.0), cache, tag="features-synthetic")
            fs.shape  # (200, 59, 374): clips, valid frames of a 5 s clip, scattering channels
    """
    fp = featureset.fingerprint(clips)
    path = Path(cache_dir) / f"{tag}-{featureset.cache_key(config.to_dict(), fp)}.npz"
    remove_stale_temporaries(Path(cache_dir))
    if path.exists():
        try:
            cached = featureset.load(path)
            if cached.fingerprint != fp or cached.config != config.to_dict():  # a file copied in under this name
                what = "input files" if cached.fingerprint != fp else "feature options"
                raise CacheError(f"{path}: it holds features of other {what} than these")
            return cached, True
        except CacheError as exc:
            log.warning("rebuilding feature cache: %s", exc)
    genres = sorted({c.genre for c in clips})
    t0 = time.perf_counter()
    if processes > 1:
        x, lengths, kept, skipped, window, threads = extract_in_processes(clips, config, processes, init, progress)
        ran = {"processes": processes, "threads_per_process": threads[0] if len(threads) == 1 else threads}
    else:
        scatterer = Scatterer(config, device)
        x, lengths, kept, skipped = scatterer.extract(clips, batch_size, progress)
        window, ran = scatterer.window, {"processes": 1, "threads_per_process": torch.get_num_threads()}
    seconds = time.perf_counter() - t0
    if not kept:
        raise DatasetError(f"none of the {len(clips)} clips could be read; first problem: {skipped[0][1]}")
    labels = np.array([genres.index(c.genre) for c in kept], dtype=np.int64)
    fs = FeatureSet(x, lengths, labels, genres, [c.clip_id for c in kept], config.to_dict(), fp, skipped,
                    clip_paths=[c.rel for c in kept], frames=window.to_dict(),
                    extraction={**(policy or {}), **ran, "device": device, "seconds": round(seconds, 3),
                                "seconds_per_clip": round(seconds / len(clips), 4)})
    featureset.save(fs, path)
    return fs, False
