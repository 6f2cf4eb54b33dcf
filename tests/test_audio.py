import numpy as np
import pytest
import soundfile as sf

from features import AudioError, load_audio
from tests.conftest import tone


def peak_hz(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[spec.argmax()])


@pytest.mark.parametrize("rate", [16000, 22050, 44100])
@pytest.mark.parametrize("fmt,suffix", [("WAV", ".wav"), ("AU", ".au"), ("FLAC", ".flac")])
def test_load_resamples_to_target_rate_keeping_pitch(tmp_path, rate, fmt, suffix):
    path = tmp_path / f"a{suffix}"
    sf.write(str(path), tone(1000.0, 1.0, rate), rate, format=fmt, subtype="PCM_16")
    w = load_audio(path, sample_rate=16000, duration=1.0)
    assert w.samples.dtype == np.float32 and w.samples.shape == (16000,)
    assert w.n_valid == 16000
    assert abs(peak_hz(w.samples, 16000) - 1000.0) <= 2.0
    assert 0.3 < np.abs(w.samples).max() < 0.6  # amplitude kept by the polyphase filter


def test_resampling_filters_content_above_new_nyquist(tmp_path):
    path = tmp_path / "hi.wav"
    sf.write(str(path), tone(10000.0, 1.0, 44100), 44100)  # 10 kHz is above 16 kHz's Nyquist (8 kHz)
    w = load_audio(path, 16000, 1.0)
    mid = w.samples[1000:-1000]  # away from the filter's edge transients
    assert np.sqrt(np.mean(mid**2)) < 0.02  # removed (the tone's RMS is 0.35), not aliased down to 6 kHz


def test_stereo_is_downmixed_to_mono(tmp_path):
    path = tmp_path / "st.wav"
    left = tone(440.0, 1.0, 16000)
    sf.write(str(path), np.stack([left, -left], axis=1), 16000)  # channels cancel when averaged
    w = load_audio(path, 16000, 1.0)
    assert w.samples.ndim == 1 and np.abs(w.samples).max() < 1e-3


def test_short_clip_is_zero_padded_and_long_clip_cropped(tmp_path):
    short, long_ = tmp_path / "short.wav", tmp_path / "long.wav"
    sf.write(str(short), tone(440.0, 0.5, 16000), 16000)
    sf.write(str(long_), tone(440.0, 3.0, 16000), 16000)
    w = load_audio(short, 16000, 2.0)
    assert w.samples.shape == (32000,) and w.n_valid == 8000
    assert np.all(w.samples[8000:] == 0) and np.abs(w.samples[:8000]).max() > 0.3
    w = load_audio(long_, 16000, 2.0)
    assert w.samples.shape == (32000,) and w.n_valid == 32000


def test_errors_name_the_file_and_the_problem(tmp_path):
    with pytest.raises(AudioError, match=r"missing\.wav: no such file"):
        load_audio(tmp_path / "missing.wav")
    bad = tmp_path / "jazz.00054.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    with pytest.raises(AudioError, match=r"jazz\.00054\.wav: cannot decode audio"):
        load_audio(bad)
    empty = tmp_path / "empty.wav"
    sf.write(str(empty), np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match=r"empty\.wav: file holds no audio samples"):
        load_audio(empty)
    nan = tmp_path / "nan.wav"
    sf.write(str(nan), np.array([0.1, np.nan, 0.2], dtype=np.float32), 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan\.wav: audio holds NaN"):
        load_audio(nan)


def test_damaged_au_is_not_read_as_headerless_noise(tmp_path):
    bad = tmp_path / "blues.00003.au"
    bad.write_bytes(b"garbage bytes, no .snd header")  # libsndfile would decode this as raw u-law
    with pytest.raises(AudioError, match=r"blues\.00003\.au: cannot decode audio \(no valid audio header\)"):
        load_audio(bad)


def test_a_long_file_is_read_only_as_far_as_it_is_kept_with_the_same_samples(tmp_path, monkeypatch):
    """An hour of audio is not decoded to keep 2 s (issue 27: 585 MB -> 1.65 GB); the samples kept are those
    of decoding and resampling the whole file."""
    from math import gcd

    import soundfile as sf
    from scipy.signal import resample_poly

    from features import audio

    rate, seconds = 22050, 60.0
    t = np.arange(int(rate * seconds)) / rate
    y = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * np.random.default_rng(0).standard_normal(len(t))).astype(np.float32)
    path = tmp_path / "long.wav"
    sf.write(str(path), y, rate, subtype="FLOAT")
    read = []
    real = sf.read
    monkeypatch.setattr(audio.sf, "read", lambda *a, **k: read.append(k.get("frames", -1)) or real(*a, **k))
    w = audio.load_audio(path, 16000, 2.0)
    assert 0 < read[0] < 3 * rate  # frames asked: 2 s and a margin, not 60 s
    g = gcd(rate, 16000)
    whole = resample_poly(y, 16000 // g, rate // g).astype(np.float32)[:32000]
    np.testing.assert_array_equal(w.samples, whole)
