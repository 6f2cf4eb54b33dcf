"""Split files: a user's own train/val/test partition, or own folds, as a two-column CSV.

Each row names one clip by its path relative to the data set root, ``<class>/<file name>``, and its
part::

    clip,part
    rock/live_at_leeds.flac,train
    rock/who_are_you.flac,test
    jazz/so_what.ogg,exclude

A part is ``train``, ``val`` or ``test`` (one fixed split; with no ``val`` rows the validation clips
are carved from ``train``, stratified, as cross-validation does), or a fold number (one split per
fold: that fold is the test set, validation is carved from the others), or ``exclude`` (left out on
purpose, e.g. GTZAN's duplicated clips). The header row is optional; ``#`` starts a comment line.
The file suffix may be left out (``blues/blues.00012``) so one file serves a ``.au`` and a ``.wav``
copy. Every usable clip must be listed once, and every listed clip must exist: anything else is an
error that names the clips (a clip named by two rows, in whatever spelling, names both lines). A
listed clip that could not be read is left out with a warning.
"""
from __future__ import annotations

import csv
import io
import logging
from pathlib import Path, PurePosixPath

import numpy as np

from .splits import Split, carve_validation

__all__ = ["PARTS", "read_split_file", "match_clips", "file_splits"]

log = logging.getLogger(__name__)

PARTS = ("train", "val", "test", "exclude")
"""The named parts a split file's row may give (or a fold number from 1)."""


def read_split_file(path: str | Path) -> dict[str, str]:
    """``{clip path: part}`` from a split file; the part is one of :data:`PARTS` or a fold number.

    Args:
        path: a UTF-8 CSV of ``clip,part`` rows (header optional, ``#`` comment lines).

    Returns:
        Clip path (``/`` separators) -> part (lower case; a fold number without leading zeros).

    Raises:
        ValueError: the file is missing, not UTF-8 text, empty, or has a malformed row, an unknown part,
            a fold number below 1 or a clip named twice; the message names the line.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--split-file {path}: no such file")
    rows: dict[str, str] = _Rows()
    first = True
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"--split-file {path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as a UTF-8 "
                         "CSV file") from None
    if "\0" in text:
        raise ValueError(f"--split-file {path}: holds NUL bytes: a binary or UTF-16 file? Save it as a UTF-8 CSV file")
    with io.StringIO(text, newline="") as f:
        for line, row in enumerate(csv.reader(f), start=1):
            row = [c.strip() for c in row]
            if not any(row) or row[0].startswith("#"):
                continue
            header, first = first and [c.lower() for c in row] == ["clip", "part"], False
            if header:
                continue
            if len(row) != 2 or not row[0]:
                raise ValueError(f"--split-file {path}, line {line}: expected 'clip,part', got {','.join(row)!r}")
            clip, part = PurePosixPath(row[0].replace("\\", "/")).as_posix(), row[1].lower()
            if part not in PARTS and not part.lstrip("-").isdigit():
                raise ValueError(f"--split-file {path}, line {line}: part {row[1]!r} is not "
                                 f"train, val, test, exclude or a fold number")
            if part not in PARTS and int(part) < 1:
                raise ValueError(f"--split-file {path}, line {line}: fold {row[1]!r}: fold numbers start at 1")
            if clip in rows:
                raise ValueError(f"--split-file {path}: lines {rows.lines[clip]} and {line} both name {clip}; "
                                 "give each clip one row")
            rows[clip] = str(int(part)) if part not in PARTS else part  # "01" and "1" are one fold
            rows.lines[clip] = line
    if not rows:
        raise ValueError(f"--split-file {path}: no clips listed")
    return rows


def _two_classes(path, part: str, labels: np.ndarray) -> None:
    """Every classifier (the units' and the baseline's) needs at least two classes to train on."""
    if len(np.unique(labels)) < 2:
        raise ValueError(f"--split-file {path}: {part} holds clips of one class only; a classifier needs at least "
                         "two to train on")


class _Rows(dict):
    """``{clip: part}`` that also knows each clip's line in the file (``lines``), for error messages."""

    def __init__(self):
        super().__init__()
        self.lines: dict[str, int] = {}


def _names(clips: list[str], limit: int = 10) -> str:
    more = f" and {len(clips) - limit} more" if len(clips) > limit else ""
    return ", ".join(clips[:limit]) + more


def match_clips(rows: dict[str, str], clip_paths: list[str], skipped_paths: list[str], source: str):
    """Part of each kept clip (by index); parts of listed clips that were skipped are dropped with a warning.

    A row may name a clip with or without its file suffix.

    Args:
        rows: :func:`read_split_file`'s result.
        clip_paths: ``<class>/<file name>`` of the clips kept, in the feature table's order.
        skipped_paths: the same of the clips that could not be read.
        source: the file's name, for messages.

    Returns:
        (list[str]): The part of each kept clip, in ``clip_paths``' order.

    Raises:
        ValueError: a listed clip is not in the data set, a clip is named twice (in any spelling), a row
            matches two clips, or a clip of the data set is not listed.
    """
    def keys(rel: str) -> tuple[str, str]:  # a row may name the clip with or without its suffix
        return rel, str(PurePosixPath(rel).with_suffix(""))

    found: dict[str, str] = {}  # row key -> the clip it matched
    for rel in clip_paths + skipped_paths:
        for k in keys(rel):
            if k in rows:
                if k in found and found[k] != rel:
                    raise ValueError(f"--split-file {source}: {k} matches both {found[k]} and {rel}; "
                                     "give the file suffix")
                found[k] = rel
    absent = [k for k in rows if k not in found]
    if absent:
        raise ValueError(f"--split-file {source}: {len(absent)} listed clip(s) are not in the data set: "
                         f"{_names(absent)}")
    named_by: dict[str, list[str]] = {}  # clip -> the rows that name it (with and without suffix: two spellings)
    for k in rows:
        named_by.setdefault(found[k], []).append(k)
    twice = {rel: ks for rel, ks in named_by.items() if len(ks) > 1}
    if twice:
        rel, ks = next(iter(twice.items()))
        lines = getattr(rows, "lines", {})
        where = " and ".join(f"line {lines[k]} ({k})" if k in lines else k for k in ks)
        raise ValueError(f"--split-file {source}: {where} both name the clip {rel}; give each clip one row"
                         + (f" ({len(twice) - 1} more clip(s) named twice)" if len(twice) > 1 else ""))
    part_of = {found[k]: p for k, p in rows.items()}
    unlisted = [rel for rel in clip_paths if rel not in part_of]
    if unlisted:
        raise ValueError(f"--split-file {source}: {len(unlisted)} clip(s) of the data set are not listed "
                         f"(give each a part, or 'exclude'): {_names(unlisted)}")
    dropped = [rel for rel in skipped_paths if part_of.get(rel, "exclude") != "exclude"]
    if dropped:
        log.warning("split file %s: leaving out unreadable clip(s) %s", source, _names(dropped))
    return [part_of[rel] for rel in clip_paths]


def file_splits(path: str | Path, clip_paths: list[str], labels: np.ndarray, skipped_paths: list[str],
                seed: int = 0, val_fraction: float = 0.1) -> list[Split]:
    """The splits a split file describes, as indices into the feature table's clips (``clip_paths``).

    Args:
        path: the split file.
        clip_paths: ``<class>/<file name>`` of the feature table's clips.
        labels: their class indices.
        skipped_paths: the clips that could not be read (left out, with a warning if listed).
        seed: the seed of the validation draws (and the splits' ``seed``).
        val_fraction: the share of training carved out for validation when the file has no ``val`` rows.

    Returns:
        One split for ``train``/``val``/``test`` rows; one per fold number for fold rows (that fold the
            test part, validation carved from the others).

    Raises:
        ValueError: the file does not match the clips, mixes fold numbers with named parts, names a
            single fold, lacks training or test clips, or leaves a training part with one class.
    """
    parts = np.array(match_clips(read_split_file(path), clip_paths, skipped_paths, str(path)))
    labels = np.asarray(labels)
    used = parts[parts != "exclude"]
    folds = sorted({int(p) for p in used if p not in PARTS})
    if folds and len(folds) != len(set(used)):
        raise ValueError(f"--split-file {path}: mixes fold numbers with train/val/test; use one or the other")
    idx = lambda mask: np.flatnonzero(mask)  # noqa: E731
    if folds:
        if len(folds) < 2:
            raise ValueError(f"--split-file {path}: only fold {folds[0]}; folds need at least two")
        out = []
        for f, fold in enumerate(folds):
            test, rest = idx(parts == str(fold)), idx((parts != str(fold)) & (parts != "exclude"))
            train, val = carve_validation(rest, labels, val_fraction, seed * 1000 + f)
            _two_classes(path, f"the training part of fold {fold}", labels[train])
            out.append(Split(0, f, seed, tuple(map(int, train)), tuple(map(int, val)), tuple(map(int, test))))
        return out
    train, val, test = idx(parts == "train"), idx(parts == "val"), idx(parts == "test")
    if len(train) == 0 or len(test) == 0:
        raise ValueError(f"--split-file {path}: needs clips in both train and test "
                         f"(found {len(train)} train, {len(test)} test)")
    if len(val) == 0:
        train, val = carve_validation(train, labels, val_fraction, seed)
    _two_classes(path, "its training part", labels[train])
    return [Split(0, 0, seed, tuple(map(int, train)), tuple(map(int, val)), tuple(map(int, test)))]
