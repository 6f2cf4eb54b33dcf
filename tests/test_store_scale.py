"""The paper-size rehearsal: 400 generated jobs of 500 epochs x 26 iterations, no training.

No timing here: what writing job 400 costs against the first jobs is measured in
tests/benchmarks/test_bench_store.py and ``python -m bench.results.rehearsal``. Tests that write get their own
copy of the shared store, so they hold in any order.
"""
import shutil

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from bench.results.rehearsal import PAPER_SIZE, job_order, paper_job_tables, write_rehearsal
from bench.results.store import ResultsStore

pytestmark = pytest.mark.slow  # a 400-job store written once for the module

ROWS_PER_JOB = PAPER_SIZE["epochs"] * PAPER_SIZE["iters_per_epoch"]  # 13 000 iterations


@pytest.fixture(scope="module")
def paper_store(tmp_path_factory):
    out = tmp_path_factory.mktemp("rehearsal") / "run"
    return out, write_rehearsal(out, jobs=400, checkpoints=(1, 100, 400))


def test_400_jobs_are_written_one_after_another(paper_store):
    # What writing job 400 costs against the first jobs is a timing, measured in
    # tests/benchmarks/test_bench_store.py (test_write_job_401); here, that the jobs are all there, and (below)
    # that writing one reads no other job, which is why its cost does not grow.
    _, t = paper_store
    assert len(t) == 400 and t.job.tolist() == list(range(1, 401)) and (t.write_s > 0).all()


def own_copy(paper_store, tmp_path):
    """The shared 400-job store copied for a test that writes to it: tests run in any order."""
    return shutil.copytree(paper_store[0], tmp_path / "run")


def test_writing_a_job_reads_no_other_job(paper_store, monkeypatch, tmp_path):
    out = own_copy(paper_store, tmp_path)
    store = ResultsStore(out)
    reads = []
    monkeypatch.setattr(pq, "read_table", lambda *a, **k: reads.append(a) or pytest.fail("read a part"))
    monkeypatch.setattr(pd, "read_csv", lambda *a, **k: reads.append(a) or pytest.fail("read a CSV"))
    tables = paper_job_tables("indrnn", 10, 0, np.random.default_rng(1))
    assert store.write_job("indrnn-r10-f00", tables) and reads == []
    assert (out / "parts" / "indrnn-r10-f00" / "iterations.parquet").is_file()
    assert not (out / "folds.csv").exists()  # nothing top-level is rebuilt per job


def test_tables_built_once_hold_exactly_one_row_per_job(paper_store, tmp_path):
    out = own_copy(paper_store, tmp_path)
    store = ResultsStore(out)
    assert not store.is_current()
    store.consolidate(csv=False)
    assert store.is_current()
    folds = store.table("folds")
    assert len(folds) == 400 and not folds.duplicated(["unit", "repeat", "fold"]).any()
    it = pq.ParquetFile(out / "iterations.parquet").metadata.num_rows
    diverged = folds.loc[folds.diverged, "epochs"].sum() * PAPER_SIZE["iters_per_epoch"]
    assert it == (len(folds) - folds.diverged.sum()) * ROWS_PER_JOB + diverged
    assert not (out / "iterations.csv").exists()  # no CSV export asked for
    assert folds.diverged.sum() == 4 and folds.loc[folds.diverged, "test_acc"].isna().all()


def test_csv_export_equals_the_parquet_table_and_old_csv_parts_still_read(tmp_path):
    store = ResultsStore(tmp_path / "run")
    store.open({"config": {}}, [])
    rng = np.random.default_rng(0)
    size = dict(epochs=3, iters_per_epoch=4)
    for unit, r, f in job_order(repeats=1, folds=2, baseline=True):
        store.write_job(f"{unit}-r{r:02d}-f{f:02d}", paper_job_tables(unit, r, f, rng, size=size))
    old = tmp_path / "run" / "parts" / "gru-r00-f09"  # a part as an older version wrote it: CSV files
    old.mkdir()
    for name, df in paper_job_tables("gru", 0, 9, rng, size=size).items():
        df.to_csv(old / f"{name}.csv", index=False)
    store.consolidate(csv=True)
    pq_it, csv_it = pd.read_parquet(tmp_path / "run" / "iterations.parquet"), pd.read_csv(tmp_path / "run" / "iterations.csv")
    assert len(pq_it) == 9 * 12 and pq_it["seconds"].tolist() == pytest.approx(csv_it["seconds"].tolist(), rel=1e-15)
    assert pq_it[["unit", "repeat", "fold", "iteration"]].astype(str).equals(
        csv_it[["unit", "repeat", "fold", "iteration"]].astype(str))
    folds = store.table("folds")
    assert len(folds) == 11 and set(folds.unit) == {"rnn", "lstm", "gru", "indrnn", "scat+logreg"}


def test_a_new_table_or_column_from_a_job_is_stored_and_built(tmp_path):
    store = ResultsStore(tmp_path / "run")
    store.open({"config": {}}, [])
    for fold in (0, 1):
        tables = paper_job_tables("indrnn", 0, fold, np.random.default_rng(fold), size=dict(epochs=2, iters_per_epoch=3))
        tables["iterations"]["batch_size"] = 32  # a column a later version adds
        tables["environment"] = pd.DataFrame([dict(unit="indrnn", repeat=0, fold=fold, torch="2.13", threads=2)])
        store.write_job(f"indrnn-r00-f{fold:02d}", tables)
    store.consolidate()
    assert store.table("iterations")["batch_size"].eq(32).all()
    assert store.table("environment")[["fold", "threads"]].values.tolist() == [[0, 2], [1, 2]]
