from bench.cli import main
from tests.conftest import write_gtzan


def test_features_command_prints_shape_cache_path_and_skipped_clips(tmp_path, capsys):
    root = write_gtzan(tmp_path / "gtzan", "genres", ".au", per_genre=2, seconds=1.0)
    (root / "genres" / "rock" / "rock.00054.au").write_bytes(b"broken")
    argv = ["features", "--dataset", "gtzan", "--data-dir", str(root), "--cache-dir", str(tmp_path / "c"),
            "--seconds", "2", "--J", "6", "--Q", "4"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    # 2 s at 16 kHz, hop 64: kymatio's 500 frames less those padding reaches (support 603 samples):
    # frames 10..490 kept; 1 s of audio (16000 samples) keeps frames 10..240, 231 valid frames
    assert "features: 4 clips x 481 frames x" in out and "2 genres" in out
    assert "valid frames per clip: min 231, median 231, max 231" in out
    assert "computed in" in out and str(tmp_path / "c") in out
    assert "skipped clips: 1" in out and "rock.00054.au: cannot decode audio" in out
    assert main(argv) == 0
    assert "loaded from cache" in capsys.readouterr().out


def test_features_command_reports_a_wrong_directory(tmp_path, capsys):
    assert main(["features", "--dataset", "gtzan", "--data-dir", str(tmp_path)]) == 2
    out = capsys.readouterr().err
    assert out.startswith("error:") and "no genre folders with audio files found" in out and "genres_original" in out
