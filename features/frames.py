"""Which scattering frames padding cannot reach.

A scattering frame is a weighted sum over a stretch of audio, not a point: frame t of a second-order
coefficient is ``|| x * psi1 | * psi2 | * phi`` read at the frame's centre. Because the modulus is
1-Lipschitz, changing the audio at sample s changes frame t by at most ``|dx|`` times the envelope
``|psi1| * |psi2| * |phi|`` (convolution of the filters' absolute impulse responses) at ``t - s``. We take
that envelope for the widest first- and second-order wavelets (a worst case: lower orders have narrower
envelopes) and call its *support* the half-width outside which it holds at most ``SUPPORT_TAIL`` of its
mass on one side. A frame is **valid** when its centre +- support lies inside real audio: neither the
zeros that pad a short clip to the fixed length nor kymatio's own reflection padding at either end of
the signal reach it beyond that tail.

With the defaults (16 kHz, J = 10, Q = 8, T = 2**J) the support is 9608 samples (0.60 s, 9.4 frames):
a 30 s clip keeps frames 10..458 (449 of kymatio's 469; 10 lost at each end), a 17.3 s clip the first
251 of those (kymatio frame t is centred on sample 384 + 1024 t).
The tail 1e-4 was checked against the same music continued instead of padded: every valid frame agrees
within 1e-2 in log-scattering units (tests/test_valid_frames.py); frames that do differ by more than
1e-2 sit within 6.5k samples of the cut, so the margin is about 3k samples.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve

__all__ = ["SUPPORT_TAIL", "FrameWindow", "support_samples", "frame_window"]

SUPPORT_TAIL = 1e-4  # envelope mass allowed beyond the support, on one side
"""The share of a frame's envelope mass allowed beyond its support, on one side: what "padding cannot
reach a valid frame" tolerates (checked against real continuations in ``tests/test_valid_frames.py``)."""


def _envelope(h_f) -> np.ndarray:
    """|impulse response| of a filter given in the Fourier domain, centred."""
    h_f = h_f.detach().cpu().numpy() if hasattr(h_f, "detach") else np.asarray(h_f)
    return np.fft.fftshift(np.abs(np.fft.ifft(h_f.ravel())))


def support_samples(phi_f, psi1_f: list, psi2_f: list, tail: float = SUPPORT_TAIL) -> int:
    """Half-width in samples of ``|phi| * |widest psi1| * |widest psi2|`` at one-sided mass ``tail``.

    Args:
        phi_f (dict): kymatio's low-pass filter as built (``transform.phi_f``, at full resolution).
        psi1_f: its first-order wavelets (``transform.psi1_f``); the widest in time is used.
        psi2_f: its second-order wavelets (``transform.psi2_f``); the widest in time is used.
        tail: the envelope mass allowed beyond the support, on one side.

    Returns:
        The support in samples.
    """
    widest = lambda bank: min(bank, key=lambda f: f["sigma"])["levels"][0]  # noqa: E731 (narrowest in frequency)
    env = _envelope(phi_f["levels"][0])
    for bank in (psi1_f, psi2_f):
        if bank:
            env = fftconvolve(env, _envelope(widest(bank)), mode="same")
    env = np.clip(env, 0, None)
    centre = len(env) // 2
    beyond = np.cumsum(env[::-1])[::-1] / env.sum()  # beyond[i]: mass at index >= i
    inside = np.flatnonzero(beyond[centre:] <= tail)
    return int(inside[0]) if len(inside) else len(env) - centre


@dataclass(frozen=True)
class FrameWindow:
    """The frames kept from kymatio's output, and how many of them a clip of given length may use.

    Frame t of kymatio's output is centred on sample ``offset + t * hop`` of the clip. Stored frames are
    kymatio's ``first .. first + n_frames - 1``: those valid for a clip that fills the whole length.

    Attributes:
        hop: samples between frames (``2**floor(log2 T)``).
        offset: the centre of kymatio's frame 0, in samples from the clip's start.
        support: half-width of a frame's reach, samples (:func:`support_samples`).
        first: the first kymatio frame kept.
        n_frames: frames kept, all valid for a full-length clip.
    """

    hop: int  # samples between frames (2**floor(log2 T))
    offset: int  # centre of kymatio's frame 0, in samples from the clip start
    support: int  # half-width of a frame's reach, samples
    first: int  # first kymatio frame kept
    n_frames: int  # frames kept (all valid for a full-length clip)

    def valid(self, n_real: int) -> int:
        """Kept frames untouched by padding when only the first ``n_real`` samples are real audio.

        Args:
            n_real: samples of real audio at the start of the clip.

        Returns:
            From 0 to ``n_frames``.
        """
        last = math.floor((n_real - 1 - self.support - self.offset) / self.hop)  # last kymatio frame inside
        return int(min(self.n_frames, max(0, last - self.first + 1)))

    def min_samples(self) -> int:
        """Real samples a clip needs for one valid frame.

        Returns:
            ``offset + first * hop + support + 1``.
        """
        return self.offset + self.first * self.hop + self.support + 1

    def to_dict(self) -> dict:
        """The window as stored with the features (``FeatureSet.frames``), with :data:`SUPPORT_TAIL`.

        Returns:
            ``{hop, offset, support, first, n_frames, support_tail}``.
        """
        return {"hop": self.hop, "offset": self.offset, "support": self.support, "first": self.first,
                "n_frames": self.n_frames, "support_tail": SUPPORT_TAIL}


def frame_window(transform, n_samples: int, n_output_frames: int) -> FrameWindow:
    """The :class:`FrameWindow` of a built kymatio ``Scattering1D`` over clips of ``n_samples``.

    Args:
        transform (kymatio.Scattering1D): the built transform (its padding, output start and filter
            bank are read).
        n_samples: samples per clip.
        n_output_frames: frames the transform outputs per clip.

    Returns:
        The window; ``n_frames`` is 0 when no frame of a full-length clip is out of the padding's reach.
    """
    log2_hop = transform.log2_T
    hop = 2 ** log2_hop
    # kymatio pads the clip by pad_left and reads its output from padded frame ind_start[log2_T]
    offset = transform.ind_start[log2_hop] * hop - transform.pad_left
    support = support_samples(transform.phi_f, transform.psi1_f, transform.psi2_f)
    first = max(0, math.ceil((support - offset) / hop))
    last = min(n_output_frames - 1, math.floor((n_samples - 1 - support - offset) / hop))
    return FrameWindow(hop, offset, support, first, max(0, last - first + 1))
