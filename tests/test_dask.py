"""The Dask executor on a real LocalCluster of 2 worker processes."""
import json
import os
import signal
import threading
import time

import pandas as pd
import pytest

from bench.cli import main
from tests.test_run import bench_run, data_dir  # noqa: F401  (module fixture)

pytestmark = pytest.mark.slow  # Dask clusters started and torn down: minutes

distributed = pytest.importorskip("dask.distributed")

COLS = ["unit", "repeat", "fold", "test_acc", "test_auc", "epochs", "best_epoch", "diverged"]


def sorted_folds(path):
    return pd.read_csv(path / "folds.csv").sort_values(["unit", "repeat", "fold"]).reset_index(drop=True)


def without_threads(argv: list[str]) -> list[str]:
    i = argv.index("--threads")
    return argv[:i] + argv[i + 2:]


@pytest.mark.parametrize("threads", [1, None], ids=["threads1", "default-threads"])
def test_dask_results_equal_the_local_executor_fold_by_fold(data_dir, tmp_path, threads):  # noqa: F811
    """The issue's case: IndRNN and GRU, local against a real LocalCluster, with --threads and without."""
    from bench.execution.executors import DEFAULT_THREADS

    opts = ["--units", "indrnn,gru"] + (["--threads", str(threads)] if threads else [])
    for name, executor in (("local", []), ("dask", ["--executor", "dask", "--workers", "2", "--threads-per-worker", "1"])):
        argv = without_threads(bench_run(data_dir, tmp_path / name, tmp_path / "c")) + opts + executor
        assert main(argv) == 0
    local, dask = sorted_folds(tmp_path / "local"), sorted_folds(tmp_path / "dask")
    assert len(dask) == 9 and set(dask.unit) == {"indrnn", "gru", "scat+logreg"}
    for unit in ("indrnn", "gru"):  # the test accuracy of every fold, exactly
        assert local[local.unit == unit].test_acc.tolist() == dask[dask.unit == unit].test_acc.tolist()
    pd.testing.assert_frame_equal(local[COLS], dask[COLS])
    ep = [pd.read_csv(tmp_path / n / "epochs.csv").sort_values(["unit", "fold", "epoch"]).reset_index(drop=True)
          for n in ("local", "dask")]
    pd.testing.assert_frame_equal(*ep)  # every loss of every epoch to the last bit
    assert (tmp_path / "local" / "splits.json").read_text() == (tmp_path / "dask" / "splits.json").read_text()
    sessions = [json.loads((tmp_path / n / "metadata.json").read_text())["sessions"][0] for n in ("local", "dask")]
    assert sessions[0]["threads"] == sessions[1]["threads"] == (threads or DEFAULT_THREADS)
    # every job, the baseline included, ran its BLAS pool (the logistic regression's) at the run's count,
    # and the baseline predicted every test clip the same on both executors
    keys = ["unit", "repeat", "fold"]
    env = [pd.read_csv(tmp_path / n / "environment.csv").sort_values(keys).reset_index(drop=True)
           for n in ("local", "dask")]
    assert len(env[1]) == 9
    assert env[0].blas_threads.tolist() == env[1].blas_threads.tolist() == [threads or DEFAULT_THREADS] * 9
    preds = [pd.read_csv(tmp_path / n / "predictions.csv").sort_values(keys + ["clip_id"]).reset_index(drop=True)
             for n in ("local", "dask")]
    pd.testing.assert_frame_equal(*preds)


def test_a_worker_killed_mid_task_is_retried_and_no_row_is_lost_or_doubled(data_dir, tmp_path):  # noqa: F811
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = distributed.Client(cluster)
    out = tmp_path / "run"
    argv = bench_run(data_dir, out, tmp_path / "c", "--units", "indrnn,gru", "--epochs", "25", "--patience", "0",
                     "--executor", "dask", "--scheduler", cluster.scheduler_address)
    result = {}
    runner = threading.Thread(target=lambda: result.setdefault("rc", main(argv)))
    runner.start()
    killed = None
    deadline = time.time() + 120
    while killed is None and time.time() < deadline and runner.is_alive():
        busy = {w: tasks for w, tasks in client.processing().items() if tasks}
        if busy and any(k for tasks in busy.values() for k in tasks if "run_job" in str(k)):
            addr = next(iter(busy))
            pid = client.run(os.getpid, workers=[addr])[addr]
            time.sleep(0.3)  # let the task get going
            os.kill(pid, signal.SIGKILL)  # the worker dies in the middle of a training job
            killed = pid
        time.sleep(0.05)
    runner.join(timeout=300)
    client.close()
    cluster.close()
    assert killed is not None, "no task was seen running"
    assert result.get("rc") == 0
    folds = pd.read_csv(out / "folds.csv")
    assert len(folds) == 9 and not folds.duplicated(["unit", "repeat", "fold"]).any()
    assert folds.test_acc.notna().all()
    iters = pd.read_csv(out / "iterations.csv")
    assert not iters.duplicated(["unit", "repeat", "fold", "iteration"]).any()


def test_a_run_resumed_with_another_executor_skips_the_jobs_already_done(data_dir, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    argv = bench_run(data_dir, out, tmp_path / "c", "--units", "indrnn", "--no-baseline")
    assert main(argv) == 0
    parts = out / "parts"
    for lost in ("indrnn-r00-f01", "indrnn-r00-f02"):  # as if the run had stopped after the first job
        for f in (parts / lost).iterdir():
            f.unlink()
        (parts / lost).rmdir()
    kept = (parts / "indrnn-r00-f00").stat().st_mtime_ns
    assert main(argv + ["--executor", "dask", "--workers", "2"]) == 0
    assert (parts / "indrnn-r00-f00").stat().st_mtime_ns == kept
    folds = pd.read_csv(out / "folds.csv")
    assert folds.fold.tolist() == [0, 1, 2]
    sessions = json.loads((out / "metadata.json").read_text())["sessions"]
    assert [s["executor"] for s in sessions] == ["local", "dask"] and sessions[1]["jobs_todo"] == 2


def test_a_gpu_cluster_has_one_worker_per_device_each_seeing_only_its_own():
    from bench.execution.executors import local_cluster

    cluster = local_cluster(workers=2, threads_per_worker=1, gpus=2)  # works without GPUs: only env + resources
    client = distributed.Client(cluster)
    try:
        client.wait_for_workers(2, timeout=60)
        seen = client.run(lambda: os.environ.get("CUDA_VISIBLE_DEVICES"))
        assert sorted(seen.values()) == ["0", "1"]
        info = client.scheduler_info()["workers"]
        assert [w["resources"] for w in info.values()] == [{"GPU": 1}, {"GPU": 1}]
    finally:
        client.close()
        cluster.close()


def test_scheduler_without_dask_executor_is_a_clear_error(data_dir, tmp_path, capsys):  # noqa: F811
    argv = bench_run(data_dir, tmp_path / "r", tmp_path / "c", "--scheduler", "tcp://127.0.0.1:1")
    assert main(argv) == 2
    assert "--scheduler needs --executor dask" in capsys.readouterr().err
