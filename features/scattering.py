"""Second-order 1-D scattering (kymatio) over a list of clips, log-compressed.

Output frames are the recurrent networks' time steps: with the defaults (16 kHz, 30 s, J=10, Q=8)
kymatio gives 469 frames of 374 channels (1 zeroth-, 70 first- and 303 second-order coefficients),
one frame every 2**J = 1024 samples (64 ms). Only frames that padding cannot reach are kept and
counted as valid (see ``frames.py``): 449 per 30 s clip, fewer for a shorter clip.

kymatio 0.3's ``kymatio.torch`` module also imports its 3-D frontend, which needs
``scipy.special.sph_harm`` (removed in scipy 1.17). We build the transform through the public
entry ``kymatio.Scattering1D(..., frontend="torch")``, which loads only the 1-D code, so no scipy
pin is needed.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from kymatio import Scattering1D
from tqdm import tqdm

from .audio import AudioError, Waveform, load_audio
from .frames import FrameWindow, frame_window
from .sources import Clip, DatasetError

__all__ = ["FeatureConfig", "Scatterer"]


@dataclass(frozen=True)
class FeatureConfig:
    """Everything that decides the feature values; its hash keys the cache.

    Attributes:
        sample_rate: Hz; the paper resamples GTZAN to 16 kHz.
        duration: seconds; clips are cropped or zero-padded to this.
        J: log2 of the largest wavelet scale and of the frame hop (``2**10`` samples = 64 ms at 16 kHz).
        Q: first-order wavelets per octave (the second order uses 1).
        T: averaging scale in samples; None means ``2**J`` (kymatio's default).
        log_eps: the features are ``log(S + log_eps)``.
        min_seconds: clips holding less real audio are skipped.
    """

    sample_rate: int = 16000  # Hz; the paper resamples GTZAN to 16 kHz
    duration: float = 30.0  # seconds; clips are cropped or zero-padded to this
    J: int = 10  # log2 of the largest wavelet scale and of the frame hop (2**10 = 64 ms at 16 kHz)
    Q: int = 8  # first-order wavelets per octave (second order uses 1)
    T: int | None = None  # averaging scale in samples; None = 2**J (kymatio's default)
    log_eps: float = 1e-6  # log(S + eps) compression
    min_seconds: float = 1.0  # clips with less real audio are skipped

    @property
    def n_samples(self) -> int:
        """Samples per clip: ``round(sample_rate * duration)``."""
        return int(round(self.sample_rate * self.duration))

    def to_dict(self) -> dict:
        """Every field by name (the cache key and the run's metadata hold it).

        Returns:
            ``{field: value}``.
        """
        return asdict(self)


class Scatterer:
    """The kymatio transform, built once (its filter bank takes seconds), applied in batches.

    Args:
        config: the feature options.
        device: ``cpu`` or a CUDA device; the transform runs there.

    Raises:
        RuntimeError: a CUDA device was asked for and torch sees none.
        DatasetError: the frame hop ``2**J`` is longer than a clip, or a clip is too short for any
            frame to be out of the padding's reach.
    """

    def __init__(self, config: FeatureConfig, device: str = "cpu"):
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError("device 'cuda' was asked for, but torch sees no CUDA device")
        self.config, self.device = config, torch.device(device)
        if 2 ** config.J > config.n_samples:  # kymatio would fail deep inside with a reshape error
            raise DatasetError(f"--J {config.J}: the frame hop 2**{config.J} = {2 ** config.J} samples is longer than "
                               f"the whole clip (--seconds {config.duration:g} = {config.n_samples} samples at "
                               f"{config.sample_rate} Hz); use a smaller --J or longer --seconds")
        self.transform = Scattering1D(J=config.J, shape=config.n_samples, Q=config.Q, T=config.T,
                                      max_order=2, frontend="torch").to(self.device)
        probe = self.transform(torch.zeros(1, config.n_samples, device=self.device))  # (1, channels, frames)
        self.n_channels = int(probe.shape[1])
        self.window: FrameWindow = frame_window(self.transform, config.n_samples, int(probe.shape[2]))
        self.n_frames = self.window.n_frames  # frames kept: those valid for a full-length clip
        if self.n_frames < 1:
            raise DatasetError(f"--seconds {config.duration:g} is too short for J={config.J}: a frame reaches "
                             f"{self.window.support / config.sample_rate:.2f} s either side, so no frame fits "
                             f"inside the clip; use at least {self.window.min_samples() / config.sample_rate:.2f} s")

    @torch.no_grad()
    def __call__(self, waves: np.ndarray) -> np.ndarray:
        """(batch, samples) float32 -> (batch, frames, channels) float32, log-compressed.

        Args:
            waves: ``(batch, config.n_samples)`` float32 audio.

        Returns:
            ``(batch, n_frames, n_channels)`` float32 on the CPU: the kept frames only.
        """
        x = torch.from_numpy(waves).to(self.device)
        s = self.transform(x)  # (batch, channels, frames)
        s = torch.log(s.clamp_min(0) + self.config.log_eps)
        w = self.window
        s = s[:, :, w.first: w.first + w.n_frames]  # (batch, channels, kept frames)
        return s.transpose(1, 2).contiguous().cpu().numpy()  # (batch, frames, channels)

    def extract(self, clips: Sequence[Clip], batch_size: int | None = None, progress: bool = True,
                loader: Callable[[Clip], Waveform] | None = None):
        """Load and transform ``clips``.

        Args:
            clips: the clips, in order.
            batch_size: clips per transform call; None picks 1 on CPU (measured fastest per clip here)
                and 16 on CUDA.
            progress: show a progress bar.
            loader: ``clip -> Waveform``; default :func:`features.audio.load_audio` with the config's
                rate, duration and ``min_seconds``.

        Returns:
            (tuple): ``(x, lengths, kept, skipped)``: features ``(n_kept, frames, channels)`` float32, valid frame
                counts ``(n_kept,)`` int64, the clips kept (in order), and ``(path, reason)`` for every
                clip that could not be read or is too short for one valid frame.
        """
        cfg = self.config
        load = loader or (lambda c: load_audio(c.path, cfg.sample_rate, cfg.duration, cfg.min_seconds))
        if batch_size is None:
            batch_size = 16 if self.device.type == "cuda" else 1
        x = np.empty((len(clips), self.n_frames, self.n_channels), dtype=np.float32)
        lengths, kept, skipped = [], [], []
        batch: list[np.ndarray] = []

        def flush() -> None:
            if batch:
                x[len(kept) - len(batch): len(kept)] = self(np.stack(batch))
                batch.clear()

        bar = tqdm(clips, desc="scattering", unit="clip", disable=not progress)
        for clip in bar:
            try:
                wave = load(clip)
            except AudioError as exc:
                skipped.append((str(clip.path), str(exc)))
                bar.write(f"skipped {exc}")
                continue
            n_valid = self.window.valid(wave.n_valid)
            if n_valid < 1:
                reason = (f"{clip.path}: too short: {wave.n_valid / cfg.sample_rate:.2f} s of audio leaves no frame "
                          f"untouched by padding (J={cfg.J} needs {self.window.min_samples() / cfg.sample_rate:.2f} s)")
                skipped.append((str(clip.path), reason))
                bar.write(f"skipped {reason}")
                continue
            batch.append(wave.samples)
            kept.append(clip)
            lengths.append(n_valid)
            if len(batch) == batch_size:
                flush()
        flush()
        return x[: len(kept)], np.asarray(lengths, dtype=np.int64), kept, skipped
