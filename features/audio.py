"""Audio loading: any file soundfile reads (.wav, .au, .flac, ...) -> mono float32 at a fixed rate and length.

Resampling uses scipy's polyphase filter (``resample_poly``), which applies a proper anti-aliasing
low-pass filter; the ratio is reduced by the greatest common divisor (22050 -> 16000 is 320/441).
"""
from __future__ import annotations

from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from .headers import declared_frames

__all__ = ["AudioError", "Waveform", "load_audio", "fit_length", "TRUNCATED_BELOW"]

TRUNCATED_BELOW = 0.9  # decoded / declared length under which a file counts as truncated
"""A file whose decoded samples fall below this share of what its header declares (within the part
read) is refused as truncated by :func:`load_audio`."""


class AudioError(Exception):
    """A clip that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Waveform:
    """A clip's audio at the requested rate and length.

    Attributes:
        samples: ``(n_samples,)`` float32, mono, exactly the requested length.
        n_valid: how many of them hold real audio; the rest is zero padding.
    """

    samples: np.ndarray  # (n_samples,) float32, mono, exactly the requested length
    n_valid: int  # samples holding real audio; the rest is zero padding


READ_MARGIN = 4096  # input samples read past the kept length: resample_poly's filter reaches about 10 x max(up, down)
# output-rate samples, i.e. a few dozen input samples at GTZAN's rates


def fit_length(x: np.ndarray, n: int) -> Waveform:
    """Crop ``x`` to ``n`` samples or pad it with zeros at the end.

    Args:
        x: ``(m,)`` samples.
        n: the length wanted.

    Returns:
        The :class:`Waveform` of ``n`` float32 samples, ``n_valid = min(m, n)``.
    """
    if len(x) >= n:
        return Waveform(np.ascontiguousarray(x[:n], dtype=np.float32), n)
    out = np.zeros(n, dtype=np.float32)
    out[: len(x)] = x
    return Waveform(out, len(x))


def load_audio(path: str | Path, sample_rate: int = 16000, duration: float = 30.0,
               min_seconds: float = 0.0) -> Waveform:
    """Read ``path``, downmix to mono, resample to ``sample_rate`` and pad/crop to ``duration`` seconds.

    Only the part that is kept is decoded (plus the resampling filter's reach), so a long file costs
    what a short one does.

    Args:
        path: any file soundfile reads (.wav, .au, .flac, ...).
        sample_rate: the rate wanted, Hz.
        duration: the length wanted, seconds.
        min_seconds: refuse a file holding less audio than this.

    Returns:
        The :class:`Waveform`: ``round(sample_rate * duration)`` samples, ``n_valid`` of them real audio.

    Raises:
        AudioError: the file is missing, unreadable, empty, truncated, shorter than ``min_seconds``,
            or holds non-finite samples.
    """
    path = Path(path)
    if not path.is_file():
        if path.is_dir():
            raise AudioError(f"{path}: a folder, not an audio file")
        if path.is_symlink():
            raise AudioError(f"{path}: a symbolic link that leads to no file (broken, or a loop)")
        raise AudioError(f"{path}: no such file")
    try:
        info = sf.info(str(path))
        # libsndfile falls back to headerless u-law for a damaged .au: that would be noise, not audio
        if info.format == "RAW":
            raise ValueError("no valid audio header")
        # only what is kept (and the resampling filter's reach beyond it): a 1-hour file is not decoded whole
        # to keep 30 s; the kept samples are the same as from the whole file (the filter is finite)
        wanted = int(np.ceil(max(duration, min_seconds) * info.samplerate)) + max(READ_MARGIN, info.samplerate // 10)
        data, rate = sf.read(str(path), frames=wanted, dtype="float32", always_2d=True)  # (n, channels)
    except Exception as exc:  # soundfile raises LibsndfileError, RuntimeError, TypeError...
        raise AudioError(f"{path}: cannot decode audio ({exc})") from exc
    declared = max(info.frames, declared_frames(path) or 0)  # libsndfile may trust the file size instead
    if data.shape[0] < TRUNCATED_BELOW * min(declared, wanted):
        raise AudioError(f"{path}: truncated: header says {declared / rate:.1f} s, "
                         f"{data.shape[0] / rate:.3f} s decoded")
    if data.shape[0] == 0:
        raise AudioError(f"{path}: file holds no audio samples")
    if data.shape[0] < min_seconds * rate:
        raise AudioError(f"{path}: too short: {data.shape[0] / rate:.2f} s of audio, "
                         f"the minimum is {min_seconds:g} s (--min-seconds)")
    if not np.isfinite(data).all():
        raise AudioError(f"{path}: audio holds NaN or infinite samples")
    mono = data.mean(axis=1)  # (n,)
    if rate != sample_rate:
        g = gcd(int(rate), int(sample_rate))
        mono = resample_poly(mono, sample_rate // g, int(rate) // g).astype(np.float32)
    return fit_length(mono, int(round(sample_rate * duration)))
