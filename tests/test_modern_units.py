"""The modern units (minGRU, minLSTM, LRU, Mamba): parallel form = step-by-step recurrence, causality,
their papers' initialisations, both readouts blind to padding, equal parameter budgets, learning."""
from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from torch import nn

import models
import models.kernels
from models import ModelConfig
from models.budget import param_count, width_for_budget
from models.lru import LRULayer
from models.mamba import MambaMixer
from models.mingru import positive

TINY = ModelConfig(hidden=8, layers=2, dropout=0.0, max_len=30, batch_norm=False)


def randomised(name: str, config: ModelConfig = TINY, input_dim: int = 5, n_classes: int = 3, seed: int = 0):
    """A float64 model in eval mode whose every parameter is moved off its initial value."""
    torch.manual_seed(seed)
    model = models.build(name, input_dim, n_classes, config).double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return model


CPU_SCANS = [k for k in models.kernels.SCAN_KERNELS if k != "triton"]  # every back end this machine runs


@pytest.mark.parametrize("scan", CPU_SCANS)
@pytest.mark.parametrize("name", models.MODERN_UNITS)
def test_parallel_form_equals_its_step_by_step_recurrence(name, scan):
    model = randomised(name, replace(TINY, scan_kernel=scan))
    x = torch.randn(3, 13, 5, dtype=torch.float64)
    lengths = torch.tensor([13, 7, 2])
    x[1, 7:] = 1e3  # padding that would show anywhere it leaked
    x[2, 2:] = float("nan")
    states = model.encoder(x, lengths)  # (batch, time, hidden) by the scan
    assert states.shape == (3, 13, 8)
    for i, n in enumerate(lengths.tolist()):
        alone = model.encoder.run_steps(x[i:i + 1, :n])  # one frame at a time, the paper's equations
        torch.testing.assert_close(states[i:i + 1, :n], alone, rtol=1e-10, atol=1e-12)
    assert torch.isfinite(states[0]).all() and torch.isfinite(states[1]).all()


@pytest.mark.parametrize("name", models.MODERN_UNITS)
def test_state_at_a_frame_never_depends_on_later_frames(name):
    model = randomised(name)
    x = torch.randn(2, 12, 5, dtype=torch.float64)
    base = model.encoder(x)
    for t in (0, 5, 11):
        y = x.clone()
        y[:, t:] += torch.randn_like(y[:, t:])
        changed = model.encoder(y)
        torch.testing.assert_close(changed[:, :t], base[:, :t], rtol=0, atol=0)
        assert not torch.allclose(changed[:, t], base[:, t])  # and the frame itself does matter


@pytest.mark.parametrize("readout", ["last", "mean"])
@pytest.mark.parametrize("name", list(models.UNITS))
def test_padding_reaches_neither_readout(name, readout):
    torch.manual_seed(0)
    config = replace(TINY, hidden=12, readout=readout, dropout=0.3)
    model = models.build(name, 6, 4, config).eval()
    x = torch.randn(3, 20, 6)
    lengths = torch.tensor([20, 9, 1])
    logits = model(x, lengths)
    x2 = x.clone()
    x2[1, 9:] = 100 * torch.randn(11, 6)
    x2[2, 1:] = -50.0
    torch.testing.assert_close(model(x2, lengths), logits)
    for i, n in enumerate(lengths.tolist()):  # a padded sequence = the same sequence alone
        torch.testing.assert_close(model(x[i:i + 1, :n]), logits[i:i + 1], rtol=1e-5, atol=1e-5)


def test_mean_readout_is_the_average_of_the_valid_states():
    torch.manual_seed(0)
    model = models.build("mingru", 4, 3, replace(TINY, readout="mean")).eval()
    x, lengths = torch.randn(2, 9, 4), torch.tensor([9, 4])
    states = model.encoder(x, lengths)
    want = torch.stack([states[0].mean(0), states[1, :4].mean(0)])
    torch.testing.assert_close(model(x, lengths), model.head(want))
    last = models.build("mingru", 4, 3, TINY).eval()
    last.load_state_dict(model.state_dict())
    assert not torch.allclose(last(x, lengths), model(x, lengths))  # the option changes what is read
    with pytest.raises(ValueError, match="readout"):
        ModelConfig(readout="max")


def test_positivity_function_of_the_log_space_form():
    x = torch.tensor([-30.0, -1.0, 0.0, 2.0])
    torch.testing.assert_close(positive(x), torch.tensor([torch.sigmoid(torch.tensor(-30.0)).item(),
                                                          1 / (1 + math.e), 0.5, 2.5]))
    assert (positive(torch.linspace(-50, 50, 1001)) > 0).all()


def test_lru_ring_initialisation_and_normalisation():
    torch.manual_seed(0)
    layer = LRULayer(hidden=16, state=4000, r_min=0.4, r_max=0.9, max_phase=math.pi / 10)
    radius = torch.exp(-torch.exp(layer.nu_log)).detach()
    phase = torch.exp(layer.theta_log).detach()
    assert radius.min() >= 0.4 and radius.max() <= 0.9 and phase.min() >= 0 and phase.max() <= math.pi / 10
    # uniform on the ring (by area): |lambda|^2 is uniform on [r_min^2, r_max^2]
    r2 = (radius ** 2 - 0.16) / (0.81 - 0.16)
    assert abs(r2.mean().item() - 0.5) < 0.02 and abs((r2 < 0.25).float().mean().item() - 0.25) < 0.03
    gamma = torch.exp(layer.gamma_log).detach()
    torch.testing.assert_close(gamma, torch.sqrt(1 - radius ** 2))
    # the normalisation keeps a unit-variance input's state variance near 1 whatever |lambda| is
    x = torch.randn(256, 400, 16)
    with torch.no_grad():
        lam, bx = layer._lambda_and_input(x)
        h = models.kernels.linear_scan(lam[:64].expand(256, 400, 64), bx[..., :64].contiguous())
    var = h[:, -1].abs().pow(2).mean(0) / bx[..., :64].div(gamma[:64]).abs().pow(2).mean((0, 1))
    assert 0.8 < var.mean().item() < 1.2


def test_mamba_initialisation_follows_the_paper():
    torch.manual_seed(0)
    mixer = MambaMixer(hidden=40, d_state=16, expand=2, d_conv=4, layers=5)
    assert mixer.inner == 80 and mixer.rank == 3  # expand 2, dt_rank = ceil(40 / 16)
    torch.testing.assert_close(-torch.exp(mixer.A_log), -torch.arange(1.0, 17.0).expand(80, 16))  # S4D-real
    dt = nn.functional.softplus(mixer.dt_proj.bias).detach()
    assert dt.min() >= 1e-3 - 1e-9 and dt.max() <= 0.1 + 1e-9  # Delta starts in [0.001, 0.1]
    torch.testing.assert_close(mixer.D.detach(), torch.ones(80))
    assert mixer.conv.kernel_size == (4,) and mixer.conv.groups == 80
    assert mixer.x_proj.out_features == 3 + 2 * 16 and mixer.in_proj.out_features == 160


def test_modern_parameter_counts():
    h, i, c = 8, 5, 3
    head = h * c + c
    encoder = i * h + h
    layer_norm = 2 * h
    assert param_count("mingru", i, c, TINY) == encoder + 2 * (layer_norm + h * 2 * h + 2 * h) + layer_norm + head
    assert param_count("minlstm", i, c, TINY) == encoder + 2 * (layer_norm + h * 3 * h + 3 * h) + layer_norm + head
    lru = 3 * h + 4 * h * h + h + (h * 2 * h + 2 * h)  # nu, theta, gamma; B, C (complex); D; GLU
    assert param_count("lru", i, c, TINY) == encoder + 2 * (layer_norm + lru) + head
    e, n, r = 16, 16, 1
    mamba = h * 2 * e + (4 * e + e) + e * (r + 2 * n) + (r * e + e) + e * n + e + e * h
    assert param_count("mamba", i, c, TINY) == encoder + 2 * (h + mamba) + h + head  # RMSNorm: weight only
    for name in models.available():  # the meta-device count is the real model's
        assert param_count(name, i, c, TINY) == sum(p.numel() for p in models.build(name, i, c, TINY).parameters())


@pytest.mark.parametrize("name", ["lstm", "indrnn", "mingru", "mamba"])
def test_equal_budget_width_is_the_closest(name):
    config = replace(TINY, hidden=64)
    budget = 5000
    width = width_for_budget(name, 7, 4, config, budget)
    count = lambda w: param_count(name, 7, 4, replace(config, hidden=w))  # noqa: E731
    assert abs(count(width) - budget) <= abs(count(width - 1) - budget)
    assert abs(count(width) - budget) <= abs(count(width + 1) - budget)
    assert abs(count(width) - budget) / budget < 0.25


@pytest.mark.parametrize("name", models.MODERN_UNITS)
def test_bf16_autocast_runs_the_scan_in_float32(name):
    from models.kernels import recording

    torch.manual_seed(0)
    model = models.build(name, 5, 3, TINY)
    x = torch.randn(2, 6, 5)
    with recording() as ran, torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(x, torch.tensor([6, 3])).float().sum()
    loss.backward()
    dtypes = {dtype for op, _, dtype in ran if op in ("scan", "selective_scan", "gated_scan")}  # fused on CPU
    assert dtypes == ({"complex64"} if name == "lru" else {"float32"}), ran
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.fixture(scope="module")
def synthetic_corpus(tmp_path_factory):
    """The embedded synthetic corpus, small: 10 genres x 8 clips of 2 s at 8 kHz, 43 frames, standardised;
    2 clips per genre held out."""
    import numpy as np

    from features import FeatureConfig, build_features, dataset_clips

    cache = tmp_path_factory.mktemp("corpus")
    clips = dataset_clips("synthetic", None, cache, {"clips_per_genre": 8, "duration": 2.0, "seed": 0}, progress=False)
    fs, _ = build_features(clips, FeatureConfig(sample_rate=8000, duration=2.0, J=8, Q=4), cache, progress=False)
    x = torch.tensor(fs.x)
    x = (x - x.mean((0, 1))) / (x.std((0, 1)) + 1e-6)
    y, lengths = torch.tensor(fs.labels), torch.tensor(fs.lengths)
    order = np.random.default_rng(0).permutation(len(y))
    test = np.concatenate([order[fs.labels[order] == g][:2] for g in range(10)])
    train = np.setdiff1d(order, test)
    return x, y, lengths, torch.tensor(train), torch.tensor(test)


@pytest.mark.parametrize("name", list(models.UNITS))
def test_every_unit_learns_the_synthetic_corpus(name, synthetic_corpus):
    x, y, lengths, train, test = synthetic_corpus
    torch.manual_seed(0)
    config = ModelConfig(hidden=16, layers=2, dropout=0.0, max_len=x.shape[1], batch_norm=False)
    model = models.build(name, x.shape[2], 10, config)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(20):  # full-batch epochs on the 60 training clips
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[train], lengths[train]), y[train]).backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        train_acc = (model(x[train], lengths[train]).argmax(1) == y[train]).float().mean().item()
        test_acc = (model(x[test], lengths[test]).argmax(1) == y[test]).float().mean().item()
    assert train_acc >= 0.8 and test_acc >= 0.3, (train_acc, test_acc)  # chance: 0.1


def test_one_configuration_holds_the_unit_options_with_the_models_defaults():
    from bench.config import MODERN_UNITS, READOUTS, SCAN_KERNELS, RunConfig
    from models.config import READOUTS as MODEL_READOUTS
    from models.config import SCAN_KERNEL_CHOICES

    assert MODERN_UNITS == models.MODERN_UNITS and set(MODERN_UNITS) <= set(models.available())
    assert READOUTS == MODEL_READOUTS and SCAN_KERNELS == SCAN_KERNEL_CHOICES
    assert set(models.kernels.SCAN_KERNELS) <= set(SCAN_KERNEL_CHOICES)  # every back end can be chosen
    run, model = RunConfig(), ModelConfig()
    options = run.model_options()
    assert set(options) == {"hidden", "layers", "dropout", "batch_norm", "readout", "scan_kernel", "lru_r_min",
                            "lru_r_max", "lru_max_phase", "mamba_d_state", "mamba_expand", "mamba_d_conv", "block", "norm",
                            "time_shared_dropout"}
    for key, value in options.items():  # one default, whichever door it comes through
        assert getattr(model, key) == value, key
    assert ModelConfig(**options, max_len=10).readout == "last" and run.param_budget is None


@pytest.mark.parametrize("argv,message", [
    (["--readout", "max"], "argument --readout: invalid choice: 'max'"),
    (["--lru-r-min", "0.99", "--lru-r-max", "0.9"], "--lru-r-min 0.99 must be below --lru-r-max 0.9"),
    (["--lru-r-max", "1.0"], "--lru-r-max must be in [0, 1), got 1.0"),
    (["--mamba-d-state", "0"], "--mamba-d-state must be a positive integer, got 0"),
    (["--param-budget", "-1"], "--param-budget must be an integer >= 0, got -1"),  # 0: equal width
    (["--scan-kernel", "cuda"], "argument --scan-kernel: invalid choice: 'cuda'"),
])
def test_bad_unit_options_are_one_line_errors(argv, message, tmp_path, capsys, monkeypatch):
    from bench.cli import main

    monkeypatch.chdir(tmp_path)
    try:
        code = main(["run", "--cache-dir", str(tmp_path / "c"), *argv])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert list(tmp_path.iterdir()) == []


def test_unit_groups_in_every_units_option():
    from bench.cli import build_parser
    from bench.options import parse_units

    assert parse_units("all") == models.PAPER_UNITS
    assert parse_units("modern") == ("mingru", "minlstm", "lru", "mamba")
    assert parse_units("registered") == tuple(models.available()) and len(models.available()) == 10
    assert parse_units("indrnn, modern,lstm,indrnn") == ("indrnn", "mingru", "minlstm", "lru", "mamba", "lstm")
    parser = build_parser()
    for command in (["speed"], ["scale"], ["units"], ["run"]):
        assert parser.parse_args([*command, "--units", "modern"]).units == models.MODERN_UNITS
        assert parser.parse_args([*command, "--units", "registered"]).units == tuple(models.available())
    assert build_parser().parse_args(["run"]).units is None  # the preset's: the paper's four


def test_run_records_each_units_width_readout_and_scan(tmp_path):
    import json

    import pandas as pd

    from bench.cli import main
    from models.budget import width_for_budget as width
    from tests.conftest import write_gtzan
    from tests.test_run import bench_run

    data = write_gtzan(tmp_path / "gtzan", genres=("blues", "pop", "rock"), per_genre=6, seconds=1.0)
    out = tmp_path / "run"
    argv = bench_run(data, out, tmp_path / "c", "--units", "mingru,indrnn", "--param-budget", "3000",
                     "--readout", "mean", "--epochs", "2", "--no-baseline", "--no-report")
    assert main(argv) == 0
    folds = pd.read_csv(out / "folds.csv")
    meta = json.loads((out / "metadata.json").read_text())["config"]
    assert meta["readout"] == "mean" and meta["param_budget"] == 3000
    frames, channels = json.loads((out / "metadata.json").read_text())["features"]["shape"][1:]
    for unit, rows in folds.groupby("unit"):
        config = ModelConfig(hidden=8, layers=2, dropout=0.2, batch_norm=True, readout="mean", max_len=frames)
        assert rows.hidden.eq(width(unit, channels, 3, config, 3000)).all()
        assert rows.params.sub(3000).abs().max() < 600 and rows.hidden.nunique() == 1
    assert folds.set_index("unit").hidden.groupby("unit").first().nunique() == 2  # widths differ per unit
    assert folds[folds.unit == "mingru"].kernels.str.contains("scan:").all()
    assert 'readout = "mean"' in (out / "config.toml").read_text()


def test_speed_times_the_modern_units_with_the_chosen_scan(tmp_path):
    import json

    import pandas as pd

    from bench.cli import main

    out = tmp_path / "speed"
    assert main(["speed", "--units", "modern", "--device", "cpu", "--batch-size", "2", "--frames", "6",
                 "--features", "5", "--hidden", "4", "--layers", "1", "--rounds", "1", "--warmup", "0",
                 "--threads", "1", "--scan-kernel", "reference", "--out", str(out)]) == 0
    summary = pd.read_csv(out / "speed.csv")
    assert set(summary["unit"]) == set(models.MODERN_UNITS) and (summary["median_s"] > 0).all()
    assert json.loads((out / "speed.json").read_text())["config"]["scan_kernel"] == "reference"


@pytest.mark.parametrize("name", models.MODERN_UNITS)
def test_block_dropout_is_one_mask_per_sequence_shared_over_time(name):
    """The stack's dropout (and the LRU's GLU dropout) draws one mask per (sequence, channel), as the
    IndRNN's; time_shared_dropout=False gives a fresh mask per element; eval mode is the identity."""
    from dataclasses import replace

    from models.residual import Dropout

    config = replace(TINY, dropout=0.5)
    stack = models.build(name, 5, 3, config).encoder.train()
    drops = [m for m in stack.modules() if isinstance(m, Dropout)]
    assert drops and all(d.time_shared and d.p == 0.5 for d in drops)
    x = torch.ones(8, 30, 16)
    for drop in drops:
        out = drop(x)
        assert ((out == 0).all(1) | (out == 2).all(1)).all() and (out == 0).any() and (out == 2).any()
    per_element = models.build(name, 5, 3, replace(config, time_shared_dropout=False)).encoder.train()
    for drop in (m for m in per_element.modules() if isinstance(m, Dropout)):
        out = drop(x)
        assert not drop.time_shared and not ((out == 0).all(1) | (out == 2).all(1)).all()
        assert torch.equal(drop.eval()(x), x)
