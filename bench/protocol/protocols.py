"""Evaluation protocols: ``cv`` (the paper's repeated stratified k-fold), ``filtered`` and ``file``.

``filtered`` is the artist-filtered GTZAN partition of Kereliuk, Sturm & Larsen ("Deep learning and
music adversaries", 2015; after Sturm's analysis of GTZAN's faults): 443 training, 197 validation and
290 test clips, no artist on both sides, 70 duplicated or faulty clips left out. It is the same
partition torchaudio's ``GTZAN(subset=...)`` and jordipons/sklearn-audio-transfer-learning use, shipped
as a split file (``bench/protocol/data/gtzan_filtered.csv``). Random folds put one artist's songs in train and
test alike and inflate GTZAN accuracy; a reader should see both numbers.

``file`` reads a user's split file (``--split-file``; format in ``splitfile.py``).
"""
from __future__ import annotations

from pathlib import Path

from features import DatasetError, FeatureSet

from ..config import RunConfig
from .splitfile import file_splits, read_split_file
from .splits import Split, cv_splits

__all__ = ["FILTERED_FILE", "PROTOCOLS", "filtered_ids", "protocol_splits", "check_splits",
           "check_listing", "split_file_path"]

FILTERED_FILE = Path(__file__).parent / "data" / "gtzan_filtered.csv"
"""The split file of the artist-filtered GTZAN partition (``--protocol filtered``), shipped with the package."""
PROTOCOLS = ("cv", "filtered", "file")
"""The choices of ``--protocol``."""


def filtered_ids(part: str) -> list[str]:
    """Clip ids (``genre.000NN``) of one part of the filtered partition.

    Args:
        part: ``train``, ``val``, ``test`` or ``exclude``.

    Returns:
        The ids, in the file's order.
    """
    return [clip.split("/")[1] for clip, p in read_split_file(FILTERED_FILE).items() if p == part]


def split_file_path(cfg: RunConfig) -> Path:
    """The split file of a ``filtered`` or ``file`` run.

    Args:
        cfg: the configuration.

    Returns:
        :data:`FILTERED_FILE` for ``filtered``, else ``cfg.split_file``.

    Raises:
        ValueError: protocol ``file`` without a split file.
    """
    if cfg.protocol == "filtered":
        return FILTERED_FILE
    if cfg.split_file is None:
        raise ValueError("protocol 'file' needs --split-file FILE")
    return Path(cfg.split_file)


def check_splits(cfg: RunConfig, labels, clip_paths: list[str]) -> None:
    """Before any feature is computed: the splits the run will make from the data set's listing (its
    classes) can be made, so --folds, --val-fraction or a split file that cannot work fails now, naming
    the option, not after the extraction (the run checks again on the clips that were readable).

    Args:
        cfg: the configuration.
        labels (ArrayLike): the class index of every clip listed.
        clip_paths: ``<class>/<file name>`` of every clip listed (matched against a split file).

    Raises:
        DatasetError: the splits cannot be made; the message names the option.
    """
    import numpy as np

    labels = np.asarray(labels)
    try:
        if cfg.protocol == "cv":
            cv_splits(labels, cfg.folds, cfg.repeats, cfg.seed, cfg.val_fraction)
        else:
            file_splits(split_file_path(cfg), clip_paths, labels, [], cfg.seed, cfg.val_fraction)
    except ValueError as exc:
        raise DatasetError(str(exc)) from exc


def check_listing(cfg: RunConfig, cache_dir) -> None:
    """Every check of the splits that needs no feature: from the data set's listing (or, for the synthetic
    corpus, its configured size), before anything is extracted; what ``bench run --dry-run`` reports too.

    Args:
        cfg: the configuration.
        cache_dir (str | Path): the cache folder (a data set's listing needs no audio read, and writes
            nothing).

    Raises:
        DatasetError: the data set cannot be listed, or the splits cannot be made from it.
    """
    import numpy as np

    if cfg.dataset == "synthetic":
        from features.synthetic import GTZAN_GENRES

        labels, paths = np.repeat(np.arange(len(GTZAN_GENRES)), cfg.clips_per_genre), []
    else:
        from features import dataset_clips

        clips = dataset_clips(cfg.dataset, cfg.data_dir, cache_dir)
        genres = sorted({c.genre for c in clips})
        labels, paths = np.array([genres.index(c.genre) for c in clips]), [c.rel for c in clips]
    check_splits(cfg, labels, paths)  # a split file is read and matched to the clips found on disk here


def protocol_splits(cfg: RunConfig, fs: FeatureSet) -> list[Split]:
    """The splits ``cfg.protocol`` asks for; a data set that cannot support them is a DatasetError.

    Args:
        cfg: the configuration (``protocol``, ``folds``, ``repeats``, ``seed``, ``val_fraction``,
            ``split_file``).
        fs: the feature table (its labels; for a split file, its clip paths and skipped clips).

    Returns:
        The splits: ``repeats * folds`` for ``cv``; one, or one per fold number, for a split file.

    Raises:
        DatasetError: the data set cannot support them (too few clips per class, a split file that does
            not match the clips).
    """
    try:
        return _splits(cfg, fs)
    except ValueError as exc:
        raise DatasetError(str(exc)) from exc


def _splits(cfg: RunConfig, fs: FeatureSet) -> list[Split]:
    if cfg.protocol == "cv":
        return cv_splits(fs.labels, cfg.folds, cfg.repeats, cfg.seed, cfg.val_fraction)
    if cfg.protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {cfg.protocol!r}; choose from {', '.join(PROTOCOLS)}")
    path = split_file_path(cfg)
    skipped = ["/".join(Path(p).parts[-2:]) for p, _ in fs.skipped]  # "<class>/<file name>"
    return file_splits(path, fs.clip_paths, fs.labels, skipped, cfg.seed, cfg.val_fraction)
