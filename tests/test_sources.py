import pytest

from features import DatasetError, gtzan_clips
from tests.conftest import write_gtzan


@pytest.mark.parametrize("layout,suffix", [("genres", ".au"), ("genres_original", ".wav")])
def test_both_gtzan_layouts_are_found_from_the_root(tmp_path, layout, suffix):
    write_gtzan(tmp_path, layout, suffix, genres=("blues", "metal", "pop"), per_genre=3)
    clips = gtzan_clips(tmp_path)
    assert len(clips) == 9
    assert sorted({c.genre for c in clips}) == ["blues", "metal", "pop"]
    assert clips[0].clip_id == "blues.00000" and clips[0].path.suffix == suffix
    assert gtzan_clips(tmp_path / layout) == clips  # pointing at the genre folder's parent works too


def test_layout_nested_one_level_down_and_stray_files_ignored(tmp_path):
    write_gtzan(tmp_path / "Data", "genres_original", ".wav")
    (tmp_path / "Data" / "genres_original" / "blues" / "README.txt").write_text("not audio")
    (tmp_path / "Data" / "genres_original" / "blues" / ".DS_Store").write_bytes(b"\x00\x01")
    (tmp_path / "Data" / "features_30_sec.csv").write_text("a,b\n")
    clips = gtzan_clips(tmp_path)
    assert len(clips) == 4 and all(c.path.suffix == ".wav" for c in clips)


def test_empty_or_wrong_directory_says_what_layout_was_expected(tmp_path):
    with pytest.raises(DatasetError, match="no genre folders with audio files found; expected .*genres/<genre>"):
        gtzan_clips(tmp_path)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("x")
    with pytest.raises(DatasetError, match="genres_original/<genre>"):
        gtzan_clips(tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        gtzan_clips(tmp_path / "nope")
