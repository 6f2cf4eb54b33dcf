"""Dataset sources: find the clips of a GTZAN copy, or of any ``<root>/<class>/<clip>`` folder, on disk.

Two layouts are recognised under the given root (or any folder below it):

* ``genres/<genre>/<genre>.000NN.au``             the original distribution (.au, 22.05 kHz)
* ``genres_original/<genre>/<genre>.000NN.wav``   the widely shared .wav copy

The root may also be the genre folder's parent itself (``<root>/<genre>/*.wav``).
A *folder* data set is exactly ``<root>/<class>/<clip>``: at least two class folders, any clip names.
Classes come from folder names. Hidden and system files and folders (``.DS_Store``, macOS
AppleDouble ``._x.wav``, ``__MACOSX``, ``Thumbs.db``, ...) and files whose suffix is not a format the
installed libsndfile reads are ignored silently: they are not clips, so they are not listed as skipped.
An entry named like audio that cannot be one (a broken symbolic link, a link loop, a folder named
``x.wav``) is listed, and skipped with its reason.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

__all__ = ["Clip", "AUDIO_SUFFIXES", "GTZAN_GENRES", "DatasetError", "gtzan_clips", "folder_clips", "is_hidden"]

_FORMAT_SUFFIXES = {"WAV": (".wav",), "WAVEX": (".wav",), "RF64": (".rf64",), "W64": (".w64",),
                    "AIFF": (".aiff", ".aif", ".aifc"), "AU": (".au", ".snd"), "FLAC": (".flac",),
                    "OGG": (".ogg", ".oga", ".opus"), "MP3": (".mp3",), "CAF": (".caf",)}
# the suffixes of the formats this libsndfile build reads (MP3 needs libsndfile >= 1.1)
AUDIO_SUFFIXES = tuple(sorted({x for fmt in sf.available_formats() for x in _FORMAT_SUFFIXES.get(fmt, ())}))
"""The file suffixes counted as audio (lower case, with the dot): those of the formats the installed
libsndfile reads, so it differs between machines (``.mp3`` needs libsndfile 1.1 or later)."""
_SYSTEM_NAMES = {"thumbs.db", "desktop.ini", "__macosx", "$recycle.bin", "system volume information"}
GTZAN_GENRES = ("blues", "classical", "country", "disco", "hiphop",
                "jazz", "metal", "pop", "reggae", "rock")
"""GTZAN's ten genres in its own (alphabetical) order; the synthetic corpus has the same ten."""
_LAYOUT_DIRS = ("genres", "genres_original")
_EXPECTED = ("expected <root>/genres/<genre>/<genre>.000NN.au or "
             "<root>/genres_original/<genre>/<genre>.000NN.wav (or <root>/<genre>/*.wav)")


class DatasetError(Exception):
    """The data directory is missing, empty or not laid out as expected."""


@dataclass(frozen=True)
class Clip:
    """One audio file of a data set and its class.

    Attributes:
        clip_id: GTZAN: the file stem, e.g. ``blues.00012``; a folder data set: ``<class>/<file name>``.
        genre: the class (the name of the folder that holds the file).
        path: the file.
    """

    clip_id: str  # GTZAN: file stem, e.g. "blues.00012"; folder: "<class>/<file name>"
    genre: str  # the class
    path: Path

    @property
    def rel(self) -> str:
        """``<class>/<file name>``: the clip's path relative to the data set root, as split files name it."""
        return f"{self.path.parent.name}/{self.path.name}"


def is_hidden(path: Path) -> bool:
    """Dotfiles (and AppleDouble ``._*``), and the folders and files operating systems leave behind.

    Args:
        path: a file or folder; only its name is read.

    Returns:
        True for a name starting with ``.`` or ``~$``, or one of ``Thumbs.db``, ``desktop.ini``,
            ``__MACOSX``, ``$RECYCLE.BIN``, ``System Volume Information`` (any case).
    """
    return path.name.startswith((".", "~$")) or path.name.lower() in _SYSTEM_NAMES


def _genre_dirs(folder: Path) -> list[Path]:
    """Sub-folders of ``folder`` that hold at least one audio file."""
    return sorted(d for d in folder.iterdir() if d.is_dir() and not is_hidden(d) and _audio_files(d))


def _audio_files(folder: Path) -> list[Path]:
    """Entries named like audio files. Not only regular files: a broken symbolic link, a link loop or a
    folder named ``x.wav`` is listed too, so that the extraction skips it and says why (not silently)."""
    return sorted(p for p in folder.iterdir() if not is_hidden(p) and p.suffix.lower() in AUDIO_SUFFIXES)


def _find_genre_root(root: Path) -> Path | None:
    for name in _LAYOUT_DIRS:  # the known layouts first, then the root itself, then one level down
        for candidate in (root / name, *root.glob(f"*/{name}")):
            if candidate.is_dir() and _genre_dirs(candidate):
                return candidate
    if len(_genre_dirs(root)) >= 2:
        return root
    return None


def gtzan_clips(root: str | Path) -> list[Clip]:
    """All audio clips of a GTZAN-like copy under ``root``, sorted by genre then file name.

    Args:
        root: the folder holding ``genres/`` or ``genres_original/`` (or one level above it), or the
            genre folders' parent itself.

    Returns:
        One :class:`Clip` per entry named like audio (clip id: the file stem).

    Raises:
        DatasetError: ``root`` does not exist, or no genre folder with audio files is found.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"{root}: data directory does not exist; {_EXPECTED}")
    genre_root = _find_genre_root(root)
    if genre_root is None:
        raise DatasetError(f"{root}: no genre folders with audio files found; {_EXPECTED}")
    clips = [Clip(p.stem, d.name, p) for d in _genre_dirs(genre_root) for p in _audio_files(d)]
    return clips


def folder_clips(root: str | Path) -> list[Clip]:
    """All clips of a ``<root>/<class>/<clip>`` tree, sorted by class then file name.

    Args:
        root: the folder whose sub-folders are the classes.

    Returns:
        One :class:`Clip` per entry named like audio (clip id: ``<class>/<file name>``).

    Raises:
        DatasetError: ``root`` does not exist, or fewer than two class folders hold audio files.
    """
    root = Path(root).expanduser()
    expected = f"expected <root>/<class>/<clip> with at least 2 class folders (audio: {' '.join(AUDIO_SUFFIXES)})"
    if not root.is_dir():
        raise DatasetError(f"{root}: data directory does not exist; {expected}")
    classes = _genre_dirs(root)
    if len(classes) < 2:
        found = f"only class folder {classes[0].name!r} holds" if classes else "no class folder holds"
        raise DatasetError(f"{root}: {found} audio files; {expected}")
    return [Clip(f"{d.name}/{p.name}", d.name, p) for d in classes for p in _audio_files(d)]
