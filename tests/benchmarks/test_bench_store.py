"""The results store at paper size: 400 generated jobs (500 epochs x 26 iterations each), no training.

Run: ``pytest tests/benchmarks/test_bench_store.py --benchmark-enable``. ``write_job`` at job 401 and
``bench report`` on the whole store (tables built from the parts, figures, page) are timed; the
issue's target for the report is under 30 s on a 2-core CPU. The same numbers, by hand:
``python -m bench.results.rehearsal --out DIR`` then ``time python -m bench report DIR``.
"""
import numpy as np
import pytest

from bench.cli import main
from bench.results.rehearsal import paper_job_tables, write_rehearsal
from bench.results.store import ResultsStore


FIRST_JOBS: list[float] = []  # write_job seconds of the store's first jobs, the bound for job 401


@pytest.fixture(scope="module")
def paper_store(tmp_path_factory):
    out = tmp_path_factory.mktemp("rehearsal") / "run"
    times = write_rehearsal(out, jobs=400, baseline=True)
    FIRST_JOBS[:] = times["write_s"].head(10).tolist()
    return out


def test_bench_report_on_400_jobs(benchmark, paper_store):
    benchmark.group = "store at 400 jobs"

    def report():
        (paper_store / "tables.json").unlink(missing_ok=True)  # from the parts every round
        assert main(["report", str(paper_store)]) == 0

    benchmark.pedantic(report, rounds=1, iterations=1)
    assert (paper_store / "report" / "report.html").stat().st_size > 0
    if benchmark.stats is not None:  # enabled: the target on a 2-core CPU
        assert benchmark.stats.stats.median < 30.0, f"bench report on 400 jobs took {benchmark.stats.stats.median:.1f} s"


def test_write_job_401(benchmark, paper_store):
    store, rng = ResultsStore(paper_store), np.random.default_rng(7)
    repeats = iter(range(10, 20))  # jobs 401, 402, ...: folds beyond the paper's, after the report test
    benchmark.group = "store at 400 jobs"

    def write():
        r = next(repeats)
        assert store.write_job(f"indrnn-r{r:02d}-f00", paper_job_tables("indrnn", r, 0, rng))

    benchmark.pedantic(write, rounds=3, warmup_rounds=1, iterations=1)
    if benchmark.stats is not None and FIRST_JOBS:  # enabled: job 401 costs what the first jobs cost
        first = float(np.median(FIRST_JOBS))
        assert benchmark.stats.stats.median <= 3 * first + 0.05, (
            f"write_job at job 401 took {benchmark.stats.stats.median:.3f} s, the first jobs {first:.3f} s")
