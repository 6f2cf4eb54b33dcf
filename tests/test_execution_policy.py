"""The execution policy in force where the work is done, and recorded as it was: subnormal floats in
every thread that computes, the kernel and dtype each recurrence ran, the scattering's threads,
bench scale's step, and a generated store that says so."""
from __future__ import annotations

import json
import os
import threading

import numba
import numpy as np
import pandas as pd
import pytest
import threadpoolctl
import torch

import models
from bench.measure import policy, subnormals
from bench.cli import main
from bench.config import SUBNORMALS
from bench.measure.speed import SpeedConfig, measure_speed, summarise_speed
from tests.test_run import bench_run, data_dir  # noqa: F401 (a fixture)

pytestmark = pytest.mark.skipif(not subnormals.supported(), reason="x86-64 only: the MXCSR flush-to-zero control")

TINY = np.float32(1e-20)  # its square, 1e-40, is subnormal in float32


@numba.njit(parallel=True)
def _products_per_thread(n):  # pragma: no cover - compiled
    out = np.empty(n, np.float32)
    tid = np.empty(n, np.int64)
    tiny = np.full(n, np.float32(1e-20))
    for i in numba.prange(n):
        out[i] = tiny[i] * tiny[i]
        tid[i] = numba.get_thread_id()
    return out, tid


def _torch_products(threads: int) -> torch.Tensor:
    x = torch.full((threads * 100_000,), 1e-20)
    return x * x  # split over every torch thread


def test_policy_choices_are_the_configs():
    assert SUBNORMALS == subnormals.SUBNORMAL_POLICIES


@pytest.mark.parametrize("where", ["main thread", "worker thread"])
def test_flush_is_in_force_in_every_thread_of_both_pools(where):
    """A subnormal product computed by torch across its pool and by numba in each of its threads reads
    as 0 under flush and as itself under keep, in the thread that applied it (a Dask worker's is not the main)."""
    threads = min(2, numba.config.NUMBA_NUM_THREADS)
    seen = {}

    def check():
        for mode in ("keep", "flush", "keep", "flush"):
            got = policy.apply_policy(threads, mode)
            t = _torch_products(threads)
            n, tid = _products_per_thread(4 * threads)
            seen[mode] = ((t == 0).float().mean().item(), float((n == 0).mean()), len(set(tid.tolist())), got)

    if where == "main thread":
        check()
    else:
        # OpenBLAS (0.3.31, pthreads) ignores a raise of its thread count asked from any thread but the
        # main one: a test that lowered it before (bench features --threads 1) would leave the worker at 1.
        # A process starts at the core count, as here, whatever ran before in this one.
        threadpoolctl.threadpool_limits(limits=threads, user_api="blas")
        worker = threading.Thread(target=check)
        worker.start()
        worker.join()
    flush, keep = seen["flush"], seen["keep"]
    assert flush[:2] == (1.0, 1.0) and keep[:2] == (0.0, 0.0), seen
    assert flush[2] == threads and flush[3] == {"subnormals": "flush", "torch_threads": threads,
                                                  "numba_threads": threads, "blas_threads": threads}
    assert subnormals.state() == "flush"


def test_torch_set_flush_denormal_alone_is_not_enough():
    """Why the policy sets every pool thread: torch's flag reaches its calling thread only (measured
    with torch 2.13), so half of a 2-thread product stayed subnormal. Skipped if a torch makes it global."""
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs two threads")
    policy.apply_policy(2, "keep")
    torch.set_flush_denormal(True)  # the calling thread only
    share = (_torch_products(2) == 0).float().mean().item()
    policy.apply_policy(2, "flush")
    if share == 1.0:
        pytest.skip("this torch flushes in its workers too")
    assert 0.0 <= share < 1.0 and subnormals.state() == "flush"


def test_speed_times_both_policies_side_by_side():
    cfg = SpeedConfig(units=("lstm", "indrnn"), batch=2, frames=6, features=4, hidden=4, layers=1, rounds=2,
                      warmup=1, threads=1, subnormals=("flush", "keep"))
    raw = measure_speed(cfg, progress=False)
    assert set(raw.subnormals) == {"flush", "keep"} and raw.groupby("round").subnormals.nunique().eq(2).all()
    summary = summarise_speed(raw)
    assert len(summary) == 2 * 2 * 3
    for (sub, kind), g in summary.groupby(["subnormals", "kind"]):  # ratios within one policy
        g = g.set_index("unit")
        assert g.loc["lstm", "ratio_to_indrnn"] == pytest.approx(g.loc["lstm", "median_s"] / g.loc["indrnn", "median_s"])
    assert subnormals.state() == "flush"  # left as the first setting


def test_a_run_records_its_policy_kernels_and_dtypes(data_dir, tmp_path):  # noqa: F811
    out = tmp_path / "keep"
    assert main(bench_run(data_dir, out, tmp_path / "c", "--units", "indrnn,lstm", "--folds", "2", "--epochs", "2",
                          "--subnormals", "keep", "--no-baseline")) == 0
    env = pd.read_csv(out / "environment.csv")
    assert (env.subnormals == "keep").all() and env.numba.notna().all()
    folds = pd.read_csv(out / "folds.csv").set_index(["unit", "fold"])
    assert (folds.loc["indrnn", "kernels"] == "indrnn:numba:float32").all()
    assert (folds.loc["lstm", "kernels"] == "lstm:aten:float32").all()
    timing = pd.read_csv(out / "report" / "timing.csv").set_index("unit")
    assert timing.loc["indrnn", "kernel"] == "indrnn:numba:float32" and "subnormals keep" in timing.loc["lstm", "execution"]
    assert "subnormals keep" in (out / "report" / "report.md").read_text()
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["config"]["subnormals"] == "keep" and meta["environment"]["subnormals"] == "keep"
    assert meta["features"]["extraction"]["torch_threads"] == 1
    policy.apply_policy(None, "flush")


@pytest.mark.slow  # a whole run, or several processes: 10 s or more on 2 cores
def test_accuracy_is_the_same_under_both_policies(data_dir, tmp_path):  # noqa: F811
    """Same seed, same folds: flushing subnormals changes no prediction here (the values that reach
    the subnormal range are far below anything that decides a class)."""
    accs = {}
    for mode in ("flush", "keep"):
        out = tmp_path / mode
        assert main(bench_run(data_dir, out, tmp_path / "c", "--units", "indrnn,gru", "--subnormals", mode,
                              "--no-report")) == 0
        accs[mode] = pd.read_csv(out / "folds.csv").set_index(["unit", "fold"])["test_acc"]
    pd.testing.assert_series_equal(accs["flush"], accs["keep"])
    policy.apply_policy(None, "flush")


def test_bf16_records_the_dtype_each_recurrence_really_ran():
    """The recorded dtype is the one the recurrence computed in, checked against forward hooks on the
    recurrent modules themselves; under CPU autocast the units differ (so the report states it)."""
    from models.indrnn import IndRNNLayer
    from models.kernels import recording

    x, lengths = torch.randn(2, 6, 5), torch.tensor([6, 3])
    seen = {}
    for unit in ("rnn", "lstm", "gru", "indrnn"):
        model = models.build(unit, 5, 3, models.ModelConfig(hidden=4, layers=2, dropout=0.0)).eval()
        hooked = set()
        for m in model.modules():
            if isinstance(m, (torch.nn.RNNBase, IndRNNLayer)):
                m.register_forward_hook(lambda mod, args, out: hooked.add(str((out[0] if isinstance(out, tuple) else out).dtype)))
        with recording() as ran, policy.autocast("bf16", "cpu"):
            model(x, lengths)
        recorded = {f"torch.{dtype}" for _, _, dtype in ran}
        assert recorded == hooked and len(recorded) == 1, (unit, ran, hooked)
        seen[unit] = recorded.pop()
    assert seen["indrnn"] == "torch.float32"  # the numba kernel has no bfloat16: fp32 on bf16 projections
    from models.torch_units import cpu_bf16_lstm

    # autocast lowers nn.LSTM on the CPU, not nn.GRU (torch 2.13), where oneDNN has a bf16 LSTM (AVX-512-BF16);
    # on an AVX2-only CPU the LSTM computes in float32, and says so
    assert seen["lstm"] == ("torch.bfloat16" if cpu_bf16_lstm() else "torch.float32")
    assert seen["gru"] == "torch.float32"


def test_features_extraction_runs_under_threads_one(tmp_path, monkeypatch, capsys):
    from features.scattering import Scatterer

    seen = []
    call = Scatterer.__call__

    def spy(self, waves):
        seen.append((torch.get_num_threads(), numba.get_num_threads(), subnormals.state()))
        return call(self, waves)

    monkeypatch.setattr(Scatterer, "__call__", spy)
    from tests.conftest import write_gtzan

    data = write_gtzan(tmp_path / "d", per_genre=2, seconds=1.0)
    argv = ["features", "--dataset", "gtzan", "--data-dir", str(data), "--cache-dir", str(tmp_path / "c"),
            "--seconds", "1", "--J", "6", "--Q", "4", "--threads", "1"]
    assert main(argv) == 0
    assert len(seen) == 4 and set(seen) == {(1, 1, "flush")}
    assert "policy: 1 torch thread(s), subnormals flush" in capsys.readouterr().out
    from features.featureset import load

    cache = next((tmp_path / "c").glob("features-gtzan-*.npz"))
    extraction = load(cache).extraction
    assert extraction["torch_threads"] == 1 and extraction["subnormals"] == "flush" and extraction["seconds"] > 0


def test_features_are_the_same_under_both_policies(tmp_path):
    """Why the policy is not part of the feature cache key: the log compression adds 1e-6."""
    from features import FeatureConfig, Scatterer

    wave = np.random.default_rng(0).standard_normal((1, 8000)).astype(np.float32) * np.float32(1e-3)
    wave[:, 4000:] = 0  # silence: the transform's smallest values
    scat = Scatterer(FeatureConfig(sample_rate=8000, duration=1.0, J=6, Q=4))
    out = {}
    for mode in ("keep", "flush"):
        policy.apply_policy(1, mode)
        out[mode] = scat(wave)
    np.testing.assert_array_equal(out["flush"], out["keep"])
    policy.apply_policy(None, "flush")


def test_a_rehearsal_store_says_generated_on_every_figure_and_table(tmp_path):
    from bench.results.rehearsal import write_rehearsal
    from reports import figures
    from reports.load import load_run

    out = tmp_path / "rehearsal"
    write_rehearsal(out, jobs=8, checkpoints=(1,), baseline=True, size=dict(epochs=3, iters_per_epoch=4))
    assert json.loads((out / "metadata.json").read_text())["generated"].startswith("rehearsal")
    assert main(["report", str(out)]) == 0  # as a user would: the tables are built from the parts
    md = (out / "report" / "report.md").read_text()
    assert md.count("GENERATED, NOT MEASURED") >= 3 and "measured in this run" not in md
    for name in ("table1", "timing", "pairwise"):
        table = pd.read_csv(out / "report" / f"{name}.csv")
        measured = table[table["source"].str.contains("quoted") == False]  # noqa: E712
        assert len(measured) and measured["source"].str.startswith("GENERATED, NOT MEASURED").all(), name
    run = load_run(out)
    for fig in (figures.figure5(run), figures.figure4(run), figures.confusion_figure(run)):
        titles = [fig._suptitle.get_text() if fig._suptitle else ""] + [ax.get_title() for ax in fig.axes]
        assert any("GENERATED, NOT MEASURED" in t for t in titles)


def test_scale_times_bench_runs_step_and_records_it(monkeypatch):
    """bench scale's cell: the model with dropout and batch norm as configured, the valid lengths
    passed (the IndRNN's masked batch-norm path), clipping, under the subnormal policy; all recorded."""
    from bench.measure.scale import ScaleConfig, measure
    from models.classifier import SequenceClassifier
    from models.masked_norm import MaskedBatchNorm

    calls = []
    forward, norm = SequenceClassifier.forward, MaskedBatchNorm.forward

    def spy(self, x, lengths=None):
        drop = [m.p for m in self.modules() if isinstance(m, torch.nn.Dropout)]
        calls.append((lengths is not None, self.training, max(drop, default=0.0)))
        return forward(self, x, lengths)

    masked = []
    monkeypatch.setattr(SequenceClassifier, "forward", spy)
    monkeypatch.setattr(MaskedBatchNorm, "forward", lambda self, x, *a, **k: (masked.append(bool(a or k)),
                                                                             norm(self, x, *a, **k))[1])
    cfg = ScaleConfig(batch=2, features=4, hidden=4, layers=2, iters=2, threads=1, max_memory_gb=None)
    row = measure("indrnn", 7, cfg)
    assert calls and all(c == (True, True, 0.5) for c in calls[:3])  # the timed steps: lengths, train mode, p 0.5
    assert masked and all(masked)
    assert row["status"] == "ok" and cfg.dropout == 0.5 and cfg.batch_norm and cfg.clip_grad == 1.0
    assert cfg.subnormals == "flush"


def test_bf16_on_a_cpu_without_a_bf16_lstm_falls_back_to_float32_and_records_it(tmp_path):
    """An AVX2-only CPU, emulated by capping oneDNN's instruction set (ONEDNN_MAX_CPU_ISA=AVX2): the LSTM
    under bf16 autocast computes in float32 instead of failing, and the kernel record says float32."""
    import subprocess
    import sys

    code = ("import torch, models; from models.kernels import recording; from bench.measure import policy; "
            "from models.torch_units import cpu_bf16_lstm; "
            "m = models.build('lstm', 5, 3, models.ModelConfig(hidden=4, layers=2, dropout=0.0)); "
            "ctx = policy.autocast('bf16', 'cpu'); rec = recording(); ran = rec.__enter__(); ctx.__enter__(); "
            "y = m(torch.randn(2, 6, 5)); ctx.__exit__(None, None, None); rec.__exit__(None, None, None); "
            "y.float().sum().backward(); print(cpu_bf16_lstm(), sorted(ran))")
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False [('lstm', 'aten', 'float32')]"
