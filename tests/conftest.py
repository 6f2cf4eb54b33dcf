"""Shared fixtures: audio written by the tests themselves, in GTZAN layouts."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from features import FeatureConfig

# Small enough to keep each extraction well under a second, large enough to have several frames.
TINY = FeatureConfig(sample_rate=8000, duration=2.0, J=6, Q=4)


def tone(freq: float, seconds: float, rate: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    y = 0.5 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(len(t))
    return np.stack([y] * channels, axis=1).astype(np.float32) if channels > 1 else y.astype(np.float32)


def write_gtzan(root: Path, layout: str = "genres_original", suffix: str = ".wav", genres=("blues", "rock"),
                per_genre: int = 2, rate: int = 22050, seconds: float = 2.0, channels: int = 1) -> Path:
    """Write a miniature GTZAN copy: ``root/<layout>/<genre>/<genre>.000NN<suffix>``."""
    for gi, g in enumerate(genres):
        d = root / layout / g
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_genre):
            y = tone(220.0 * (gi + 1) + 30 * i, seconds, rate, channels, seed=10 * gi + i)
            fmt = {".wav": "WAV", ".au": "AU", ".flac": "FLAC"}[suffix]
            sf.write(str(d / f"{g}.{i:05d}{suffix}"), y, rate, format=fmt, subtype="PCM_16")
    return root


@pytest.fixture
def gtzan_wav(tmp_path: Path) -> Path:
    return write_gtzan(tmp_path / "data")


def pytest_report_header(config):
    """Which bf16 path the bf16 tests exercise here: oneDNN's bf16 LSTM (AVX-512-BF16 or AMX), or the
    float32 fallback of an AVX2-only CPU (emulate one with ONEDNN_MAX_CPU_ISA=AVX2)."""
    from models.torch_units import cpu_bf16_lstm

    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return (f"bf16: AVX-512-BF16 {'yes' if 'avx512_bf16' in flags else 'no'}; PyTorch's LSTM in bf16 on this CPU: "
            f"{'yes' if cpu_bf16_lstm() else 'no, float32 fallback'}")


def pytest_terminal_summary(terminalreporter, config):
    """The order's seed, printed even under ``-q``, so a failure that depends on the order can be repeated."""
    seed = getattr(config.option, "randomly_seed", None)
    if config.pluginmanager.has_plugin("randomly") and isinstance(seed, int):
        terminalreporter.write_line(f"tests ran in a random order: repeat it with --randomly-seed={seed}")
