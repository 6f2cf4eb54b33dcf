"""The tuner's own cost per trial (ask, tell, the SQLite storage, the stored result) against one
quick-preset trial: the issue's target is under 2 %.

Run: ``pytest tests/benchmarks/test_bench_tune.py --benchmark-enable``. The trial is the cheapest unit's
(the IndRNN's) at the quick preset's shapes (144 training clips, 59 frames x 374 channels, 3 x 64,
25 epochs, patience 8) on generated features, so the ratio is an upper bound for every other unit. The
overhead is measured with a trial that trains nothing but returns a result of a real trial's size,
in a study that already holds 16 trials (the storage is read whole at each job start).
"""
from dataclasses import replace

import numpy as np
import pytest

from bench.config import preset
from bench.execution.jobs import Job, JobData, fit
from bench.protocol.splits import Split
from bench.execution.tune import tune_job

QUICK = preset("quick", device="cpu", tune=16, block="residual", param_budget=0)


def quick_shaped_data(tmp_path) -> tuple[JobData, Split]:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 20)
    x = rng.standard_normal((200, 59, 374)).astype(np.float32) + 0.3 * labels[:, None, None]
    data = JobData(x, np.full(200, 59), labels, [f"c{i}" for i in range(200)], 10,
                   study_storage=f"sqlite:///{tmp_path / 'tuning.db'}", study_prefix="bench", fingerprint="fp")
    order = rng.permutation(200).tolist()
    return data, Split(0, 0, 0, tuple(order[:144]), tuple(order[144:160]), tuple(order[160:]))


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    data, split = quick_shaped_data(tmp_path_factory.mktemp("tune"))
    job = Job("indrnn", split)
    real = fit(job, data, QUICK, None)  # one real quick-preset trial: its result, the payload stored per trial
    return data, job, real


def test_bench_quick_trial(benchmark, setting):
    data, job, _ = setting
    benchmark.group = "tuner overhead"
    benchmark.pedantic(lambda: fit(job, data, QUICK, None), rounds=3, warmup_rounds=0, iterations=1)


def test_bench_tuner_overhead_per_trial(benchmark, setting, tmp_path):
    data, job, real = setting
    benchmark.group = "tuner overhead"
    studies = iter(range(1000))
    overheads: list[float] = []

    def study():
        d = replace(data, study_prefix=f"overhead{next(studies)}")
        _, _, rows = tune_job(job, d, QUICK, lambda recipe, stop: real)  # no training: the tuner alone
        overheads.extend(r["overhead_s"] for r in rows)

    benchmark.pedantic(study, rounds=3, warmup_rounds=1, iterations=1)
    per_trial = float(np.median(overheads))
    benchmark.extra_info["overhead_per_trial_s"] = per_trial
    if benchmark.stats is not None:  # enabled: against the real trial the fixture trained, in this process
        ratio = per_trial / real["row"]["train_s"]
        benchmark.extra_info["overhead_ratio"] = ratio
        assert ratio < 0.02, f"the tuner costs {per_trial * 1000:.1f} ms per trial, {100 * ratio:.2f} % of a quick trial"
