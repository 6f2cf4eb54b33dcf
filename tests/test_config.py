"""One configuration: defaults and checks in one place, flags generated from it, TOML files in and out,
and every invalid option refused on one stderr line before anything is written."""
from __future__ import annotations

from dataclasses import fields

import pytest
import torch

import models
from bench.cli import build_parser, main, run_config
from bench.config import PAPER_UNITS, PRESETS, ConfigError, RunConfig
from bench.options import read_toml, write_toml
from bench.execution.run import default_run_dir
from tests.test_run import bench_run, data_dir  # noqa: F401 (a fixture)

INVALID = [
    (["--device", "gpu"], "--device must be auto, cpu, cuda or cuda:N, got 'gpu'"),
    (["--dropout", "1.5"], "--dropout must be in [0, 1), got 1.5"),
    (["--batch-size", "0"], "--batch-size must be a positive integer, got 0"),
    (["--epochs", "-3"], "--epochs must be a positive integer, got -3"),
    (["--folds", "1"], "--folds must be an integer >= 2, got 1"),
    (["--folds", "50"], "--folds 50: stratified folds need at least as many clips per genre"),
    (["--threads", "0"], "--threads must be a positive integer, got 0"),
    (["--lr", "-1"], "--lr must be > 0, got -1.0"),
    (["--units", "nope"], "argument --units: unknown unit(s) nope"),
    (["--dropout", "half"], "argument --dropout: invalid float value: 'half'"),
    (["--precision", "fp8"], "argument --precision: invalid choice: 'fp8'"),
    (["--step", "graph", "--device", "cpu"], "--step graph needs a CUDA device"),
    (["--dataset", "gtzan"], "--dataset gtzan needs --data-dir"),
    (["--data-dir", "/tmp"], "--data-dir /tmp was given with the synthetic corpus"),
    (["--protocol", "file"], "--protocol file needs --split-file FILE"),
    (["--split-file", "s.csv", "--protocol", "cv", "--dataset", "folder", "--data-dir", "/tmp"], "both choose the splits"),
]
if not torch.cuda.is_available():
    INVALID.append((["--device", "cuda"], "--device cuda: torch"))


def exit_code(argv) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own errors
        return exc.code


@pytest.mark.parametrize("extra,message", INVALID, ids=[" ".join(a) for a, _ in INVALID])
def test_invalid_option_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)  # the default runs/ and .cache/ would land here
    argv = ["run", "--cache-dir", str(tmp_path / "cache"), *extra]
    assert exit_code(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert "Traceback" not in captured.err and captured.out == ""
    assert list(tmp_path.iterdir()) == []  # no run directory, no cache, nothing


def test_presets_are_valid_configurations_with_the_models_defaults():
    for name, cfg in PRESETS.items():
        cfg.validate()
        assert cfg.preset == name
    d, m = RunConfig(), models.ModelConfig()
    for f in ("hidden", "layers", "dropout", "batch_norm", "block", "norm"):  # one default, whichever door
        assert getattr(d, f) == getattr(m, f), f
    assert (d.dropout_mask == "sequence") == m.time_shared_dropout
    from bench.config import BLOCKS, NORMS
    from models.config import BLOCKS as MODEL_BLOCKS, NORMS as MODEL_NORMS

    assert (BLOCKS, NORMS) == (MODEL_BLOCKS, MODEL_NORMS)
    assert PAPER_UNITS == models.PAPER_UNITS
    from bench.config import DATASETS
    from features.pipeline import DATASETS as FEATURE_DATASETS

    assert DATASETS == FEATURE_DATASETS
    for f in fields(RunConfig):
        assert f.metadata["section"] in ("protocol", "data", "features", "model", "training", "tuning", "execution")
        assert f.metadata["help"]


def test_every_field_has_its_flag():
    help_text = build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    for f in fields(RunConfig):
        if f.metadata["cli"]:
            assert "--" + f.name.replace("_", "-") in help_text, f.name


def test_toml_round_trip_reproduces_the_run_hash(data_dir, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    argv = bench_run(data_dir, out, tmp_path / "c", "--units", "indrnn,gru", "--epochs", "2", "--no-report",
                     "--precision", "tf32", "--no-batch-norm", "--clip-grad", "0")
    assert main(argv) == 0
    written = out / "config.toml"
    text = written.read_text()
    assert "[model]" in text and "batch_norm = false" in text and 'units = ["indrnn", "gru"]' in text
    parser = build_parser()
    original = run_config(parser.parse_args(argv))
    again = run_config(parser.parse_args(["run", "--config", str(written)]))
    assert again == original and default_run_dir(again) == default_run_dir(original)
    assert again.clip_grad == 0 and again.precision == "tf32" and again.units == ("indrnn", "gru")
    # flags override the file
    over = run_config(parser.parse_args(["run", "--config", str(written), "--epochs", "7", "--units", "lstm"]))
    assert over.epochs == 7 and over.units == ("lstm",) and over.precision == "tf32"
    assert default_run_dir(over) != default_run_dir(original)


def test_toml_files_are_checked(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[model]\nepochs = 3\n")
    with pytest.raises(ConfigError, match=r"\[model\] has no option 'epochs' \(it belongs in \[training\]\)"):
        read_toml(bad)
    bad.write_text("[model\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        read_toml(bad)
    bad.write_text("[training]\nepochs = 0\n")
    assert exit_code(["run", "--config", str(bad), "--out", str(tmp_path / "r")]) == 2
    assert not (tmp_path / "r").exists()
    good = write_toml(PRESETS["paper"], tmp_path / "paper.toml")
    flat = read_toml(good)
    assert flat["preset"] == "paper" and flat["repeats"] == 10 and flat["lr"] == 1e-5
