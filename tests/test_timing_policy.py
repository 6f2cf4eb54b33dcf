"""The timing rules: only the step is timed, the same precision and threads for every unit, partial
batches and warm-up out of summaries, each job's environment recorded and not mixed silently."""
from __future__ import annotations

import json
import threading
import time

import numpy as np
import pandas as pd
import pytest
import torch

import models
from bench.measure import policy
from bench.cli import main
from bench.measure.speed import KINDS, SpeedConfig, measure_speed, summarise_speed
from bench.protocol.splits import Split
from bench.measure.timing import IterationTimer
from bench.execution.trainer import FoldData, TrainConfig, train_fold
from tests.test_run import bench_run, data_dir  # noqa: F401 (a fixture)


def tiny_fold(n: int = 14, frames: int = 12, channels: int = 5):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, frames, channels)).astype(np.float32)
    lengths = rng.integers(4, frames + 1, n)
    labels = np.arange(n) % 2
    split = Split(repeat=0, fold=0, seed=0, train=tuple(range(10)), val=(10, 11), test=(12, 13))
    return FoldData.build(x, lengths, labels, split.train, 2, "cpu"), split


def test_slow_batch_gather_is_not_timed(monkeypatch):
    """The gather happens before the clock starts: a 0.25 s gather never shows in a recorded time."""
    data, split = tiny_fold()
    gather = FoldData.batch

    def slow_batch(self, idx):
        time.sleep(0.25)
        return gather(self, idx)

    monkeypatch.setattr(FoldData, "batch", slow_batch)
    torch.manual_seed(0)
    model = models.build("indrnn", 5, 2, models.ModelConfig(hidden=4, layers=1, dropout=0.0))
    timer = IterationTimer("cpu", warmup=0, batch_size=4)
    t0 = time.perf_counter()
    train_fold(model, data, split, TrainConfig(epochs=2, batch_size=4, patience=0), timer, seed=0)
    wall = time.perf_counter() - t0
    times = timer.times()
    assert len(times) == 6 and wall > 6 * 0.25  # the gathers did run, 3 batches x 2 epochs
    assert max(times) < 0.2, times


def test_timer_flags_partial_batches_and_step_warmup():
    timer = IterationTimer("cpu", warmup=1, batch_size=8)
    for n, warm in [(8, False), (8, True), (8, False), (3, False), (8, False)]:
        with timer.iteration(n, warmup=warm):
            pass
    assert timer.sizes == [8, 8, 8, 3, 8]
    assert timer.is_warmup() == [True, True, False, False, False]
    assert timer.is_partial() == [False, False, False, True, False]
    assert timer.steady() == [False, False, True, False, True]
    assert timer.summary().n == 2


def test_threads_bind_torch_and_numba_pools_in_the_calling_thread():
    import numba

    seen = {}

    def job():
        policy.set_threads(1)
        seen.update(policy.thread_counts())

    t = threading.Thread(target=job)
    t.start()
    t.join()
    assert seen["numba_threads"] == 1 and seen["torch_threads"] == 1
    with pytest.raises(policy.PolicyError, match="numba was started with"):
        policy.set_threads(numba.config.NUMBA_NUM_THREADS + 1)
    with pytest.raises(policy.PolicyError, match="positive"):
        policy.set_threads(0)


@pytest.mark.slow  # a whole run, or several processes: 10 s or more on 2 cores
def test_threads_one_inside_every_job(data_dir, tmp_path):
    """`--threads 1`: each job records the thread counts it ran with, read inside the job."""
    import numba

    assert numba.config.NUMBA_NUM_THREADS >= 1
    out = tmp_path / "run"
    assert main(bench_run(data_dir, out, tmp_path / "c", "--units", "indrnn,gru", "--no-report")) == 0  # --threads 1
    env = pd.read_csv(out / "environment.csv")
    assert len(env) == 9 and (env.numba_threads == 1).all() and (env.torch_threads == 1).all()
    folds = pd.read_csv(out / "folds.csv")
    assert set(folds.env_id) == set(env.env_id) and len(set(env.env_id)) == 1
    assert env.torch.iloc[0] == torch.__version__  # with its build tag


@pytest.mark.slow  # whole runs: 10 s or more on 2 cores
@pytest.mark.parametrize("precision", ["fp32", "tf32", "bf16"])
def test_precision_is_set_and_recorded(data_dir, tmp_path, precision):
    out = tmp_path / precision
    argv = bench_run(data_dir, out, tmp_path / "c", "--units", "indrnn,lstm", "--folds", "2", "--epochs", "2",
                     "--precision", precision, "--no-report", "--no-baseline")
    assert main(argv) == 0
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["config"]["precision"] == precision
    flags = meta["environment"]["precision_flags"]
    mode = "tf32" if precision == "tf32" else "ieee"
    if "cuda_matmul" in flags:
        assert flags["cuda_matmul"] == flags["cudnn_rnn"] == flags["cudnn_conv"] == mode
    assert flags["float32_matmul"] == ("high" if precision == "tf32" else "highest")
    epochs = pd.read_csv(out / "epochs.csv")
    assert np.isfinite(epochs.train_loss).all()
    policy.set_precision("fp32")  # leave the process as the other tests expect it


def test_bf16_autocast_covers_every_unit_forward():
    """Under the bf16 policy the whole forward runs in the autocast region (logits in bfloat16) for every
    unit, and stays close to the float32 result; the IndRNN's recurrence takes bf16 projections."""
    torch.manual_seed(0)
    x, lengths = torch.randn(2, 6, 5), torch.tensor([6, 3])
    for unit in ("rnn", "lstm", "gru", "indrnn"):
        model = models.build(unit, 5, 3, models.ModelConfig(hidden=4, layers=2, dropout=0.0)).eval()
        with policy.autocast("bf16", "cpu"):
            low = model(x, lengths)
        with policy.autocast("fp32", "cpu"):
            full = model(x, lengths)
        assert low.dtype == torch.bfloat16 and full.dtype == torch.float32, unit
        torch.testing.assert_close(low.float(), full, rtol=0.05, atol=0.05)


def test_graph_step_refused_on_cpu_before_anything_is_written(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(bench_run(data_dir, out, tmp_path / "c", "--step", "graph", "--device", "cpu")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--step graph needs a CUDA device" in err[0]
    assert not out.exists() and not (tmp_path / "c").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_cuda_asked_where_none_exists(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(bench_run(data_dir, out, tmp_path / "c", "--device", "cuda")) == 2
    assert "sees no CUDA device" in capsys.readouterr().err and not out.exists()
    assert policy.resolve_device("auto") == "cpu"


def test_fused_adam_runs_eagerly(data_dir, tmp_path):
    out = tmp_path / "run"
    assert main(bench_run(data_dir, out, tmp_path / "c", "--units", "indrnn", "--fused-adam", "--epochs", "2",
                          "--no-report", "--no-baseline")) == 0
    assert json.loads((out / "metadata.json").read_text())["config"]["fused_adam"] is True


@pytest.mark.slow  # whole runs: 10 s or more on 2 cores
def test_resume_in_another_environment_is_refused_unless_allowed(data_dir, tmp_path, monkeypatch, capsys):
    import shutil

    import bench.measure.envinfo as envinfo

    out = tmp_path / "run"
    argv = bench_run(data_dir, out, tmp_path / "c", "--units", "indrnn,lstm", "--epochs", "2", "--no-baseline")
    assert main([*argv, "--no-report"]) == 0
    shutil.rmtree(out / "parts" / "lstm-r00-f02")  # one job left to do
    monkeypatch.setattr(envinfo.platform, "node", lambda: "another-machine")
    assert main([*argv, "--no-report"]) == 2
    err = capsys.readouterr().err
    assert "its finished jobs ran in another environment (" in err and "-> another-machine" in err and "--allow-mixed" in err
    assert not (out / "parts" / "lstm-r00-f02").exists()
    assert main([*argv, "--allow-mixed"]) == 0
    env = pd.read_csv(out / "environment.csv")
    assert env.set_index("fold").loc[2].query("unit == 'lstm'").host.item() == "another-machine"
    assert env.env_id.nunique() == 2
    timing = pd.read_csv(out / "report" / "timing.csv")
    assert len(timing) == 4 and set(timing.env_id) == set(env.env_id)  # one row per unit and environment
    assert "ran in 2 environments" in (out / "report" / "report.md").read_text()


def test_speed_measures_every_unit_on_cpu():
    units = tuple(models.available())
    cfg = SpeedConfig(units=units, batch=3, frames=10, features=6, hidden=8, layers=2, rounds=3, warmup=1,
                      device="cpu", threads=1)
    raw = measure_speed(cfg, progress=False)
    assert len(raw) == 3 * len(units) * len(KINDS) and (raw.seconds > 0).all()
    assert raw.groupby("round").size().eq(len(units) * len(KINDS)).all()  # interleaved: every round has every cell
    summary = summarise_speed(raw)
    assert len(summary) == len(units) * len(KINDS) and (summary.n == 3).all()
    ref = summary[summary.unit == "indrnn"].set_index("kind")["median_s"]
    for r in summary.itertuples():  # each ratio is to the IndRNN's median of the same measurement
        assert r.ratio_to_indrnn == pytest.approx(r.median_s / ref[r.kind]), (r.unit, r.kind)
    steps = summary[summary.kind == "step"].set_index("unit")["median_s"]
    assert steps["lstm"] == pytest.approx(raw[(raw.unit == "lstm") & (raw.kind == "step")].seconds.median())


def test_speed_command_writes_table_and_plot(tmp_path, capsys):
    out = tmp_path / "speed"
    argv = ["speed", "--units", "indrnn,lstm", "--device", "cpu", "--batch-size", "2", "--frames", "8",
            "--features", "4", "--hidden", "4", "--layers", "1", "--rounds", "2", "--warmup", "1", "--out", str(out)]
    assert main(argv) == 0
    table = pd.read_csv(out / "speed.csv")
    assert set(table.unit) == {"indrnn", "lstm"} and set(table.kind) == set(KINDS) and set(table["mode"]) == {"eager"}
    assert (out / "speed.png").stat().st_size > 10_000
    meta = json.loads((out / "speed.json").read_text())
    assert meta["config"]["frames"] == 8 and meta["environment"]["torch_threads"] >= 1
    assert "ratio_to_indrnn" in capsys.readouterr().out
    assert main([*argv[:-2], "--step", "graph", "--out", str(tmp_path / "g")]) == (0 if torch.cuda.is_available() else 2)


@pytest.mark.slow  # whole runs: 10 s or more on 2 cores
def test_speed_default_shape_is_the_paper_presets():
    """bench speed's default sequence length is what a 30 s clip gives with the default features."""
    from features import FeatureConfig
    from features.scattering import Scatterer

    cfg = FeatureConfig()
    assert cfg.duration == 30.0 and (cfg.J, cfg.Q) == (10, 8)
    assert Scatterer(cfg).window.n_frames == SpeedConfig().frames == 449


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the GPU check's failure on a machine without CUDA")
def test_gpu_check_fails_without_a_gpu(tmp_path):
    """tests/gpu_check.sh can fail: on a machine with no CUDA device it stops at once with exit 1."""
    import subprocess
    from pathlib import Path

    script = Path(__file__).with_name("gpu_check.sh")
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "OUT": str(tmp_path), "BUDGET_S": "60"})
    log = (tmp_path / "gpu_check.log").read_text()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAILED: a CUDA device and Triton" in log and "CUDA tests" not in log
