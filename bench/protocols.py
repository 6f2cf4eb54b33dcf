"""Evaluation protocols: ``cv`` (the paper's repeated stratified k-fold) and ``filtered``.

``filtered`` is the artist-filtered GTZAN partition of Kereliuk, Sturm & Larsen ("Deep learning and
music adversaries", 2015; after Sturm's analysis of GTZAN's faults): 443 training, 197 validation and
290 test clips, no artist on both sides, 70 duplicated or faulty clips left out. It is the same
partition torchaudio's ``GTZAN(subset=...)`` and jordipons/sklearn-audio-transfer-learning use, written
here as clip-number ranges per genre. Random folds put one artist's songs in train and test alike
and inflate GTZAN accuracy; a reader should see both numbers.
"""
from __future__ import annotations

import logging

from features import DatasetError, FeatureSet

from .config import RunConfig
from .splits import Split, cv_splits, fixed_split

__all__ = ["FILTERED", "filtered_ids", "protocol_splits"]

log = logging.getLogger(__name__)

FILTERED = {
    "train": {
        "blues": "29-49 73-97", "classical": "30-33 43-48 50-67 80-99", "country": "19-26 28-29 65-99",
        "disco": "5 15-20 22-37 39-45 47 49 53-54 56-57 59 61 70 73-74 89",
        "hiphop": "2-25 28-29 31-38 41-42 55-61 77-80", "jazz": "0-1 11-24 41 47-72",
        "metal": "2-3 5 21 24 35 46-57 59-66 69 71-72 79-80 84 86 89-99",
        "pop": "2-9 11-12 16-20 23-29 31-36 38-42 44 46 49-50 80 97-99",
        "reggae": "0-2 4 6 9 11-12 14-32 42-45 49-51 54-60 63 69", "rock": "0-9 16-26 57-70 91-99",
    },
    "val": {
        "blues": "0-11 50-60", "classical": "0-10 68-76", "country": "0-7 9-18 27 41-42 45 49",
        "disco": "0 2-4 6-14 46 48 52 67-68 72 75 90 95", "hiphop": "81-98", "jazz": "2-10 25-32",
        "metal": "0-1 6-11 16-20 36-37 68 76-77 81-82", "pop": "10 53 55 58-62 81 83-86",
        "reggae": "61-62 70 72 74 76-78 85 92-99", "rock": "38 49-56 71-85",
    },
    "test": {
        "blues": "12-28 61-72 98-99", "classical": "11-29 34-41 49 77-79",
        "country": "30-40 43-44 46-48 50-51 53-64", "disco": "1 21 58 62-66 69 76-88 91-94 96-97 99",
        "hiphop": "0 26-27 30 40 43-45 51-54 62-75 99", "jazz": "73-99",
        "metal": "12-15 22-23 25-33 38-39 67 70 73-75 78 83 85 87-88",
        "pop": "0-1 13-14 43 63-66 69-79 82 88-96", "reggae": "34-40 46-48 52-53 64-68 71 79 82-84 87-90",
        "rock": "10-15 27-37 39-48 86-90",
    },
}


def filtered_ids(part: str) -> list[str]:
    """Clip ids (``genre.000NN``) of one part of the filtered partition."""
    ids = []
    for genre, ranges in FILTERED[part].items():
        for r in ranges.split():
            lo, _, hi = r.partition("-")
            ids += [f"{genre}.{n:05d}" for n in range(int(lo), int(hi or lo) + 1)]
    return ids


def protocol_splits(cfg: RunConfig, fs: FeatureSet) -> list[Split]:
    """The splits ``cfg.protocol`` asks for; a data set that cannot support them is a DatasetError."""
    try:
        return _splits(cfg, fs)
    except ValueError as exc:
        raise DatasetError(str(exc)) from exc


def _splits(cfg: RunConfig, fs: FeatureSet) -> list[Split]:
    if cfg.protocol == "cv":
        return cv_splits(fs.labels, cfg.folds, cfg.repeats, cfg.seed, cfg.val_fraction)
    if cfg.protocol != "filtered":
        raise ValueError(f"unknown protocol {cfg.protocol!r}; choose cv or filtered")
    skipped = {path.rsplit("/", 1)[-1].rsplit(".", 1)[0] for path, _ in fs.skipped}
    parts = []
    for part in ("train", "val", "test"):
        ids = filtered_ids(part)
        dropped = [c for c in ids if c in skipped]
        if dropped:
            log.warning("filtered %s list: leaving out unreadable clip(s) %s", part, ", ".join(dropped))
        parts.append([c for c in ids if c not in skipped])
    return [fixed_split(fs.clip_ids, *parts)]
