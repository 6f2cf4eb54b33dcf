"""The feature table every unit reads, and its on-disk cache (atomic, checksummed .npz)."""
from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .atomic import atomic_write
from .sources import Clip

__all__ = ["FeatureSet", "CacheError", "fingerprint", "cache_key", "save", "load"]

FORMAT_VERSION = 2  # 2: only frames padding cannot reach are stored; clip paths and frame window kept


class CacheError(Exception):
    """A cache file that is truncated, corrupt or of another format version."""


@dataclass
class FeatureSet:
    """The feature table every unit of a run reads, as built or read from its cache file.

    ``len(fs)`` is the number of clips.

    Attributes:
        x: ``(n_clips, frames, channels)`` float32 log-scattering features; a short clip's frames after
            its last valid one are padding.
        lengths: ``(n_clips,)`` int64 valid (non-padding) frames per clip.
        labels: ``(n_clips,)`` int64 index into ``genres``.
        genres: the class names, sorted.
        clip_ids: each clip's id (:attr:`features.sources.Clip.clip_id`).
        config: the ``FeatureConfig`` that produced ``x``, as a dict.
        fingerprint: hash of the input files' paths, sizes and modification times (:func:`fingerprint`).
        skipped: ``(path, reason)`` of every clip that could not be used.
        clip_paths: ``<class>/<file name>`` of each clip, as split files name them.
        frames: the ``FrameWindow`` (hop, offset, support, first frame kept), as a dict.
        extraction: how it was computed: policy, processes and threads, device, seconds.
        path: the cache file it was read from or written to (None before either).
    """

    x: np.ndarray  # (n_clips, frames, channels) float32, log-scattering
    lengths: np.ndarray  # (n_clips,) int64, valid (non-padding) frames per clip
    labels: np.ndarray  # (n_clips,) int64, index into ``genres``
    genres: list[str]
    clip_ids: list[str]
    config: dict  # the FeatureConfig that produced ``x``
    fingerprint: str  # of the input files
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    clip_paths: list[str] = field(default_factory=list)  # "<class>/<file name>", as split files name clips
    frames: dict = field(default_factory=dict)  # the FrameWindow: hop, offset, support, first frame kept
    extraction: dict = field(default_factory=dict)  # how it was computed: threads, subnormals, seconds
    path: Path | None = None  # cache file it was read from or written to

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(n_clips, frames, channels)``."""
        return tuple(self.x.shape)


def fingerprint(clips: Sequence[Clip]) -> str:
    """Hash of each input file's path, size and modification time.

    Args:
        clips: the clips, in order (the order changes the hash).

    Returns:
        A SHA-256 hex digest; a file that cannot be read enters as unreadable, so it still counts.
    """
    h = hashlib.sha256()
    for c in clips:
        try:
            st = c.path.stat()
            h.update(f"{c.path.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        except (OSError, RuntimeError) as exc:  # a broken link or a link loop: it will be skipped, said so
            h.update(f"{c.path.absolute()}|unreadable {getattr(exc, 'errno', 'loop')}\n".encode())
    return h.hexdigest()


def cache_key(config: dict, input_fingerprint: str) -> str:
    """The name of a feature table's cache file, from everything that decides its values.

    Args:
        config: the ``FeatureConfig`` as a dict.
        input_fingerprint: the inputs' :func:`fingerprint`.

    Returns:
        20 hex digits of a hash of both and the cache format's version.
    """
    blob = json.dumps({"config": config, "inputs": input_fingerprint, "v": FORMAT_VERSION}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _checksum(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).data)
    return h.hexdigest()


def save(fs: FeatureSet, path: Path) -> None:
    """Write atomically: a temporary file in the same folder, then a rename.

    Args:
        fs: the table; its ``path`` is set to ``path``.
        path: the ``.npz`` file (its folder is created if needed); a checksum of the arrays is stored.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"version": FORMAT_VERSION, "genres": fs.genres, "clip_ids": fs.clip_ids, "config": fs.config,
            "fingerprint": fs.fingerprint, "skipped": fs.skipped, "clip_paths": fs.clip_paths, "frames": fs.frames,
            "extraction": fs.extraction, "checksum": _checksum(fs.x, fs.lengths, fs.labels)}
    with atomic_write(path, "wb") as f:
        np.savez(f, x=fs.x, lengths=fs.lengths, labels=fs.labels, meta=np.array(json.dumps(meta)))
    fs.path = path


def load(path: Path) -> FeatureSet:
    """Read a cache file; any sign of damage raises :class:`CacheError`.

    Args:
        path: a file written by :func:`save`.

    Returns:
        The :class:`FeatureSet`, its ``path`` set.

    Raises:
        CacheError: the file cannot be read, is of another format version, or its arrays do not
            match their checksum.
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            x, lengths, labels = z["x"], z["lengths"], z["labels"]
            meta = json.loads(str(z["meta"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise CacheError(f"{path}: unreadable feature cache ({exc})") from exc
    if meta.get("version") != FORMAT_VERSION:
        raise CacheError(f"{path}: cache format {meta.get('version')} != {FORMAT_VERSION}")
    if meta.get("checksum") != _checksum(x, lengths, labels):
        raise CacheError(f"{path}: checksum mismatch, the cache file is corrupt")
    return FeatureSet(x, lengths, labels, meta["genres"], meta["clip_ids"], meta["config"],
                      meta["fingerprint"], [tuple(s) for s in meta["skipped"]], meta["clip_paths"], meta["frames"],
                      meta.get("extraction", {}), path)
