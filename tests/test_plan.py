"""The plan of a run: job counts before any work, and estimates from a probe or finished jobs."""
import re
import shutil

import numpy as np
import pytest

from bench.cli import build_parser, main, run_config
from bench.config import preset
from bench.plan import fold_sizes, planned_jobs
from bench.run import plan
from bench.splits import cv_splits
from tests.test_run import bench_run, data_dir  # noqa: F401  (module fixture)


def test_planned_jobs_are_the_runs_jobs_without_reading_any_clip():
    cfg = preset("paper")
    labels = np.repeat(np.arange(10), 100)
    run_keys = [j.key for j in plan(cfg, cv_splits(labels, cfg.folds, cfg.repeats, cfg.seed))]
    assert [j.key for j in planned_jobs(cfg)] == run_keys and len(run_keys) == 500
    assert len(planned_jobs(preset("paper", protocol="filtered", baseline=False))) == 4


def test_fold_sizes_match_the_splits_the_protocol_makes():
    cfg = preset("paper")
    s = cv_splits(np.repeat(np.arange(10), 100), cfg.folds, 1, 0, cfg.val_fraction)[0]
    assert fold_sizes(cfg, 1000, 10) == (len(s.train), len(s.val), len(s.test)) == (810, 90, 100)


def test_dry_run_counts_jobs_writes_nothing_and_then_counts_what_is_done(data_dir, tmp_path, capsys):  # noqa: F811
    out, cache = tmp_path / "run", tmp_path / "c"
    argv = bench_run(data_dir, out, cache, "--units", "indrnn,gru")
    assert main(argv + ["--dry-run"]) == 0
    text = capsys.readouterr().out
    assert not out.exists() and not cache.exists()  # no features, no run directory
    assert "18 clips, 3 genres" in text and "9 train / 3 validation / 6 test clips" in text
    shape = re.search(r"\d+ frames x \d+ channels", text).group()
    rows = {line.split()[0]: line.split()[1:4] for line in text.splitlines()[4:]}
    assert rows["indrnn"] == rows["gru"] == rows["scat+logreg"] == ["3", "0", "3"]
    assert rows["total"] == ["9", "0", "9"]
    assert text.count("at most: probe") == 2 and "not estimated" in text

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
