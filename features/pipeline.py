"""One call from a dataset name to the cached feature table: sources -> audio -> scattering -> cache."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from . import featureset
from .featureset import CacheError, FeatureSet
from .scattering import FeatureConfig, Scatterer
from .sources import DatasetError, gtzan_clips
from .synthetic import write_corpus

__all__ = ["SYNTHETIC_DEFAULTS", "dataset_clips", "build_features"]

log = logging.getLogger(__name__)


# The embedded corpus by default: 10 genres x 10 clips of 30 s (keys are write_corpus's arguments).
SYNTHETIC_DEFAULTS = {"clips_per_genre": 10, "duration": 30.0, "seed": 0}


def dataset_clips(dataset: str, data_dir: str | Path | None, cache_dir: Path,
                  synthetic: dict | None = None, progress: bool = True):
    """The clips of ``dataset`` ('synthetic' or 'gtzan'), writing the synthetic corpus if needed."""
    if dataset == "gtzan":
        if data_dir is None:
            raise DatasetError("--dataset gtzan needs --data-dir PATH (the folder holding genres/ or genres_original/)")
        return gtzan_clips(data_dir)
    if dataset == "synthetic":
        spec = {**SYNTHETIC_DEFAULTS, **(synthetic or {})}
        name = "synthetic-s{seed}-n{clips_per_genre}-d{duration:g}".format(**spec)
        root = Path(data_dir) if data_dir is not None else cache_dir / name
        write_corpus(root, progress=progress, **spec)
        return gtzan_clips(root)
    raise DatasetError(f"unknown dataset {dataset!r}; choose 'synthetic' or 'gtzan'")


def build_features(clips, config: FeatureConfig, cache_dir: Path, device: str = "cpu",
                   batch_size: int | None = None, progress: bool = True, tag: str = "features") -> tuple[FeatureSet, bool]:
    """Load the feature table for ``clips`` from the cache, or compute and cache it.

    Returns ``(features, from_cache)``. A damaged cache file is reported and rebuilt.
    """
    fp = featureset.fingerprint(clips)
    path = Path(cache_dir) / f"{tag}-{featureset.cache_key(config.to_dict(), fp)}.npz"
    if path.exists():
        try:
            return featureset.load(path), True
        except CacheError as exc:
            log.warning("rebuilding feature cache: %s", exc)
    genres = sorted({c.genre for c in clips})
    x, lengths, kept, skipped = Scatterer(config, device).extract(clips, batch_size, progress)
    if not kept:
        raise DatasetError(f"none of the {len(clips)} clips could be read; first problem: {skipped[0][1]}")
    labels = np.array([genres.index(c.genre) for c in kept], dtype=np.int64)
    fs = FeatureSet(x, lengths, labels, genres, [c.clip_id for c in kept], config.to_dict(), fp, skipped)
    featureset.save(fs, path)
    return fs, False
