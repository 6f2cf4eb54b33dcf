"""A run directory nobody can corrupt: one writer at a time, parts that know their run and are
verified when read, top-level tables rebuilt from intact parts (issue 19, points 1-3 and 9)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from bench.cli import main
from tests.test_run import bench_run, data_dir  # noqa: F401  (module fixture)

pytestmark = pytest.mark.slow  # runs killed, locked and resumed in subprocesses

ROOT = Path(__file__).parent.parent


def _wait_for(path: Path, proc: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.time() + seconds
    while not path.exists():
        assert proc.poll() is None, "the first run ended before it took the lock"
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.02)


@pytest.mark.parametrize("second", [["--hidden", "16"], []], ids=["different-options", "same-options"])
def test_a_second_writer_on_one_out_fails_at_once_naming_the_holder(data_dir, tmp_path, capsys, second):  # noqa: F811
    out, cache = tmp_path / "run", tmp_path / "c"
    argv = bench_run(data_dir, out, cache, "--units", "indrnn", "--no-baseline")
    proc = subprocess.Popen([sys.executable, "-m", "bench", *argv, "--no-report"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(out / ".lock.holder", proc)
        os.kill(proc.pid, signal.SIGSTOP)  # the first writer holds the lock, frozen mid-run
        try:
            t0 = time.time()
            assert main(argv + second + ["--no-report"]) == 2
            err = capsys.readouterr().err.strip()
            assert err.count("\n") == 0 and f"is being written by pid {proc.pid} on " in err and "bench run" in err
            assert time.time() - t0 < 60  # at once: no training ran (generous bound, not a timing test)
            assert main(["report", str(out)]) == 2  # the report would rebuild the tables: refused too
            assert f"pid {proc.pid}" in capsys.readouterr().err
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        assert proc.wait(timeout=300) == 0
    finally:
        proc.kill()
    folds = pd.read_csv(out / "folds.csv")
    assert len(folds) == 3 and folds.params.nunique() == 1  # one configuration's jobs only
    assert "hidden = 8" in (out / "config.toml").read_text()
    assert not (out / ".lock.holder").exists()  # released with the run


def test_a_stale_lock_of_a_dead_process_is_taken_over(data_dir, tmp_path, caplog):  # noqa: F811
    out = tmp_path / "run"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    out.mkdir()
    (out / ".lock.holder").write_text(json.dumps({"host": os.uname().nodename, "pid": int(dead.stdout),
                                                  "started": "2026-01-01T00:00:00", "command": "bench run"}))
    assert main(bench_run(data_dir, out, tmp_path / "c", "--units", "indrnn", "--no-baseline", "--no-report")) == 0
    assert f"taking over the stale lock of pid {int(dead.stdout)}" in caplog.text
    assert len(pd.read_csv(out / "folds.csv")) == 3


def test_a_run_refused_before_its_first_write_leaves_no_folder(tmp_path):
    from bench.results.runlock import run_lock

    with pytest.raises(RuntimeError):
        with run_lock(tmp_path / "new", "bench run"):
            raise RuntimeError("refused")
    assert not (tmp_path / "new").exists()


def test_parts_without_metadata_refuse_another_config_by_name(data_dir, tmp_path, capsys):  # noqa: F811
    out, cache = tmp_path / "run", tmp_path / "c"
    argv = bench_run(data_dir, out, cache, "--units", "indrnn", "--no-baseline", "--no-report")
    assert main(argv) == 0
    (out / "metadata.json").unlink()
    capsys.readouterr()
    assert main(argv + ["--hidden", "16", "--seed", "5"]) == 2
    err = capsys.readouterr().err
    assert "indrnn-r00-f00, indrnn-r00-f01, indrnn-r00-f02 belong to run" in err and "another config" in err
    assert not (out / "metadata.json").exists()  # refused before anything was written
    assert main(argv) == 0  # the run's own options: its parts are recognised and resumed
    assert "resuming" in capsys.readouterr().out
    assert json.loads((out / "metadata.json").read_text())["config"]["hidden"] == 8


def test_a_truncated_part_is_named_moved_aside_and_rerun(data_dir, tmp_path, caplog):  # noqa: F811
    out, cache = tmp_path / "run", tmp_path / "c"
    argv = bench_run(data_dir, out, cache, "--units", "indrnn", "--no-report")
    assert main(argv) == 0
    good = pd.read_csv(out / "folds.csv")
    part = out / "parts" / "indrnn-r00-f01" / "epochs.parquet"
    part.write_bytes(part.read_bytes()[:100])  # truncated
    table = out / "folds.csv"
    table.write_text(table.read_text()[:60])  # and a truncated top-level table
    epochs_csv = (out / "epochs.csv").read_text()

    assert main(["report", str(out)]) == 0  # rebuilt from the intact parts; the damaged one named
    assert "damaged part: parts/indrnn-r00-f01/epochs.parquet does not match its checksum" in caplog.text
    assert (out / "parts.damaged" / "indrnn-r00-f01" / "epochs.parquet").is_file()
    folds = pd.read_csv(out / "folds.csv")
    assert len(folds) == 5 and "indrnn-r00-f01" not in set(folds.unit + "-r00-f0" + folds.fold.astype(str))
    assert (out / "epochs.csv").is_file() and (out / "epochs.csv").read_text() != epochs_csv  # replaced, not deleted
    assert len(pd.read_csv(out / "epochs.csv")) == 2 * 4
    md = (out / "report" / "report.md").read_text()
    assert "Only 5 of 6 jobs are reported: 1 damaged part(s) were moved to parts.damaged/ (indrnn-r00-f01)" in md

    caplog.clear()
    assert main(argv) == 0  # the next run reruns the moved job only
    folds = pd.read_csv(out / "folds.csv").sort_values(["unit", "fold"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(folds.drop(columns=["train_s", "median_iter_s", "q1_iter_s", "q3_iter_s"]),
                                  good.sort_values(["unit", "fold"]).reset_index(drop=True).drop(
                                      columns=["train_s", "median_iter_s", "q1_iter_s", "q3_iter_s"]))


def test_a_truncated_top_level_table_is_rebuilt_by_the_next_run(data_dir, tmp_path):  # noqa: F811
    out, cache = tmp_path / "run", tmp_path / "c"
    argv = bench_run(data_dir, out, cache, "--units", "indrnn", "--no-baseline", "--no-report")
    assert main(argv) == 0
    want = (out / "epochs.parquet").read_bytes()
    (out / "epochs.parquet").write_bytes(want[: len(want) // 2])
    assert main(argv) == 0
    assert len(pd.read_parquet(out / "epochs.parquet")) == 3 * 4


def test_parts_and_their_folders_take_the_umask_mode(data_dir, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    old = os.umask(0o022)
    try:
        assert main(bench_run(data_dir, out, tmp_path / "c", "--units", "indrnn", "--no-baseline", "--no-report")) == 0
    finally:
        os.umask(old)
    assert {oct(p.stat().st_mode & 0o777) for p in (out / "parts").iterdir()} == {"0o755"}


def test_a_killed_session_is_listed_in_the_metadata(data_dir, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    argv = bench_run(data_dir, out, tmp_path / "c", "--units", "indrnn", "--no-baseline", "--no-report")
    proc = subprocess.Popen([sys.executable, "-m", "bench", *argv], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        _wait_for(out / "parts" / "indrnn-r00-f00", proc)
    finally:
        proc.kill()
        proc.wait()
    assert main(argv) == 0
    sessions = json.loads((out / "metadata.json").read_text())["sessions"]
    assert len(sessions) == 2 and sessions[0]["finished"] is None and sessions[1]["finished"]
    assert (out / "epochs.csv").is_file() and (out / "iterations.csv").is_file()
