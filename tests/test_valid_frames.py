"""Valid frames are frames padding cannot reach: a clip cut short and zero-padded agrees, on every frame
counted valid, with the same music continuing (music the tests synthesise and write themselves)."""
import numpy as np
import pytest
import soundfile as sf

from features import FeatureConfig, Scatterer
from features.sources import GTZAN_GENRES, Clip
from features.synthetic import synthesize_clip

TOL = 1e-2  # log-scattering units


def music(genre: str, seconds: float, rate: int) -> np.ndarray:
    return synthesize_clip(genre, seconds, rate, np.random.default_rng([7, GTZAN_GENRES.index(genre)]))


def write(path, y, rate):
    sf.write(str(path), y, rate, subtype="PCM_16")
    return Clip(path.stem, "x", path)


@pytest.mark.parametrize("config,cut_s,kept", [
    (FeatureConfig(), 17.3, (449, 251)),  # the defaults: 30 s, J = 10, Q = 8, T = 2**J
    (FeatureConfig(duration=10.0, J=8), 5.7, (607, 338)),  # J = 8: hop 256, support 2405 samples
])
def test_padded_clip_agrees_with_continued_music_on_every_valid_frame(tmp_path, config, cut_s, kept):
    rate = 22050  # as GTZAN's .wav copy: the cut clip goes through the same resampling as a user's file
    y = music("jazz", config.duration, rate)
    clips = [write(tmp_path / "full.wav", y, rate), write(tmp_path / "cut.wav", y[: int(cut_s * rate)], rate)]
    scat = Scatterer(config)
    x, lengths, kept_clips, skipped = scat.extract(clips, progress=False)
    assert not skipped and tuple(lengths) == kept
    n = int(lengths[1])
    diff = np.abs(x[1] - x[0]).max(axis=1)  # (frames,): worst channel per frame
    assert diff[:n].max() < TOL, f"valid frame {diff[:n].argmax()} differs by {diff[:n].max():.3g}"
    # the test has teeth: the frames that the old rule (centre on real audio) also counted differ a lot
    w = scat.window
    old_rule = int(np.ceil(cut_s * config.sample_rate / w.hop)) - w.first
    assert old_rule > n and diff[n:old_rule].max() > 0.1


def test_first_kept_frame_is_past_the_reach_of_the_start_padding(tmp_path):
    """kymatio pads the start by reflection: frames near the start are dropped too, and the first one kept
    agrees with the same music heard from further back."""
    config = FeatureConfig(duration=8.0, J=8, Q=8)
    rate, n = config.sample_rate, config.n_samples
    scat = Scatterer(config)
    shift = 24  # frames
    y = music("metal", 10.0, rate)
    clips = [write(tmp_path / "early.wav", y[:n], rate),
             write(tmp_path / "late.wav", y[shift * scat.window.hop: shift * scat.window.hop + n], rate)]
    x, lengths, _, _ = scat.extract(clips, progress=False)
    # kept frame i of the later clip is kept frame i + shift of the earlier one
    diff = np.abs(x[1, : scat.n_frames - shift] - x[0, shift:]).max(axis=1)
    assert diff.max() < TOL
    assert scat.window.first > 0 and scat.window.offset + scat.window.first * scat.window.hop >= scat.window.support


def test_frames_lost_with_the_defaults():
    w = Scatterer(FeatureConfig()).window
    # hop 1024, kymatio's frame t centred on sample 384 + 1024 t, support 9608 samples (0.6 s)
    assert (w.hop, w.offset, w.support, w.first, w.n_frames) == (1024, 384, 9608, 10, 449)
    assert w.valid(480000) == 449 and w.valid(int(17.3 * 16000)) == 251
    assert w.valid(w.min_samples()) == 1 and w.valid(w.min_samples() - 1) == 0
    assert w.min_samples() / 16000 == pytest.approx(1.26, abs=0.01)
