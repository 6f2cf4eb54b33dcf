"""Your own data: a folder data set and a split file, end to end through ``python -m bench``, and the
user's folder left exactly as it was."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from bench.cli import main
from bench.protocol.splitfile import file_splits, read_split_file
from reports import page
from reports.load import load_run
from tests.conftest import tone

TINY_RUN = ["--epochs", "2", "--seconds", "1", "--J", "6", "--Q", "4", "--hidden", "8", "--layers", "1",
            "--batch-size", "4", "--warmup-iters", "1", "--threads", "1", "--no-report"]
CLASSES = ("birds", "rain", "traffic")


@pytest.fixture(scope="module")
def my_data(tmp_path_factory) -> Path:
    """A user's folder: 3 classes x 5 clips in .flac and .wav, with a macOS AppleDouble file beside them."""
    root = tmp_path_factory.mktemp("user") / "my sounds"
    for ci, cls in enumerate(CLASSES):
        (root / cls).mkdir(parents=True)
        for i in range(5):
            suffix = ".flac" if i % 2 else ".wav"
            sf.write(str(root / cls / f"rec{i}{suffix}"), tone(250.0 * (ci + 1) + 15 * i, 1.0, 16000, seed=ci * 5 + i),
                     16000, subtype="PCM_16")
        (root / cls / "._rec1.flac").write_bytes(b"\x00\x05\x16\x07")
    return root


def snapshot(root: Path) -> dict:
    """Every entry under ``root``: bytes of files, and modification times, so any write shows."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.stat()
        out[str(p.relative_to(root))] = (p.is_dir(), p.read_bytes() if p.is_file() else None, st.st_mtime_ns)
    return out


def write_split(path: Path, rows: list[tuple[str, str]], header: bool = True) -> Path:
    path.write_text(("clip,part\n" if header else "") + "".join(f"{c},{p}\n" for c, p in rows))
    return path


def fixed_rows() -> list[tuple[str, str]]:
    """rec0, rec1 train; rec2 val; rec3, rec4 test, for every class."""
    part = {0: "train", 1: "train", 2: "val", 3: "test", 4: "test"}
    return [(f"{c}/rec{i}{'.flac' if i % 2 else '.wav'}", part[i]) for c in CLASSES for i in range(5)]


def test_split_file_used_end_to_end_by_bench_run(my_data, tmp_path, capsys):
    split = write_split(tmp_path / "my_split.csv", fixed_rows())
    before = snapshot(my_data)
    out = tmp_path / "run"
    argv = ["run", "--dataset", "folder", "--data-dir", str(my_data), "--split-file", str(split),
            "--cache-dir", str(tmp_path / "cache"), "--out", str(out), "--units", "gru", *TINY_RUN]
    assert main(argv) == 0
    folds = pd.read_csv(out / "folds.csv")
    assert sorted(folds.unit) == ["gru", "scat+logreg"]
    assert (folds.n_train == 6).all() and (folds.n_val == 3).all() and (folds.n_test == 6).all()
    preds = pd.read_csv(out / "predictions.csv")
    assert sorted(set(preds.clip_id)) == sorted(c for c, p in fixed_rows() if p == "test")
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["config"]["dataset"] == "folder" and meta["config"]["protocol"] == "file"
    assert meta["config"]["split_file"] == str(split.resolve()) and meta["features"]["skipped"] == []
    assert "folder (15 clips" in capsys.readouterr().out
    assert "split file my_split.csv (protocol file)" in page.method_line(load_run(out))  # what the report says
    assert snapshot(my_data) == before  # the user's folder: byte for byte, mtime for mtime, unchanged


def test_fold_numbers_give_one_split_per_fold(my_data, tmp_path):
    rows = [(c, str(1 + i % 3)) for i, (c, _) in enumerate(fixed_rows())]
    out = tmp_path / "run"
    argv = ["run", "--dataset", "folder", "--data-dir", str(my_data), "--split-file",
            str(write_split(tmp_path / "folds.csv", rows, header=False)), "--cache-dir", str(tmp_path / "cache"),
            "--out", str(out), "--units", "indrnn", "--no-baseline", *TINY_RUN]
    assert main(argv) == 0
    splits = json.loads((out / "splits.json").read_text())
    assert len(splits) == 3 and [len(s["test"]) for s in splits] == [5, 5, 5]
    for s in splits:
        assert not set(s["test"]) & set(s["train"] + s["val"]) and len(s["train"] + s["val"] + s["test"]) == 15


def test_split_file_naming_a_missing_clip_is_refused_with_its_name(my_data, tmp_path, capsys):
    rows = fixed_rows() + [("rain/thunder.wav", "test")]
    cache = tmp_path / "cache"
    argv = ["run", "--dataset", "folder", "--data-dir", str(my_data), "--cache-dir", str(cache),
            "--out", str(tmp_path / "run"), *TINY_RUN]
    assert main([*argv, "--split-file", str(write_split(tmp_path / "s.csv", rows))]) == 2
    out = capsys.readouterr().err  # errors go to stderr, one line
    assert out.startswith("error: --split-file") and "1 listed clip(s) are not in the data set: rain/thunder.wav" in out
    assert main([*argv, "--split-file", str(write_split(tmp_path / "t.csv", fixed_rows()[1:]))]) == 2
    assert "1 clip(s) of the data set are not listed (give each a part, or 'exclude'): birds/rec0.wav" in \
        capsys.readouterr().err
    assert not cache.exists() and not (tmp_path / "run").exists()  # refused before any feature was computed


def test_commands_leave_the_users_folder_unchanged(my_data, tmp_path, capsys):
    before = snapshot(my_data)
    cache = tmp_path / "cache"
    assert main(["features", "--dataset", "folder", "--data-dir", str(my_data), "--cache-dir", str(cache),
                 "--seconds", "1", "--J", "6", "--Q", "4"]) == 0
    assert "15 clips x 231 frames" in capsys.readouterr().out
    # --data-dir with the synthetic corpus: an error that says why, and nothing generated anywhere
    assert main(["features", "--data-dir", str(my_data), "--cache-dir", str(tmp_path / "c2")]) == 2
    out = capsys.readouterr().err
    assert out.startswith(f"error: --data-dir {my_data} was given with the synthetic corpus") and "--dataset folder" in out
    assert not (tmp_path / "c2").exists()
    # a cache folder inside the data folder is refused too
    assert main(["features", "--dataset", "folder", "--data-dir", str(my_data),
                 "--cache-dir", str(my_data / ".cache")]) == 2
    assert "lies inside --data-dir" in capsys.readouterr().err
    assert snapshot(my_data) == before


def test_split_file_format(tmp_path):
    f = tmp_path / "s.csv"
    f.write_text("# my artist-filtered split\nclip,part\nrock/a.wav,TRAIN\n\nrock/b,test\njazz\\c.ogg,exclude\njazz/d.wav,01\n")
    assert read_split_file(f) == {"rock/a.wav": "train", "rock/b": "test", "jazz/c.ogg": "exclude", "jazz/d.wav": "1"}
    for text, message in [("rock/a.wav,training\n", "line 1: part 'training' is not train, val, test, exclude"),
                          ("rock/a.wav,train\nrock/a.wav,test\n", "lines 1 and 2 both name rock/a.wav; give each clip one row"),
                          ("rock/a.wav\n", "line 1: expected 'clip,part'"),
                          ("clip,part\n", "no clips listed")]:
        f.write_text(text)
        with pytest.raises(ValueError, match=message):
            read_split_file(f)
    with pytest.raises(ValueError, match="no such file"):
        read_split_file(tmp_path / "nope.csv")


def test_split_file_matching_rules(tmp_path):
    paths = [f"a/{i}.wav" for i in range(1, 5)] + [f"b/{i}.au" for i in range(1, 5)]
    labels = np.array([0] * 4 + [1] * 4)
    f = write_split(tmp_path / "s.csv", [("a/1", "train"), ("a/2.wav", "train"), ("a/3", "test"), ("a/4", "exclude"),
                                         ("b/1", "train"), ("b/2", "train"), ("b/3", "test"), ("b/4.au", "exclude"),
                                         ("b/5.au", "train")])
    # b/5.au was found on disk but could not be read (skipped): left out, not an error
    (split,) = file_splits(f, paths, labels, ["b/5.au"], seed=0)
    assert sorted(split.test) == [2, 6] and not {3, 7} & set(split.train + split.val + split.test)
    assert len(split.val) == 2 and sorted(split.train + split.val) == [0, 1, 4, 5]  # validation carved from train
    write_split(f, [("a/1", "1"), ("a/2", "train"), *[(p, "2") for p in paths[2:]]])
    with pytest.raises(ValueError, match="mixes fold numbers with train/val/test"):
        file_splits(f, paths, labels, [])
    write_split(f, [(p, "test") for p in paths])
    with pytest.raises(ValueError, match=r"needs clips in both train and test \(found 0 train, 8 test\)"):
        file_splits(f, paths, labels, [])
    write_split(f, [("a/1", "train")] + [(p, "test") for p in paths[1:]])
    with pytest.raises(ValueError, match="a/1 matches both a/1.wav and a/1.flac; give the file suffix"):
        file_splits(f, paths + ["a/1.flac"], np.append(labels, 0), [])


def test_a_clip_named_twice_in_two_spellings_is_an_error_naming_both_lines(tmp_path):
    """With and without its suffix, once train, once test: the last row used to win."""
    paths = [f"a/{i}.wav" for i in range(1, 4)] + [f"b/{i}.au" for i in range(1, 4)]
    labels = np.array([0] * 3 + [1] * 3)
    f = tmp_path / "s.csv"
    f.write_text("clip,part\na/1.wav,train\na/2,train\na/3,test\nb/1,train\nb/2,train\nb/3,test\na/1,test\n")
    with pytest.raises(ValueError, match=r"line 2 \(a/1.wav\) and line 8 \(a/1\) both name the clip a/1.wav; "
                                         r"give each clip one row"):
        file_splits(f, paths, labels, [])
    f.write_text("clip,part\na/1.wav,train\na/2,train\na/3,test\nb/1,train\nb/2,train\nb/3,test\n./a/1.wav,test\n")
    with pytest.raises(ValueError, match=r"lines 2 and 8 both name a/1.wav"):
        file_splits(f, paths, labels, [])
