import os
from dataclasses import replace
from functools import partial

import numpy as np
import pytest
import torch

import features.pipeline as pipeline
from features import DatasetError, FeatureConfig, Scatterer, build_features, dataset_clips, gtzan_clips
from features.featureset import CacheError, load
from tests.conftest import TINY, write_gtzan


def build(clips, tmp_path, config=TINY):
    return build_features(clips, config, tmp_path / "cache", progress=False)


def test_scattering_shape_finite_values_and_valid_frames(tmp_path):
    write_gtzan(tmp_path, per_genre=1, seconds=2.0)
    short = write_gtzan(tmp_path / "short", genres=("pop",), per_genre=1, seconds=1.2)
    clips = gtzan_clips(tmp_path) + gtzan_clips(short)
    fs, cached = build(clips, tmp_path)
    assert not cached
    scat = Scatterer(TINY)
    # 2 s at 8 kHz, hop 2**6 = 64: kymatio gives 250 frames; a frame reaches 603 samples either side,
    # so frames 10..240 (centre 640 .. 15360) lie inside a full clip: 231 kept
    assert (scat.window.first, scat.window.support, scat.n_frames) == (10, 603, 231)
    assert fs.x.shape == (3, 231, scat.n_channels)
    assert fs.x.dtype == np.float32 and np.isfinite(fs.x).all()
    assert fs.genres == ["blues", "pop", "rock"] and fs.labels.tolist() == [0, 2, 1]
    assert fs.clip_ids == ["blues.00000", "rock.00000", "pop.00000"]
    assert fs.clip_paths == ["blues/blues.00000.wav", "rock/rock.00000.wav", "pop/pop.00000.wav"]
    # 1.2 s = 9600 real samples: last frame inside is floor((9599 - 603) / 64) = 140 -> frames 10..140 = 131
    assert fs.lengths.tolist() == [231, 231, 131]
    assert fs.frames == {**scat.window.to_dict()}
    # past the valid frames the tone fades into the padding's silence: log(0 + eps)
    assert fs.x[2, 160:].mean() < fs.x[2, :131].mean() - 3


def test_cache_hit_miss_and_invalidation(tmp_path, monkeypatch):
    clips = gtzan_clips(write_gtzan(tmp_path))
    first, cached = build(clips, tmp_path)
    assert not cached and first.path.exists()

    calls = []
    monkeypatch.setattr(pipeline.Scatterer, "extract", lambda *a, **k: calls.append(1) or (_ for _ in ()).throw(AssertionError("recomputed")))
    again, cached = build(clips, tmp_path)  # same config, same inputs: loaded, not recomputed
    assert cached and not calls and again.path == first.path
    np.testing.assert_array_equal(again.x, first.x)
    monkeypatch.undo()

    other, cached = build(clips, tmp_path, replace(TINY, Q=2))  # changed config: recomputed
    assert not cached and other.path != first.path and other.x.shape[2] != first.x.shape[2]

    st = clips[0].path.stat()  # changed inputs (new mtime): recomputed
    os.utime(clips[0].path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    touched, cached = build(clips, tmp_path)
    assert not cached and touched.path != first.path


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_corrupt_cache_is_detected_and_rebuilt(tmp_path, damage):
    clips = gtzan_clips(write_gtzan(tmp_path))
    fs, _ = build(clips, tmp_path)
    raw = bytearray(fs.path.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) // 2]
    else:  # a flipped byte deep inside the feature array
        raw[len(raw) // 2] ^= 0xFF
    fs.path.write_bytes(bytes(raw))
    with pytest.raises(CacheError, match=fs.path.name):
        load(fs.path)
    rebuilt, cached = build(clips, tmp_path)
    assert not cached and rebuilt.path == fs.path
    np.testing.assert_array_equal(load(fs.path).x, fs.x)


def test_corrupt_clip_is_skipped_and_reported_not_fatal(tmp_path):
    root = write_gtzan(tmp_path)
    bad = root / "genres_original" / "rock" / "rock.00054.wav"
    bad.write_bytes(b"RIFF....WAVE not really audio")
    clips = gtzan_clips(root)
    assert len(clips) == 5
    fs, _ = build(clips, tmp_path)
    assert len(fs) == 4 and "rock.00054" not in fs.clip_ids
    assert fs.skipped == [(str(bad), f"{bad}: cannot decode audio ({fs.skipped[0][1].split('(', 1)[1]}")]
    assert "rock.00054.wav" in fs.skipped[0][1]
    cached, hit = build(clips, tmp_path)  # the skip list survives the cache
    assert hit and cached.skipped == fs.skipped


def test_all_clips_unreadable_is_a_clear_error(tmp_path):
    d = tmp_path / "genres" / "blues"
    d.mkdir(parents=True)
    for i in range(2):
        (d / f"blues.{i:05d}.au").write_bytes(b"garbage")
    (tmp_path / "genres" / "rock").mkdir()
    (tmp_path / "genres" / "rock" / "rock.00000.au").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="none of the 3 clips could be read"):
        build(gtzan_clips(tmp_path), tmp_path)


def test_synthetic_dataset_writes_gtzan_layout_and_is_deterministic(tmp_path):
    spec = {"clips_per_genre": 1, "duration": 1.0, "seed": 3}
    a = dataset_clips("synthetic", None, tmp_path / "a", spec, progress=False)
    b = dataset_clips("synthetic", None, tmp_path / "b", spec, progress=False)
    c = dataset_clips("synthetic", None, tmp_path / "c", {**spec, "seed": 4}, progress=False)
    assert len(a) == 10 and a[0].path.parent.parent.name == "genres_original"
    assert [x.clip_id for x in a] == [f"{g}.00000" for g in
                                      ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")]
    for x, y, z in zip(a, b, c):
        assert x.path.read_bytes() == y.path.read_bytes()  # same seed, same bytes
        assert x.path.read_bytes() != z.path.read_bytes()


def test_gtzan_dataset_needs_a_data_dir(tmp_path):
    with pytest.raises(DatasetError, match="--data-dir"):
        dataset_clips("gtzan", None, tmp_path)
    with pytest.raises(DatasetError, match="unknown dataset 'mnist'"):
        dataset_clips("mnist", None, tmp_path)


@pytest.mark.slow  # a whole run, or several processes: 10 s or more on 2 cores
def test_clips_shared_among_single_threaded_processes_give_the_one_thread_features_in_order(tmp_path):
    """The default run scatters in N spawned processes of one thread: the table (values, order, lengths,
    skipped clips) is bit for bit the one a single thread computes here, and the workers report 1 thread."""
    from bench.measure.policy import apply_policy
    from features.processes import CHUNK, processes_for

    root = write_gtzan(tmp_path / "d", genres=("blues", "rock", "jazz"), per_genre=7, seconds=1.0)
    (root / "genres_original" / "jazz" / "jazz.00003.wav").write_bytes(b"not audio at all")  # in the 3rd chunk
    clips = gtzan_clips(root)
    cfg = FeatureConfig(duration=1.0, J=6, Q=4)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one, _ = build_features(clips, cfg, tmp_path / "c1", progress=False)
    finally:
        torch.set_num_threads(threads)
    many, _ = build_features(clips, cfg, tmp_path / "c2", progress=False, processes=2, init=partial(apply_policy, 1, "flush"))
    assert len(clips) == 21 > 2 * CHUNK and len(many) == 20
    np.testing.assert_array_equal(many.x, one.x)
    np.testing.assert_array_equal(many.lengths, one.lengths)
    assert many.clip_ids == one.clip_ids and many.skipped == one.skipped and "jazz.00003.wav" in many.skipped[0][0]
    assert many.frames == one.frames
    assert (one.extraction["processes"], many.extraction["processes"], many.extraction["threads_per_process"]) == (1, 2, 1)
    # who runs in processes: only a CPU data set of at least MIN_AUDIO_SECONDS of audio, never more than a chunk each
    assert processes_for(21, cfg, 2) == 1  # 21 s of audio: this process
    assert processes_for(200, FeatureConfig(duration=5.0), 2) == 2  # the quick preset's corpus
    assert processes_for(200, FeatureConfig(duration=5.0), 2, "cuda") == 1
    assert processes_for(1000, FeatureConfig(duration=30.0), 16) == 16 and processes_for(12, FeatureConfig(duration=30.0), 4) == 2
