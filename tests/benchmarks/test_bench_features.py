"""Feature extraction throughput at the default settings (16 kHz, 30 s, J=10, Q=8).

Run: ``pytest tests/benchmarks/test_bench_features.py --benchmark-enable``. Each benchmark reports
seconds per call; ``extra_info['clips']`` says how many 30 s clips one call transforms, so seconds
per clip = time / clips. Compared: our Scatterer one clip at a time, batched (4 clips), and kymatio's
Scattering1D called directly on the same input (the floor we must not be slower than).
"""
import numpy as np
import pytest
import torch
from kymatio import Scattering1D

from features import FeatureConfig, Scatterer

CFG = FeatureConfig()


@pytest.fixture(scope="module")
def scatterer():
    return Scatterer(CFG)  # the filter bank is built once, outside the timed region


@pytest.fixture(scope="module")
def waves():
    rng = np.random.default_rng(0)
    return (0.1 * rng.standard_normal((4, CFG.n_samples))).astype(np.float32)


@pytest.mark.parametrize("clips", [1, 4])
def test_scatterer(benchmark, scatterer, waves, clips):
    benchmark.group = "extraction per call"
    benchmark.extra_info.update(clips=clips, frames=scatterer.n_frames, channels=scatterer.n_channels)
    out = benchmark.pedantic(scatterer, args=(waves[:clips],), rounds=5, warmup_rounds=1, iterations=1)
    assert out.shape == (clips, 449, 374) and np.isfinite(out).all()  # 469 less 10 per end that padding reaches


def test_kymatio_direct(benchmark, waves):
    benchmark.group = "extraction per call"
    benchmark.extra_info.update(clips=1)
    s = Scattering1D(J=CFG.J, shape=CFG.n_samples, Q=CFG.Q, frontend="torch")
    x = torch.from_numpy(waves[:1])
    out = benchmark.pedantic(s, args=(x,), rounds=5, warmup_rounds=1, iterations=1)
    assert out.shape == (1, 374, 469)
