"""The embedded synthetic corpus: deterministic, GTZAN-shaped music written as real audio files.

Each genre is a recipe: a tempo range and swing, a 16-step drum pattern, a scale and a chord
progression, a lead and a chord timbre (harmonic roll-off, attack, decay, vibrato, distortion),
note density, bass line style and background noise. Every clip draws its own key, tempo, gain and
mix from a generator seeded by (seed, genre, clip), so the same seed gives the same bytes.

The genre lives in temporal structure (rhythm, note onsets, progression), not in a single frame,
and some recipes are deliberately close (rock/metal, pop/disco, blues/jazz, country/rock).
Files are written in the ``genres_original/<genre>/<genre>.000NN.wav`` layout at 22.05 kHz, 16-bit,
so the corpus is read back through exactly the same loader as a real GTZAN copy.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from .atomic import atomic_write
from .sources import GTZAN_GENRES

__all__ = ["RECIPES", "Recipe", "vary", "synthesize_clip", "write_corpus"]

SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "blues": (0, 3, 5, 6, 7, 10),
    "pent_major": (0, 2, 4, 7, 9),
    "pent_minor": (0, 3, 5, 7, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
}


@dataclass(frozen=True)
class Recipe:
    """How one genre of the synthetic corpus sounds; each clip draws its own variation (:func:`vary`).

    Attributes:
        tempo: the range of beats per minute, drawn uniformly per clip.
        swing: delay of every second sixteenth, in sixteenths (0 straight, 0.33 a triplet feel).
        kick: the kick drum's 16-step pattern, ``x`` a hit, ``.`` a rest.
        snare: the snare's pattern.
        hat: the hi-hat's pattern.
        scale: a key of ``SCALES`` (``major``, ``minor``, ``blues``, ``dorian``, ...).
        progression: chord roots as scale degrees, one chord per bar.
        seventh: add the seventh to every chord (jazz).
        lead_harmonics: roll-off of the harmonics' amplitudes, ``a_k = k ** -lead_harmonics``.
        lead_decay: seconds for a note's envelope to fall by a factor e.
        attack: seconds for a note's envelope to rise.
        vibrato: vibrato depth in semitones.
        distortion: ``tanh`` drive; 0 is clean.
        density: probability that a lead note starts on an eighth.
        bass: ``root``, ``walking``, ``octave``, ``offbeat`` or ``none``.
        chord_rhythm: the chord stabs' 16-step pattern, or ``sustain`` for a pad held over the bar.
        noise: background noise level.
        register: MIDI note of the key's lowest lead note.
    """

    tempo: tuple[float, float]  # beats per minute, drawn uniformly per clip
    swing: float  # 0 = straight sixteenths, 0.33 = triplet feel
    kick: str  # 16-step patterns, "x" = hit
    snare: str
    hat: str
    scale: str
    progression: tuple[int, ...]  # chord roots as scale degrees, one chord per bar
    seventh: bool  # add the 7th to chords (jazz)
    lead_harmonics: float  # harmonic amplitude roll-off: a_k = k ** -rolloff
    lead_decay: float  # seconds for the note envelope to fall by e
    attack: float  # seconds
    vibrato: float  # depth in semitones
    distortion: float  # tanh drive; 0 = clean
    density: float  # probability that a lead note starts on an eighth
    bass: str  # "root", "walking", "octave", "offbeat", "none"
    chord_rhythm: str  # 16-step pattern of chord stabs; "sustain" for held pads
    noise: float  # background noise level
    register: int  # MIDI note of the key's lowest lead note


RECIPES: dict[str, Recipe] = {
    "blues": Recipe((68, 96), 0.30, "x.....x.x.......", "....x.......x...", "x.x.x.x.x.x.x.x.",
                    "blues", (0, 0, 3, 0, 4, 3, 0, 4), True, 1.2, 0.5, 0.01, 0.25, 0.25, 0.45,
                    "walking", "x..x..x..x..x..x", 0.010, 57),
    "classical": Recipe((60, 92), 0.0, "................", "................", "................",
                        "major", (0, 3, 4, 0, 5, 1, 4, 0), False, 2.0, 1.2, 0.08, 0.15, 0.0, 0.70,
                        "root", "sustain", 0.002, 60),
    "country": Recipe((100, 132), 0.05, "x.......x.......", "....x.......x...", "x.x.x.x.x.x.x.x.",
                      "pent_major", (0, 3, 4, 0), False, 1.4, 0.25, 0.003, 0.05, 0.0, 0.55,
                      "root", "x.x.x.x.x.x.x.x.", 0.006, 64),
    "disco": Recipe((114, 130), 0.0, "x...x...x...x...", "....x.......x...", "..x...x...x...x.",
                    "minor", (0, 5, 3, 4), True, 1.0, 0.20, 0.005, 0.05, 0.1, 0.50,
                    "octave", "..x...x...x...x.", 0.010, 64),
    "hiphop": Recipe((78, 98), 0.15, "x......xx.......", "....x.......x...", "x.x.x.x.x.x.x.x.",
                     "pent_minor", (0, 0, 5, 4), False, 0.9, 0.35, 0.005, 0.0, 0.2, 0.20,
                     "root", "x...............", 0.015, 55),
    "jazz": Recipe((120, 180), 0.33, "x.........x.....", "......x.......x.", "x..xx..xx..xx..x",
                   "dorian", (1, 4, 0, 0, 5, 1, 4, 0), True, 1.6, 0.6, 0.02, 0.1, 0.0, 0.65,
                   "walking", ".....x.....x....", 0.006, 62),
    "metal": Recipe((140, 200), 0.0, "x.x.x.x.x.x.x.x.", "....x.......x...", "x.x.x.x.x.x.x.x.",
                    "phrygian", (0, 1, 0, 6), False, 0.6, 0.18, 0.002, 0.0, 3.5, 0.85,
                    "root", "x.x.x.x.x.x.x.x.", 0.030, 45),
    "pop": Recipe((100, 124), 0.0, "x.......x.x.....", "....x.......x...", "x.x.x.x.x.x.x.x.",
                  "major", (0, 4, 5, 3), False, 1.1, 0.40, 0.01, 0.15, 0.2, 0.45,
                  "root", "x..x..x...x..x..", 0.008, 64),
    "reggae": Recipe((66, 88), 0.10, "........x.......", "........x.......", "x.x.x.x.x.x.x.x.",
                     "major", (0, 3, 4, 3), False, 1.3, 0.15, 0.003, 0.0, 0.1, 0.30,
                     "offbeat", "..x...x...x...x.", 0.008, 60),
    "rock": Recipe((110, 150), 0.0, "x.....x.x.......", "....x.......x...", "x.x.x.x.x.x.x.x.",
                   "minor", (0, 5, 3, 4), False, 0.8, 0.25, 0.004, 0.0, 1.8, 0.60,
                   "root", "x.x.x.x.x.x.x.x.", 0.020, 52),
}
"""Genre -> :class:`Recipe`, one for each of ``GTZAN_GENRES``; some are deliberately close (rock and
metal, pop and disco, blues and jazz, country and rock)."""


def _midi_hz(note: np.ndarray | float) -> np.ndarray | float:
    return 440.0 * 2.0 ** ((np.asarray(note) - 69) / 12)


def _tone(freq: float, dur: float, sr: int, r: Recipe, rng: np.random.Generator) -> np.ndarray:
    """One note: a few harmonics under an attack/decay envelope, with vibrato and drive."""
    t = np.arange(int(dur * sr)) / sr
    vib = 2 ** (r.vibrato / 12 * np.sin(2 * np.pi * rng.uniform(4.5, 6.5) * t))
    phase = 2 * np.pi * np.cumsum(freq * vib) / sr
    n_harm = max(1, min(12, int(sr / 2 / freq) - 1))
    # sum_k k^-rolloff sin(k phase), with sin(k phase) from the Chebyshev recurrence
    # sin((k+1) x) = 2 cos(x) sin(k x) - sin((k-1) x): one sin and one cos instead of one sin per harmonic
    s_prev, s_k, two_cos = np.zeros_like(phase), np.sin(phase), 2.0 * np.cos(phase)
    wave = s_k.copy()
    for k in range(2, n_harm + 1):
        s_prev, s_k = s_k, two_cos * s_k - s_prev
        wave += k ** -r.lead_harmonics * s_k
    env = np.minimum(t / max(r.attack, 1e-4), 1.0) * np.exp(-t / r.lead_decay)
    out = wave * env
    if r.distortion > 0:
        out = np.tanh(r.distortion * out) / np.tanh(r.distortion)
    return out


def _drum(kind: str, sr: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "kick":
        t = np.arange(int(0.25 * sr)) / sr
        f = 45 + 110 * np.exp(-t / 0.03)
        return np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / 0.08)
    if kind == "snare":
        t = np.arange(int(0.2 * sr)) / sr
        return (0.7 * rng.standard_normal(len(t)) + 0.5 * np.sin(2 * np.pi * 185 * t)) * np.exp(-t / 0.05)
    t = np.arange(int(0.06 * sr)) / sr  # hat: high-passed noise (first difference)
    return np.diff(rng.standard_normal(len(t) + 1)) * 0.35 * np.exp(-t / 0.015)


def _add(buf: np.ndarray, sound: np.ndarray, start: int, gain: float) -> None:
    end = min(len(buf), start + len(sound))
    if start < end:
        buf[start:end] += gain * sound[: end - start]


def vary(r: Recipe, rng: np.random.Generator) -> Recipe:
    """Per-clip variation of the sound (timbre, register, drive, noise, density), so that a genre
    is not one fixed spectrum: averages over time overlap between genres, rhythm and progression
    still tell them apart.

    Args:
        r: the genre's recipe.
        rng: the clip's generator (its draws decide the variation).

    Returns:
        A new :class:`Recipe`; tempo, patterns, scale and progression are the genre's own.
    """
    return replace(
        r,
        lead_harmonics=max(0.3, r.lead_harmonics * rng.uniform(0.6, 1.5)),
        lead_decay=r.lead_decay * rng.uniform(0.5, 2.0),
        distortion=r.distortion * rng.uniform(0.4, 1.6),
        vibrato=r.vibrato * rng.uniform(0.0, 2.0),
        density=float(np.clip(r.density + rng.uniform(-0.2, 0.2), 0.1, 0.95)),
        noise=r.noise * rng.uniform(0.3, 3.0),
        register=r.register + int(rng.integers(-7, 8)),
    )


def synthesize_clip(genre: str, duration: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Render one clip of ``genre``; returns float32 mono samples in [-1, 1].

    Args:
        genre: a key of :data:`RECIPES`.
        duration: seconds.
        sr: sample rate, Hz.
        rng: the clip's generator; the same generator state gives the same samples.

    Returns:
        ``(int(duration * sr),)`` float32 samples, peak between 0.3 and 0.9.
    """
    r = vary(RECIPES[genre], rng)
    n = int(duration * sr)
    drums, chords, lead, bass = (np.zeros(n) for _ in range(4))
    bpm = rng.uniform(*r.tempo)
    step = 60.0 / bpm / 4  # one sixteenth, seconds
    key = int(rng.integers(0, 12))
    scale = np.array(SCALES[r.scale])
    deg_to_midi = lambda deg, base: base + key + scale[deg % len(scale)] + 12 * (deg // len(scale))  # noqa: E731
    n_steps = int(duration / step) + 1
    for s in range(n_steps):
        t0 = s * step + (r.swing * step if s % 2 else 0.0)  # swing delays the off-sixteenth
        i0, pos, bar = int(t0 * sr), s % 16, s // 16
        root = r.progression[bar % len(r.progression)]
        jitter = rng.uniform(0.8, 1.0)
        for pattern, kind, g in ((r.kick, "kick", 0.9), (r.snare, "snare", 0.6), (r.hat, "hat", 0.3)):
            if pattern[pos] == "x":
                _add(drums, _drum(kind, sr, rng), i0, g * jitter)
        chord = [root, root + 2, root + 4] + ([root + 6] if r.seventh else [])
        if (r.chord_rhythm == "sustain" and pos == 0) or (r.chord_rhythm != "sustain" and r.chord_rhythm[pos] == "x"):
            dur = 16 * step if r.chord_rhythm == "sustain" else 1.5 * step
            for deg in chord:
                _add(chords, _tone(_midi_hz(deg_to_midi(deg, r.register - 12)), dur, sr, r, rng), i0, 0.18)
        if pos % 2 == 0 and rng.random() < r.density:  # lead melody on eighths, a random walk in the scale
            deg = root + int(rng.integers(-3, 8))
            dur = step * float(rng.choice([2, 2, 4, 6]))
            _add(lead, _tone(_midi_hz(deg_to_midi(deg, r.register)), dur, sr, r, rng), i0, 0.35)
        bass_hit = {"root": pos in (0, 8), "walking": pos % 4 == 0, "octave": pos % 2 == 0,
                    "offbeat": pos in (4, 12), "none": False}[r.bass]
        if bass_hit:
            walk = (0, 2, 4, 5)[(pos // 4) % 4] if r.bass == "walking" else 0
            octave = 12 * ((pos // 2) % 2) if r.bass == "octave" else 0
            note = deg_to_midi(root + walk, r.register - 24) + octave
            _add(bass, _tone(_midi_hz(note), 3 * step, sr, r, rng), i0, 0.5)
    mix = rng.uniform(0.7, 1.3, size=4)
    y = mix[0] * drums + mix[1] * chords + mix[2] * lead + mix[3] * bass
    y += r.noise * rng.standard_normal(n)
    y *= rng.uniform(0.3, 0.9) / (np.abs(y).max() + 1e-9)  # per-clip gain
    return y.astype(np.float32)


def write_corpus(root: str | Path, clips_per_genre: int = 10, duration: float = 30.0,
                 seed: int = 0, sample_rate: int = 22050, progress: bool = True) -> Path:
    """Write the corpus as ``root/genres_original/<genre>/<genre>.000NN.wav``; returns that folder.

    Existing files are kept: the corpus is deterministic, so a file already present is the same.
    Each file is 16-bit PCM WAV, written whole or not at all (:func:`features.atomic.atomic_write`).

    Args:
        root: the corpus folder (created if needed).
        clips_per_genre: clips of each of the ten genres.
        duration: seconds per clip.
        seed: the corpus seed; clip ``i`` of the ``g``-th genre draws from ``default_rng([seed, g, i])``.
        sample_rate: Hz (GTZAN's 22050 by default).
        progress: show a progress bar.

    Returns:
        ``root / "genres_original"``, which :func:`features.sources.gtzan_clips` reads.
    """
    out = Path(root) / "genres_original"
    jobs = [(g, gi, i) for gi, g in enumerate(GTZAN_GENRES) for i in range(clips_per_genre)]
    for genre, gi, i in tqdm(jobs, desc="synthesising corpus", disable=not progress, unit="clip"):
        path = out / genre / f"{genre}.{i:05d}.wav"
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng([seed, gi, i])
        y = synthesize_clip(genre, duration, sample_rate, rng)
        with atomic_write(path, "wb") as f:
            sf.write(f, y, sample_rate, subtype="PCM_16", format="WAV")
    return out
