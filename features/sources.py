"""Dataset sources: find the clips of a GTZAN copy on disk.

Two layouts are recognised under the given root (or any folder below it):

* ``genres/<genre>/<genre>.000NN.au``             the original distribution (.au, 22.05 kHz)
* ``genres_original/<genre>/<genre>.000NN.wav``   the widely shared .wav copy

The root may also be the genre folder's parent itself (``<root>/<genre>/*.wav``).
Genres come from folder names; files whose suffix is not audio are ignored.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["Clip", "AUDIO_SUFFIXES", "GTZAN_GENRES", "DatasetError", "gtzan_clips"]

AUDIO_SUFFIXES = (".wav", ".au", ".flac", ".ogg", ".aiff", ".aif")
GTZAN_GENRES = ("blues", "classical", "country", "disco", "hiphop",
                "jazz", "metal", "pop", "reggae", "rock")
_LAYOUT_DIRS = ("genres", "genres_original")
_EXPECTED = ("expected <root>/genres/<genre>/<genre>.000NN.au or "
             "<root>/genres_original/<genre>/<genre>.000NN.wav (or <root>/<genre>/*.wav)")


class DatasetError(Exception):
    """The data directory is missing, empty or not laid out as expected."""


@dataclass(frozen=True)
class Clip:
    clip_id: str  # file stem, e.g. "blues.00012"
    genre: str
    path: Path


def _genre_dirs(folder: Path) -> list[Path]:
    """Sub-folders of ``folder`` that hold at least one audio file."""
    return sorted(d for d in folder.iterdir() if d.is_dir() and _audio_files(d))


def _audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


def _find_genre_root(root: Path) -> Path | None:
    for name in _LAYOUT_DIRS:  # the known layouts first, then the root itself, then one level down
        for candidate in (root / name, *root.glob(f"*/{name}")):
            if candidate.is_dir() and _genre_dirs(candidate):
                return candidate
    if len(_genre_dirs(root)) >= 2:
        return root
    return None


def gtzan_clips(root: str | Path) -> list[Clip]:
    """All audio clips of a GTZAN-like copy under ``root``, sorted by genre then file name."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"{root}: data directory does not exist; {_EXPECTED}")
    genre_root = _find_genre_root(root)
    if genre_root is None:
        raise DatasetError(f"{root}: no genre folders with audio files found; {_EXPECTED}")
    clips = [Clip(p.stem, d.name, p) for d in _genre_dirs(genre_root) for p in _audio_files(d)]
    return clips
