"""The plan of a run: job counts before any work, and estimates from a probe or finished jobs."""
import re
import shutil

import numpy as np
import pytest
import torch

from bench.cli import build_parser, main, run_config
from bench.config import preset
from bench.execution.plan import DataShape, SplitPlan, planned_jobs, protocol_label, split_plan
from bench.protocol.protocols import FILTERED_FILE
from bench.execution.run import plan
from bench.protocol.splitfile import file_splits
from bench.protocol.splits import cv_splits
from tests.test_run import bench_run, data_dir  # noqa: F401  (module fixture)
from tests.test_split_file import CLASSES, fixed_rows, my_data, write_split  # noqa: F401  (module fixture)


def shape(clips: int, classes: int, paths=()) -> DataShape:
    return DataShape(clips, 449, 374, classes, "test", tuple(paths))


def as_planned(splits, cfg) -> SplitPlan:
    return SplitPlan.from_splits(splits, protocol_label(cfg, len(splits)))


def test_planned_jobs_are_the_runs_jobs_without_reading_any_clip():
    cfg = preset("paper")
    labels = np.repeat(np.arange(10), 100)
    run_keys = [j.key for j in plan(cfg, cv_splits(labels, cfg.folds, cfg.repeats, cfg.seed))]
    assert [j.key for j in planned_jobs(cfg, split_plan(cfg, shape(1000, 10)))] == run_keys and len(run_keys) == 500


@pytest.mark.parametrize("clips, folds", [(1000, 10), (103, 10), (57, 5)])
def test_cv_plan_has_the_keys_and_sizes_of_the_splits_the_protocol_makes(clips, folds):
    cfg = preset("paper", folds=folds, repeats=2)
    labels = np.arange(clips) % 10
    made = as_planned(cv_splits(labels, cfg.folds, cfg.repeats, cfg.seed, cfg.val_fraction), cfg)
    assert split_plan(cfg, shape(clips, 10)) == made and made.label == f"2x{folds}-fold cv"
    if clips == 1000:
        assert (made.train, made.val, made.test) == ((810, 810), (90, 90), (100, 100))


def test_filtered_plan_is_one_split_of_the_shipped_files_sizes():
    cfg = preset("paper", protocol="filtered", baseline=False)
    got = split_plan(cfg, shape(1000, 10))
    assert (got.keys, got.train, got.val, got.test) == (((0, 0),), (443, 443), (197, 197), (290, 290))
    assert got.label.startswith("artist-filtered") and "filtered" in str(FILTERED_FILE)
    assert [j.key for j in planned_jobs(cfg, got)] == ["rnn-r00-f00", "lstm-r00-f00", "gru-r00-f00", "indrnn-r00-f00"]


def test_split_file_plans_equal_the_splits_the_file_makes(my_data, tmp_path):  # noqa: F811
    paths = [c for c, _ in fixed_rows()]
    labels = np.array([CLASSES.index(p.split("/")[0]) for p in paths])
    fixed = write_split(tmp_path / "fixed.csv", fixed_rows())
    no_val = write_split(tmp_path / "no_val.csv", [(c, "train" if p == "val" else p) for c, p in fixed_rows()])
    folds = write_split(tmp_path / "folds.csv", [(c, str(i % 3 + 1)) for i, c in enumerate(paths)])
    for path, n in ((fixed, 1), (no_val, 1), (folds, 3)):
        cfg = preset("quick", protocol="file", split_file=str(path), dataset="folder", data_dir=str(my_data))
        made = as_planned(file_splits(path, paths, labels, [], cfg.seed, cfg.val_fraction), cfg)
        assert split_plan(cfg, shape(len(paths), 3, paths)) == made and len(made.keys) == n
        assert made.keys == tuple((0, f) for f in range(n))  # not repeats x folds
        assert made.label == f"split file {path}: " + ("one fixed split" if n == 1 else "3 folds")
        assert all(lo > 0 for lo, _ in (made.train, made.val, made.test))
    cfg = preset("quick", protocol="file", split_file=str(fixed), dataset="folder", data_dir=str(my_data))
    with pytest.raises(ValueError, match="not listed"):  # matched to the listing, as the run does
        split_plan(cfg, shape(len(paths) + 1, 3, paths + ["rain/new.wav"]))


def test_folder_dry_run_counts_its_clips_and_classes(my_data, tmp_path, capsys):  # noqa: F811
    split = write_split(tmp_path / "folds.csv", [(c, str(i % 3 + 1)) for i, (c, _) in enumerate(fixed_rows())])
    common = ["run", "--dataset", "folder", "--data-dir", str(my_data), "--cache-dir", str(tmp_path / "c"),
              "--out", str(tmp_path / "r"), "--seconds", "1", "--J", "6", "--Q", "4", "--units", "indrnn",
              "--no-baseline", "--threads", "1", "--dry-run"]
    assert main(common + ["--folds", "3", "--repeats", "2"]) == 0
    text = capsys.readouterr().out
    assert "folder: 15 clips, 3 classes" in text and "protocol 2x3-fold cv; per split 7 train / 3 validation / 5 test" in text
    assert main(common + ["--split-file", str(split)]) == 0
    text = capsys.readouterr().out
    assert f"protocol split file {split}: 3 folds; per split 7 train / 3 validation / 5 test" in text
    assert re.search(r"^indrnn\s+3\s+0\s+3\s", text, re.M)
    assert not (tmp_path / "r").exists() and not (tmp_path / "c").exists()


def test_synthetic_dry_run_counts_the_corpus_it_would_write(tmp_path, capsys):
    assert main(["run", "--cache-dir", str(tmp_path / "c"), "--out", str(tmp_path / "r"), "--units", "gru",
                 "--clips-per-genre", "6", "--folds", "3", "--repeats", "2", "--threads", "1", "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "synthetic: 60 clips, 10 genres" in text and "2x3-fold cv; per split 30 train / 10 validation / 20 test" in text
    assert re.search(r"^gru\s+6\s+0\s+6\s", text, re.M) and not (tmp_path / "c").exists()


def test_dry_run_counts_jobs_writes_nothing_and_then_counts_what_is_done(data_dir, tmp_path, capsys):  # noqa: F811
    out, cache = tmp_path / "run", tmp_path / "c"
    argv = bench_run(data_dir, out, cache, "--units", "indrnn,gru")
    assert main(argv + ["--dry-run"]) == 0
    text = capsys.readouterr().out
    assert not out.exists() and not cache.exists()  # no features, no run directory
    assert "gtzan: 18 clips, 3 genres" in text and "3-fold cv; per split 9 train / 3 validation / 6 test clips" in text
    shape = re.search(r"\d+ frames x \d+ channels", text).group()
    rows = {line.split()[0]: line.split()[1:4] for line in text.splitlines()[4:]}
    assert rows["indrnn"] == rows["gru"] == rows["scat+logreg"] == ["3", "0", "3"]
    assert rows["total"] == ["9", "0", "9"]
    assert len(re.findall(r"probe \d+ iter", text)) == 2 and "not estimated" in text and "other processes used" in text

    assert main(argv) == 0  # the run prints the same plan first, with the features' real shape
    text = capsys.readouterr().out
    assert "plan: quick preset" in text and re.search(r"\d+ frames x \d+ channels", text).group() == shape
    shutil.rmtree(out / "parts" / "gru-r00-f02")
    assert main(argv + ["--dry-run"]) == 0
    rows = {line.split()[0]: line.split()[1:4] for line in capsys.readouterr().out.splitlines()[4:]}
    assert rows["gru"] == ["3", "2", "1"] and rows["indrnn"] == ["3", "3", "0"] and rows["total"] == ["9", "8", "1"]


def test_dry_run_flag_parses(data_dir, tmp_path):  # noqa: F811
    args = build_parser().parse_args(bench_run(data_dir, tmp_path / "r", tmp_path / "c", "--dry-run"))
    assert args.dry_run and run_config(args).units == ("rnn", "lstm", "gru", "indrnn")


def test_estimate_is_setup_plus_epochs_of_batches_and_its_range_spans_early_stopping_to_a_busy_machine(
        tmp_path, monkeypatch):
    import bench.execution.plan as plan_module
    from bench.execution.probe import Probe

    probes = {1: Probe(fast=0.03, typical=0.04, eval_s=0.01, setup_s=0.2, iters=9),  # on one thread
              2: Probe(fast=0.05, typical=0.5, eval_s=0.02, setup_s=0.4, iters=5)}  # two threads, beside other work
    threads = []

    def probe(unit, cfg, *shape):  # the run's two threads first; one thread when the machine was busy
        threads.append(torch.get_num_threads())
        return probes[2] if len(threads) % 2 else probes[1]

    monkeypatch.setattr(plan_module, "probe_unit", probe)

    class Busy:  # other processes took one core while probing
        others = 1.0

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

    monkeypatch.setattr(plan_module, "CpuMeter", Busy)
    cfg = preset("quick", units=("indrnn",), baseline=False, threads=2, device="cpu")  # 25 epochs, patience 8, batch 16
    splits = SplitPlan(((0, 0), (0, 1)), (144, 144), (16, 16), (40, 40), "2-fold")
    rows = plan_module.plan_rows(cfg, tmp_path / "run", shape(200, 10), splits).set_index("unit")
    r = rows.loc["indrnn"]
    # 9 training batches and 1 validation batch per epoch, 3 test batches once, the setup once: on the
    # faster of the two probes (the free machine's bound) at every epoch, from patience + 1 = 9 epochs,
    # up to every epoch at the median two-thread iteration (as busy as while probing).
    assert r.job_s == pytest.approx(0.2 + 25 * (9 * 0.03 + 0.01) + 3 * 0.01)
    assert r.job_lo == pytest.approx(0.2 + 9 * (9 * 0.03 + 0.01) + 3 * 0.01)
    assert r.job_hi == pytest.approx(0.4 + 25 * (9 * 0.5 + 0.02) + 3 * 0.02)
    assert (r.todo, r.todo_s, r.others) == (2, pytest.approx(2 * r.job_s), 1.0)
    assert "on 1 thread fastest 0.03 s" in r.how and threads[1] == 1 and torch.get_num_threads() == 2
    text = plan_module.format_plan(rows.reset_index(), cfg, shape(200, 10), splits, tmp_path / "run")
    assert "other processes used 1.0 of" in text and "the machine was busy" in text
    assert re.search(r"^total\s+2\s+0\s+2\s+14 s\s+6 s - 4 min", text, re.M)

    Busy.others, threads[:] = 0.1, []  # a free machine: one probe, on the run's threads
    r = plan_module.plan_rows(cfg, tmp_path / "run", shape(200, 10), splits).set_index("unit").loc["indrnn"]
    assert r.job_s == pytest.approx(0.4 + 25 * (9 * 0.05 + 0.02) + 3 * 0.02) and "1 thread" not in r.how
    assert len(threads) == 1
