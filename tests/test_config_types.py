"""Config values checked by type and bounds from the one configuration table, each error naming the
option and the file; a non-finite weight is "diverged" (issue 19, point 4)."""
import pandas as pd
import pytest
import torch

import models
from bench.cli import main
from bench.config import ConfigError, RunConfig
from tests.test_run import bench_run, data_dir  # noqa: F401  (module fixture)


@pytest.mark.parametrize("section, line, message", [
    ("model", 'batch_norm = "false"', '[model] batch_norm must be true or false, got "false"'),
    ("protocol", 'baseline = "no"', '[protocol] baseline must be true or false, got "no"'),
    ("data", "seconds = true", "[data] seconds must be a number, got true"),
    ("training", "lr = inf", "[training] lr must be a finite number, got inf"),
    ("training", "lr = nan", "[training] lr must be a finite number, got nan"),
    ("protocol", 'units = "indrnn"', '[protocol] units must be a list of names, e.g. ["indrnn", "lstm"], got "indrnn"'),
    ("protocol", 'units = ["indrnn", "idnrnn"]', "[protocol] units: unknown unit(s) idnrnn"),
    ("features", "J = 40", "[features] J must be at most 16, got 40"),
    ("model", "hidden = 64.0", "[model] hidden must be an integer, got 64.0"),
    ("protocol", "repeats = 1000000000", "[protocol] repeats must be at most 1000, got 1000000000"),
    ("training", "batch_size = 1000000000", "[training] batch_size must be at most 1000000, got 1000000000"),
])
def test_a_bad_value_in_a_config_file_names_the_file_and_the_option(tmp_path, capsys, section, line, message):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(f"[{section}]\n{line}\n")
    assert main(["run", "--config", str(cfg), "--out", str(tmp_path / "run"), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: --config {cfg}: {message}" or (err.startswith(f"error: --config {cfg}: ") and message in err)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("flags, message", [
    (["--lr", "inf"], "--lr must be a finite number, got inf"),
    (["--clip-grad", "nan"], "--clip-grad must be a finite number, got nan"),
    (["--J", "40"], "--J must be at most 16, got 40"),
    (["--repeats", "1000000000"], "--repeats must be at most 1000, got 1000000000"),
])
def test_a_bad_value_on_the_command_line_names_the_flag(tmp_path, capsys, flags, message):
    assert main(["run", *flags, "--out", str(tmp_path / "run"), "--dry-run"]) == 2
    assert capsys.readouterr().err.strip() == f"error: {message}"


def test_values_of_the_right_type_pass_and_an_integer_number_is_stored_as_a_float():
    cfg = RunConfig(seconds=10, lr=1, batch_norm=False, baseline=False)
    assert isinstance(cfg.seconds, float) and isinstance(cfg.lr, float) and cfg.to_dict()["seconds"] == 10.0
    assert RunConfig(seconds=10).to_dict() == RunConfig(seconds=10.0).to_dict()  # one run hash
    for bad in (dict(batch_norm=1), dict(folds=True), dict(dropout=float("nan")), dict(threads=2.0)):
        with pytest.raises(ConfigError):
            RunConfig(**bad)


def test_a_j_longer_than_the_clip_is_refused_naming_j_and_seconds():
    from features import DatasetError, FeatureConfig, Scatterer

    with pytest.raises(DatasetError, match=r"--J 16: the frame hop 2\*\*16 = 65536 samples is longer than the whole "
                                           r"clip \(--seconds 1 = 16000 samples"):
        Scatterer(FeatureConfig(duration=1.0, J=16))


class NaNWeights(torch.nn.Module):
    """An encoder whose unused weight turns NaN after a few steps while the loss stays finite."""

    def __init__(self, input_dim, config):
        super().__init__()
        self.inner = models.UNITS["gru"].native(input_dim, config)
        self.output_size = self.inner.output_size
        self.spare = torch.nn.Parameter(torch.zeros(3))
        self.steps = 0

    def forward(self, x, lengths=None):
        self.steps += self.training
        if self.steps > 3:
            with torch.no_grad():
                self.spare.fill_(float("nan"))
        return self.inner(x, lengths)


def test_a_non_finite_weight_with_a_finite_loss_is_diverged(data_dir, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setitem(models.UNITS, "nanweights", models.registry.Unit(NaNWeights, None))
    out = tmp_path / "run"
    assert main(bench_run(data_dir, out, tmp_path / "c", "--units", "nanweights", "--no-baseline", "--no-report")) == 0
    folds = pd.read_csv(out / "folds.csv")
    assert len(folds) == 3 and folds.diverged.all() and folds.test_acc.isna().all()
    assert folds.note.str.fullmatch("non-finite weight at epoch [12]").all()
    epochs = pd.read_csv(out / "epochs.csv")
    assert epochs.train_loss.notna().all()  # the loss itself never told


def test_a_huge_batch_size_is_capped_at_the_training_set_with_a_note(data_dir, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "run"
    assert main(bench_run(data_dir, out, tmp_path / "c", "--units", "indrnn", "--no-baseline", "--no-report",
                          "--batch-size", "100000")) == 0
    text = capsys.readouterr().out
    folds = pd.read_csv(out / "folds.csv")
    n_train = int(folds.n_train.min())
    assert f"note: --batch-size 100000 is larger than the training set ({n_train} clips): capped at {n_train}" in text
    import json

    assert json.loads((out / "metadata.json").read_text())["config"]["batch_size"] == n_train
    assert f"batch_size = {n_train}" in (out / "config.toml").read_text()
    assert pd.read_csv(out / "iterations.csv").batch_size.max() <= folds.n_train.max()


def test_a_huge_job_count_is_refused_before_any_work_unless_confirmed(tmp_path, capsys):
    small = ["--seconds", "1", "--J", "6", "--Q", "4", "--hidden", "8", "--layers", "1", "--epochs", "1"]
    out = tmp_path / "run"
    assert main(["run", "--repeats", "200", "--folds", "5", "--units", "indrnn", "--out", str(out), *small]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("error: --repeats 200 and --folds 5 make 200 repeat(s) x 5 fold(s) x 2 unit(s) = 2000 jobs, more "
                   "than 1000: check the numbers, or add --yes to run them all")
    assert not out.exists()
    assert main(["run", "--repeats", "200", "--folds", "5", "--units", "indrnn", "--out", str(out), *small,
                 "--yes", "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "jobs: 200 repeat(s) x 5 fold(s) x 2 unit(s) = 2000 (confirmed by --yes)" in text
    assert "total          2000     0   2000" in text and not out.exists()
