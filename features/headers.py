"""What a file's header promises: the sample frames of WAV and AU files.

libsndfile trusts the file size over the header for these formats: a .wav cut after 100 bytes opens
as a valid 28-frame file, although its header says 30 s. Reading the declared data size ourselves lets
the loader tell a truncated file from a short one. Other formats (FLAC, MP3, Ogg) already report the
header's length through ``soundfile.info``, and a damaged stream fails to decode.
"""
from __future__ import annotations

import struct
from pathlib import Path

__all__ = ["declared_frames"]

_AU_BYTES = {1: 1, 2: 1, 3: 2, 4: 3, 5: 4, 6: 4, 7: 8, 27: 1}  # AU encoding -> bytes per sample
_UNKNOWN = 0xFFFFFFFF  # "size not known" (streamed files)


def declared_frames(path: str | Path) -> int | None:
    """Frames the header of a WAV (RIFF) or AU file declares, or None if it declares none we can read.

    Args:
        path: an audio file; only its first 4096 bytes are read.

    Returns:
        The sample frames (samples per channel) the header declares; None for another format, an
            unknown size (a streamed file) or an encoding whose sample width is not known.
    """
    with open(path, "rb") as f:
        head = f.read(4096)
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return _wav_frames(head)
    if head[:4] == b".snd" and len(head) >= 24:
        _, size, encoding, _, channels = struct.unpack(">IIIII", head[4:24])
        width = _AU_BYTES.get(encoding)
        if size == _UNKNOWN or not width or not channels:
            return None
        return size // (width * channels)
    return None


def _wav_frames(head: bytes) -> int | None:
    pos, block_align = 12, None
    while pos + 8 <= len(head):
        chunk, size = head[pos: pos + 4], struct.unpack("<I", head[pos + 4: pos + 8])[0]
        if chunk == b"fmt " and pos + 22 <= len(head):
            block_align = struct.unpack("<H", head[pos + 20: pos + 22])[0]
        elif chunk == b"data":
            if not block_align or size in (0, _UNKNOWN):
                return None
            return size // block_align
        pos += 8 + size + (size & 1)  # chunks are word aligned
    return None
