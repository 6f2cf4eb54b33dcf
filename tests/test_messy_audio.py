"""Real-world folders: truncated and too-short files skipped with their reason, hidden and system files
ignored, and a folder data set of any <root>/<class>/<clip> tree in the formats libsndfile reads."""
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf

from features import AUDIO_SUFFIXES, AudioError, DatasetError, build_features, folder_clips, gtzan_clips, load_audio
from tests.conftest import TINY, tone, write_gtzan

FORMATS = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "VORBIS"),
           ".au": ("AU", "PCM_16"), ".mp3": ("MP3", "MPEG_LAYER_III")}


def write_clip(path, seconds=1.5, rate=22050, freq=440.0, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt, subtype = FORMATS[path.suffix]
    sf.write(str(path), tone(freq, seconds, rate, seed=seed), rate, format=fmt, subtype=subtype)
    return path


def test_truncated_wav_is_refused_with_what_its_header_promised(tmp_path):
    path = write_clip(tmp_path / "blues.00000.wav", seconds=30.0)
    path.write_bytes(path.read_bytes()[:100])  # the header and 28 samples; libsndfile reads them as a short file
    with pytest.raises(AudioError, match=r"blues.00000.wav: truncated: header says 30.0 s, 0.001 s decoded$"):
        load_audio(path)


def test_truncated_au_is_refused_and_a_merely_short_file_is_not_called_truncated(tmp_path):
    au = write_clip(tmp_path / "a.au", seconds=30.0)
    au.write_bytes(au.read_bytes()[: len(au.read_bytes()) // 2])
    with pytest.raises(AudioError, match=r"truncated: header says 30.0 s, 15.0\d\d s decoded"):
        load_audio(au)
    short = write_clip(tmp_path / "b.wav", seconds=12.0)  # complete, just shorter than 30 s: kept, padded
    w = load_audio(short, 16000, 30.0, min_seconds=1.0)
    assert w.n_valid == 12 * 16000


def test_clip_shorter_than_the_minimum_is_refused(tmp_path):
    path = write_clip(tmp_path / "pop.00001.wav", seconds=0.3)
    with pytest.raises(AudioError, match=r"pop.00001.wav: too short: 0.30 s of audio, the minimum is 1 s"):
        load_audio(path, min_seconds=1.0)
    assert load_audio(path, min_seconds=0.25).n_valid == 4800  # the threshold is configurable


def test_batch_skips_truncated_and_short_clips_with_their_reasons(tmp_path):
    root = write_gtzan(tmp_path / "data", per_genre=2, seconds=2.0)
    g = root / "genres_original"
    cut = write_clip(g / "rock" / "rock.00002.wav", seconds=30.0)
    cut.write_bytes(cut.read_bytes()[:100])
    short = write_clip(g / "blues" / "blues.00002.wav", seconds=0.3)
    # 0.12 s passes a lowered minimum, but no frame of it escapes the padding (J = 6 needs 1244 samples)
    tiny = write_clip(g / "blues" / "blues.00003.wav", seconds=0.12)
    clips = gtzan_clips(root)
    fs, _ = build_features(clips, TINY, tmp_path / "cache", progress=False)
    assert sorted(fs.clip_ids) == ["blues.00000", "blues.00001", "rock.00000", "rock.00001"]
    reasons = dict(fs.skipped)
    assert reasons[str(cut)] == f"{cut}: truncated: header says 30.0 s, 0.001 s decoded"
    assert reasons[str(short)] == f"{short}: too short: 0.30 s of audio, the minimum is 1 s (--min-seconds)"
    assert reasons[str(tiny)].endswith("too short: 0.12 s of audio, the minimum is 1 s (--min-seconds)")
    assert len(reasons) == 3
    lowered, _ = build_features(clips, replace(TINY, min_seconds=0.1), tmp_path / "cache", progress=False)
    reasons = dict(lowered.skipped)
    assert reasons[str(tiny)] == (f"{tiny}: too short: 0.12 s of audio leaves no frame untouched by padding "
                                  f"(J=6 needs 0.16 s)")
    assert str(short) not in reasons and len(lowered) == 5


def test_hidden_and_system_files_are_ignored_not_listed(tmp_path):
    root = write_gtzan(tmp_path / "data", genres=("metal", "pop"), per_genre=2, seconds=1.5)
    g = root / "genres_original"
    (g / "metal" / "._metal.00002.flac").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X")  # AppleDouble
    (g / "metal" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (g / "pop" / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    (g / "pop" / ".~lock.pop.00000.wav#").write_text("lock")
    write_clip(g / ".hidden" / "x.wav")  # a hidden class folder
    write_clip(tmp_path / "data" / "__MACOSX" / "genres_original" / "metal" / "._metal.00000.wav")
    clips = gtzan_clips(tmp_path / "data")
    assert [c.rel for c in clips] == ["metal/metal.00000.wav", "metal/metal.00001.wav",
                                      "pop/pop.00000.wav", "pop/pop.00001.wav"]
    fs, _ = build_features(clips, TINY, tmp_path / "cache", progress=False)
    assert len(fs) == 4 and fs.skipped == []


def test_folder_dataset_of_three_classes_in_flac_and_ogg(tmp_path):
    root = tmp_path / "field recordings"
    for ci, cls in enumerate(("birds", "rain", "traffic")):
        for i, suffix in enumerate((".flac", ".ogg", ".flac")):
            write_clip(root / cls / f"take {i}{suffix}", seconds=1.5, freq=300.0 * (ci + 1) + 40 * i, seed=ci * 3 + i)
    (root / "rain" / "._take 0.flac").write_bytes(b"\x00\x05\x16\x07")
    (root / "notes.txt").write_text("recorded in May")
    (root / "empty").mkdir()
    clips = folder_clips(root)
    assert [c.clip_id for c in clips] == [f"{c}/take {i}{s}" for c in ("birds", "rain", "traffic")
                                         for i, s in enumerate((".flac", ".ogg", ".flac"))]
    fs, _ = build_features(clips, TINY, tmp_path / "cache", progress=False, tag="features-folder")
    assert fs.genres == ["birds", "rain", "traffic"] and fs.labels.tolist() == [0] * 3 + [1] * 3 + [2] * 3
    assert fs.skipped == [] and fs.clip_paths == fs.clip_ids and np.isfinite(fs.x).all()
    # 2 s window: 231 frames kept; 1.5 s = 12000 real samples reach frame floor((11999 - 603) / 64) = 178
    assert fs.x.shape[1] == 231 and fs.lengths.tolist() == [169] * 9


@pytest.mark.skipif(".mp3" not in AUDIO_SUFFIXES, reason="this libsndfile reads no MP3")
def test_folder_dataset_reads_mp3_when_libsndfile_does(tmp_path):
    for cls in ("a", "b"):
        write_clip(tmp_path / cls / "one.mp3", seconds=1.5)
    clips = folder_clips(tmp_path)
    assert len(clips) == 2
    assert load_audio(clips[0].path, 16000, 2.0, 1.0).n_valid == pytest.approx(24000, abs=1200)


def test_folder_dataset_needs_two_classes(tmp_path):
    write_clip(tmp_path / "only" / "a.wav")
    with pytest.raises(DatasetError, match=r"only class folder 'only' holds audio files; expected <root>/<class>/<clip>"):
        folder_clips(tmp_path)
    with pytest.raises(DatasetError, match="data directory does not exist"):
        folder_clips(tmp_path / "nope")
