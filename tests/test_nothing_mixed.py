"""Issue 27, first cases: a resume or a cache made from other inputs is refused or rebuilt, never mixed in;
a report never destroys what it replaces; AUC is recorded for two-class data."""
import contextlib
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.cli import main
from tests.conftest import write_gtzan

SMALL = ["--preset", "quick", "--dataset", "folder", "--seconds", "2", "--J", "8", "--Q", "1", "--units", "indrnn",
         "--folds", "2", "--epochs", "2", "--hidden", "8", "--layers", "1", "--threads", "1"]


def folder(root: Path, classes=("a", "b"), per_class: int = 4) -> Path:
    """``root/<class>/<clip>.wav``: the issue's small folder data set (4 clips of 2 s per class)."""
    write_gtzan(root, genres=classes, per_genre=per_class, seconds=2.0, rate=8000)
    return root / "genres_original"


def run(data: Path, out: Path, cache: Path, *extra) -> int:
    return main(["run", *SMALL, "--data-dir", str(data), "--out", str(out), "--cache-dir", str(cache), *extra])


@pytest.mark.parametrize("change", ["copy a clip over another", "rename a class", "rename a clip"])
def test_a_resume_on_changed_data_is_refused_and_writes_nothing(tmp_path, capsys, change):
    data, out = folder(tmp_path / "d"), tmp_path / "run"
    assert run(data, out, tmp_path / "c") == 0
    part = sorted((out / "parts").iterdir())[-1]
    shutil.rmtree(part)  # as if interrupted before its last job
    if change == "copy a clip over another":
        shutil.copy(data / "b" / "b.00000.wav", data / "a" / "a.00001.wav")
    elif change == "rename a class":
        (data / "b").rename(data / "zeta")
    else:
        (data / "a" / "a.00001.wav").rename(data / "a" / "renamed.wav")
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.is_file()}
    capsys.readouterr()
    assert run(data, out, tmp_path / "c") == 2
    err = capsys.readouterr().err
    assert "was started on other input data" in err and str(out) in err
    assert not part.exists()  # the missing job was not trained on the new data
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.is_file()} == before


def test_a_cache_file_of_other_inputs_is_rebuilt_not_used(tmp_path, caplog):
    one, two = folder(tmp_path / "one"), folder(tmp_path / "two", classes=("x", "y"))
    assert run(one, tmp_path / "r1", tmp_path / "c1") == 0
    assert run(two, tmp_path / "r2", tmp_path / "c2") == 0
    [other] = list((tmp_path / "c1").glob("*.npz"))
    [mine] = list((tmp_path / "c2").glob("*.npz"))
    shutil.copy(other, mine)  # a well-formed cache of another data set under this one's name
    assert run(two, tmp_path / "r3", tmp_path / "c2") == 0
    assert "holds features of other input files" in caplog.text
    clips = set(pd.read_csv(tmp_path / "r3" / "predictions.csv").clip_id)
    assert clips and all(c.split("/")[0] in ("x", "y") for c in clips)


def test_bench_report_with_no_parts_keeps_the_tables_it_has(tmp_path, capsys):
    data, out = folder(tmp_path / "d"), tmp_path / "run"
    assert run(data, out, tmp_path / "c") == 0
    tables = {p.name: p.read_bytes() for p in out.iterdir() if p.suffix in (".csv", ".parquet")}
    for part in (out / "parts").iterdir():
        shutil.rmtree(part)
    assert main(["report", str(out)]) == 0
    assert "holds no finished job; reporting from the tables built before" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.suffix in (".csv", ".parquet")} == tables
    assert len(pd.read_csv(out / "folds.csv")) == 4


def test_a_failed_report_leaves_the_previous_report_whole(tmp_path, monkeypatch):
    import reports
    from reports import page

    data, out = folder(tmp_path / "d"), tmp_path / "run"
    assert run(data, out, tmp_path / "c") == 0
    for p in (out / "report").iterdir():  # the previous report, told apart from any new byte
        p.write_bytes(b"previous " + p.name.encode())
    before = {p.name: p.read_bytes() for p in (out / "report").iterdir()}

    def fails(*args, **kwargs):
        raise OSError(27, "File too large")

    monkeypatch.setattr(page, "to_html", fails)  # the last file of the report fails to be written
    with pytest.raises(OSError):
        reports.render(out)
    assert {p.name: p.read_bytes() for p in (out / "report").iterdir()} == before
    assert not list(out.glob(".report.tmp-*"))  # no staging folder left behind


def test_auc_is_recorded_for_two_class_data(tmp_path):
    from bench.execution.trainer import _auc

    labels = np.array([0, 1, 0, 1, 1])
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3], [0.1, 0.9]])
    assert _auc(labels, probs, 2) == pytest.approx(5 / 6)  # 5 of the 6 (neg, pos) pairs ranked right
    assert np.isnan(_auc(np.array([1, 1]), probs[:2], 2))  # one class only: undefined
    assert np.isnan(_auc(labels, np.full_like(probs, np.nan), 2))  # a diverging model: NaN, not an error
    assert np.isnan(_auc(np.array([0, 1, 2]), np.full((3, 3), np.nan), 3))
    data, out = folder(tmp_path / "d", per_class=6), tmp_path / "run"
    assert run(data, out, tmp_path / "c", "--val-fraction", "0.5") == 0
    auc = pd.read_csv(out / "epochs.csv").val_auc
    assert auc.notna().any() and auc.dropna().between(0, 1).all()


@pytest.mark.parametrize("edit", [{"config.folds": 10, "config.units": ["lstm"]}, {"features.genres": ["x", "y", "z"]},
                                  {"config.folds": "five"}])
def test_a_hand_edited_metadata_file_is_refused_by_the_report(tmp_path, capsys, edit):
    import json

    data, out = folder(tmp_path / "d"), tmp_path / "run"
    assert run(data, out, tmp_path / "c") == 0
    meta = json.loads((out / "metadata.json").read_text())
    for key, value in edit.items():
        section, name = key.split(".")
        meta[section][name] = value
    (out / "metadata.json").write_text(json.dumps(meta))
    report = (out / "report" / "report.md").read_bytes()
    capsys.readouterr()
    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "metadata.json was changed after the run started" in err[0]
    assert (out / "report" / "report.md").read_bytes() == report


def test_empty_paths_are_refused_not_read_as_the_current_folder(tmp_path, capsys, monkeypatch):
    data = folder(tmp_path / "d")
    monkeypatch.chdir(tmp_path)
    cases = [(["--out", ""], "--out: is an empty string"), (["--data-dir", ""], "--data-dir is an empty string")]
    for extra, message in cases:
        argv = ["run", *SMALL, "--data-dir", str(data), "--cache-dir", str(tmp_path / "c"), "--out", "r", *extra]
        with pytest.raises(SystemExit) if extra[0] == "--out" else contextlib.nullcontext():
            assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    toml = tmp_path / "my.toml"
    toml.write_text('[protocol]\nsplit_file = ""\n')
    assert main(["run", *SMALL, "--data-dir", str(data), "--config", str(toml), "--out", "r"]) == 2
    err = capsys.readouterr().err
    assert "split_file is an empty string" in err and str(toml) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "my.toml"]  # nothing written anywhere


def test_a_run_directory_inside_the_data_folder_is_refused(tmp_path, capsys):
    data = folder(tmp_path / "d")
    listing = sorted(p.relative_to(data) for p in data.rglob("*"))
    assert run(data, data / "a", tmp_path / "c") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--out {data / 'a'} lies inside --data-dir" in err[0]
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == listing
    assert main(["report", str(data)]) == 2  # not a run directory: refused, and no lock left in it
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == listing


@pytest.mark.parametrize("rows,message", [
    ({"a": "train", "b": "test"}, "its training part holds clips of one class only"),
    ({"a": "1", "b": "2"}, "the training part of fold 1 holds clips of one class only"),
    ({"a": "0", "b": "1"}, "fold '0': fold numbers start at 1"),
    ({"a": "-1", "b": "1"}, "fold '-1': fold numbers start at 1"),
])
def test_a_split_file_that_cannot_train_is_refused_before_any_job(tmp_path, capsys, rows, message):
    data, out = folder(tmp_path / "d"), tmp_path / "run"
    split = tmp_path / "split.csv"
    lines = [f"{cls}/{cls}.{i:05d}.wav,{part}" for cls, part in rows.items() for i in range(4)]
    split.write_text("clip,part\n" + "\n".join(lines) + "\n")
    assert run(data, out, tmp_path / "c", "--split-file", str(split)) == 2
    err = capsys.readouterr().err
    assert message in err and str(split) in err
    assert not (out / "parts").exists() or not list((out / "parts").iterdir())


def _ctrl_c_reaches_it() -> None:
    """In the child, before it starts: SIGINT at its default. A shell that starts CI in the background
    (nohup, &) ignores SIGINT, the children inherit that, and Python then never raises KeyboardInterrupt."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow  # a whole run, or several processes: 10 s or more on 2 cores
def test_ctrl_c_while_scattering_in_processes_is_one_line(tmp_path):
    """SIGINT while the features are extracted in 2 worker processes: the workers leave Ctrl-C to the
    command, which says one line and exits 130; no traceback from any process."""
    import signal
    import subprocess
    import sys
    import time

    argv = [sys.executable, "-m", "bench", "run", "--units", "indrnn", "--threads", "2", "--clips-per-genre", "4",
            "--seconds", "8", "--folds", "2", "--out", str(tmp_path / "run"), "--cache-dir", str(tmp_path / "c")]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[1], preexec_fn=_ctrl_c_reaches_it)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None and not list((tmp_path / "c").glob("synthetic-*/*/*/*.wav"))[39:]:
        time.sleep(0.2)  # until the corpus is written: scattering starts
    time.sleep(3.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "scattering (2 processes)" in err and "interrupted: everything finished is kept" in err


def test_ctrl_c_is_one_line_without_a_traceback(tmp_path):
    """SIGINT while training: exit 130, one line saying what is kept, no traceback."""
    import signal
    import subprocess
    import sys
    import time

    data = folder(tmp_path / "d", per_class=6)
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "bench", "run", *SMALL, "--epochs", "5000", "--patience", "0", "--data-dir",
            str(data), "--out", str(out), "--cache-dir", str(tmp_path / "c")]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[1], preexec_fn=_ctrl_c_reaches_it)
    deadline = time.time() + 240
    while not (out / "metadata.json").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(2.0)  # inside the first job's training
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "interrupted: everything finished is kept; the same command resumes" in err


def test_a_write_error_names_the_file_and_keeps_the_previous_report(tmp_path):
    """Under a file-size limit (ulimit -f), bench report fails naming the file, and the previous report
    is left whole (issue 27: a 146 KB report.html was replaced by a truncated 61 KB one)."""
    import resource
    import signal
    import subprocess
    import sys

    data, out = folder(tmp_path / "d"), tmp_path / "run"
    assert run(data, out, tmp_path / "c") == 0
    for p in (out / "report").iterdir():
        p.write_bytes(b"previous " + p.name.encode())
    before = {p.name: p.read_bytes() for p in (out / "report").iterdir()}
    (out / "tables.json").unlink(missing_ok=True)

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG), not the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    proc = subprocess.run([sys.executable, "-m", "bench", "report", str(out)], capture_output=True, text=True,
                          preexec_fn=limit, cwd=Path(__file__).resolve().parents[1], timeout=300)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(err) == 1, proc.stderr[-2000:]
    assert err[0].startswith(f"error: {out}") and "File too large" in err[0]
    assert {p.name: p.read_bytes() for p in (out / "report").iterdir()} == before
    assert not list(out.glob(".report.tmp-*")) and not list(out.glob(".*.tmp"))


def test_a_cache_dir_that_is_a_file_is_refused_before_any_clip_is_scattered(tmp_path, capsys):
    data, cache = folder(tmp_path / "d"), tmp_path / "cache"
    cache.write_text("not a folder")
    assert run(data, tmp_path / "run", cache) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: --cache-dir {cache} is a file, not a folder"]
    assert not (tmp_path / "run").exists()


def test_temporary_files_of_a_killed_cache_write_are_removed_at_the_next_start(tmp_path):
    import os
    import time

    data, cache = folder(tmp_path / "d"), tmp_path / "c"
    cache.mkdir()
    stale, fresh = cache / ".features-abc.npz.x1y2.tmp", cache / ".features-def.npz.z3w4.tmp"
    for f in (stale, fresh):
        f.write_bytes(b"\0" * 4096)
    old = time.time() - 3600
    os.utime(stale, (old, old))
    assert run(data, tmp_path / "run", cache) == 0
    assert not stale.exists() and fresh.exists()  # a fresh one may be another process's write in progress


def test_a_utf16_split_file_and_a_binary_toml_are_named_in_one_line(tmp_path, capsys):
    data = folder(tmp_path / "d")
    split = tmp_path / "split.csv"
    split.write_text("clip,part\n" + "".join(f"{c}/{c}.{i:05d}.wav,{i % 2 + 1}\n" for c in "ab" for i in range(4)),
                     encoding="utf-16")
    assert run(data, tmp_path / "r", tmp_path / "c", "--split-file", str(split)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--split-file {split}: not UTF-8 text" in err[0]
    toml = tmp_path / "my.toml"
    toml.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x01")
    assert run(data, tmp_path / "r", tmp_path / "c", "--config", str(toml)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--config {toml}: not UTF-8 text" in err[0]


@pytest.mark.parametrize("extra,message", [
    (["--folds", "5"], "--folds 5: stratified 5-fold CV needs at least 5 clips per class; the smallest class has 4"),
    (["--val-fraction", "0.9999999"], "--val-fraction 1 holds out"),
])
def test_splits_that_cannot_be_made_fail_in_the_dry_run_naming_the_option(tmp_path, capsys, extra, message):
    data = folder(tmp_path / "d")
    for dry in (["--dry-run"], []):
        assert run(data, tmp_path / "run", tmp_path / "c", *extra, *dry) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "run").exists() and not (tmp_path / "c").exists()  # nothing extracted, nothing written


def test_a_class_reduced_by_unreadable_clips_fails_before_any_job_naming_the_option(tmp_path, capsys):
    data = folder(tmp_path / "d")
    (data / "a" / "a.00003.wav").write_bytes(b"RIFF....not audio")  # a listed clip that will not decode
    assert run(data, tmp_path / "run", tmp_path / "c", "--folds", "4") == 2
    err = capsys.readouterr().err
    assert "--folds 4: stratified 4-fold CV needs at least 4 clips per class; the smallest class has 3" in err
    assert not (tmp_path / "run" / "parts").exists() or not list((tmp_path / "run" / "parts").iterdir())


def test_broken_links_link_loops_and_folders_named_like_audio_are_listed_as_skipped(tmp_path, capsys):
    import json
    import os

    data = folder(tmp_path / "d")
    os.symlink(tmp_path / "nowhere.wav", data / "a" / "broken.wav")
    os.symlink(data / "a" / "loop2.wav", data / "a" / "loop1.wav")
    os.symlink(data / "a" / "loop1.wav", data / "a" / "loop2.wav")
    (data / "b" / "folder.wav").mkdir()
    assert run(data, tmp_path / "run", tmp_path / "c") == 0
    skipped = dict(json.loads((tmp_path / "run" / "metadata.json").read_text())["features"]["skipped"])
    reasons = {Path(p).name: why for p, why in skipped.items()}
    assert "a symbolic link that leads to no file" in reasons["broken.wav"]
    assert "a symbolic link that leads to no file" in reasons["loop1.wav"] and "loop2.wav" in reasons
    assert "a folder, not an audio file" in reasons["folder.wav"]
    out = capsys.readouterr()
    assert "broken.wav" in out.out + out.err and "folder.wav" in out.out + out.err
    pred = pd.read_csv(tmp_path / "run" / "predictions.csv")
    assert sorted(pred[pred.unit == "indrnn"].clip_id) == sorted(f"{c}/{c}.{i:05d}.wav" for c in "ab" for i in range(4))


def test_units_without_results_are_said_so_never_nan_or_silently_dropped(tmp_path, capsys):
    from bench.execution.run import format_summary

    data = folder(tmp_path / "d")
    assert run(data, tmp_path / "one", tmp_path / "c") == 0
    assert run(data, tmp_path / "two", tmp_path / "c", "--units", "indrnn,lstm") == 0
    capsys.readouterr()
    # bench compare of runs with different unit sets
    assert main(["compare", str(tmp_path / "one"), str(tmp_path / "two"), "--out", str(tmp_path / "cmp")]) == 0
    text = (tmp_path / "cmp" / "compare.md").read_text()
    assert "nan" not in text.lower() and "not in this run" in text
    # a unit with no finished job stays in Table 1, said so
    for part in (tmp_path / "two" / "parts").glob("lstm-*"):
        shutil.rmtree(part)
    assert main(["report", str(tmp_path / "two")]) == 0
    t1 = pd.read_csv(tmp_path / "two" / "report" / "table1.csv").set_index("unit")
    assert t1.loc["lstm", "source"] == "no finished job" and t1.loc["lstm", "folds"] == 0
    page = (tmp_path / "two" / "report" / "report.md").read_text()
    assert "No job of LSTM finished" in page
    # a unit whose every fold diverged: no "nan %" in the summary
    folds = pd.DataFrame({"unit": ["gru", "gru"], "repeat": [0, 0], "fold": [0, 1], "test_acc": [np.nan, np.nan],
                          "diverged": [True, True], "params": [10, 10]})
    line = format_summary(folds, pd.DataFrame(columns=["unit", "seconds", "warmup"]), n_classes=4).splitlines()[1]
    assert "nan" not in line and "2 diverged, at chance; none finished" in line and "25.0" in line


def test_temporaries_of_a_run_killed_while_writing_are_removed_when_it_resumes(tmp_path):
    data, out = folder(tmp_path / "d"), tmp_path / "run"
    assert run(data, out, tmp_path / "c") == 0
    left = [out / ".epochs.parquet.4242.tmp", out / "parts" / ".indrnn-r00-f00.4242.abcd1234",
            out / ".folds.csv.x1y2.tmp"]
    left[0].write_bytes(b"\0" * 100)
    left[1].mkdir()
    (left[1] / "folds.parquet").write_bytes(b"half")
    left[2].write_text("half")
    assert run(data, out, tmp_path / "c") == 0  # the same command: resumes (nothing to do) and cleans
    assert not any(p.exists() for p in left)
    assert len(pd.read_csv(out / "folds.csv")) == 4
