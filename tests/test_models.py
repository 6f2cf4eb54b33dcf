"""Models: registry, shared head and lengths, IndRNN layer details, learning, long sequences."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn

import models
from bench.cli import build_parser
from bench.execution import units as units_cmd
from models import ModelConfig
from models.indrnn import IndRNN, IndRNNLayer

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
TRAINABLE = ["rnn", "rnn_relu", "lstm", "gru", "indrnn"]
SMALL = ModelConfig(hidden=16, layers=2, dropout=0.0, max_len=24, batch_norm=False)  # the bare stack


def test_registry_lists_the_paper_units():
    assert set(models.PAPER_UNITS) == {"rnn", "lstm", "gru", "indrnn"}
    assert set(models.PAPER_UNITS) <= set(models.available())
    assert {"rnn_relu", "indrnn_norec"} <= set(models.available())


@pytest.mark.parametrize("name", list(models.UNITS))
def test_build_maps_batch_time_features_to_logits(name):
    model = models.build(name, input_dim=7, n_classes=10, config=SMALL)
    logits = model(torch.randn(3, 11, 7))
    assert logits.shape == (3, 10) and torch.isfinite(logits).all()


def test_defaults_are_the_papers_depth_and_dropout():
    cfg = ModelConfig()
    assert (cfg.hidden, cfg.layers, cfg.dropout) == (128, 5, 0.5)
    assert cfg.u_bound == pytest.approx(2 ** (1 / 469))
    model = models.build("lstm", 374, 10)
    assert model.encoder.rnn.num_layers == 5 and model.encoder.rnn.dropout == 0.5


@pytest.mark.parametrize("name,expected", [
    # 5 layers, hidden 128, 374 inputs, 10 classes; head = 128*10 + 10 = 1290
    ("rnn", (374 * 128 + 128 * 128 + 2 * 128) + 4 * (128 * 128 * 2 + 2 * 128) + 1290),
    ("lstm", 4 * ((374 * 128 + 128 * 128 + 2 * 128) + 4 * (128 * 128 * 2 + 2 * 128)) + 1290),
    ("gru", 3 * ((374 * 128 + 128 * 128 + 2 * 128) + 4 * (128 * 128 * 2 + 2 * 128)) + 1290),
    # W, b, u per layer, and batch norm's weight and bias per layer (on by default, as in bench run)
    ("indrnn", (374 * 128 + 2 * 128) + 4 * (128 * 128 + 2 * 128) + 5 * 2 * 128 + 1290),
    ("indrnn_norec", (374 * 128 + 128) + 4 * (128 * 128 + 128) + 5 * 2 * 128 + 1290),
])
def test_parameter_counts(name, expected):
    assert sum(p.numel() for p in models.build(name, 374, 10).parameters()) == expected


def test_unknown_unit_and_bad_configs_are_rejected():
    with pytest.raises(ValueError, match="unknown unit 'transformer'.*indrnn"):
        models.build("transformer", 10, 2)
    for bad in (dict(hidden=0), dict(layers=0), dict(dropout=1.0), dict(dropout=-0.1), dict(max_len=0),
                dict(u_magnitude=1.0), dict(kernel="cudnn"), dict(hidden=2.5)):
        with pytest.raises(ValueError, match="invalid ModelConfig"):
            ModelConfig(**bad)
    with pytest.raises(ValueError, match="n_classes"):
        models.build("gru", 10, 1)


@pytest.mark.parametrize("name", list(models.UNITS))
def test_padding_never_drives_the_prediction(name):
    torch.manual_seed(0)
    model = models.build(name, 6, 4, SMALL).eval()
    x = torch.randn(3, 20, 6)
    lengths = torch.tensor([20, 9, 1])
    logits = model(x, lengths)
    x2 = x.clone()
    x2[1, 9:] = 100 * torch.randn(11, 6)  # change everything past each sequence's end
    x2[2, 1:] = -50.0
    torch.testing.assert_close(model(x2, lengths), logits)
    # each sequence reads its own last valid frame: same as running it alone, cut to its length
    for i, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(model(x[i:i + 1, :n]), logits[i:i + 1], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(model(x), model(x, torch.full((3,), 20)))
    assert not torch.allclose(model(x2), model(x))  # without lengths, the padding would matter


def test_bad_lengths_are_rejected():
    model = models.build("indrnn", 4, 3, SMALL)
    x = torch.randn(2, 5, 4)
    for bad in (torch.tensor([5, 0]), torch.tensor([6, 1]), torch.tensor([5]), torch.tensor([5.0, 2.0])):
        with pytest.raises(ValueError, match="lengths"):
            model(x, bad)
    with pytest.raises(ValueError, match="batch, time, features"):
        model(torch.randn(5, 4))


def learnable_task(device, n=64, steps=24, features=6, seed=0):
    """Label = which of two channels has the larger sum over the sequence (needs memory of the past)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, steps, features, generator=g)
    y = (x[:, :, 0].sum(1) > x[:, :, 1].sum(1)).long()
    return x.to(device), y.to(device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", TRAINABLE)
def test_each_unit_learns(name, device):
    torch.manual_seed(0)
    x, y = learnable_task(device)
    model = models.build(name, x.shape[-1], 2, SMALL).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-5:]) / 5 < 0.75 * sum(losses[:5]) / 5, losses


@pytest.mark.parametrize("device", DEVICES)
def test_indrnn_fast_path_equals_reference_at_layer_level(device):
    """x, W, b, u and h0 gradients through a whole layer (projection + recurrence)."""
    torch.manual_seed(1)
    fast = IndRNNLayer(5, 8, u_bound=1.05, kernel="auto").to(device).double()
    ref = IndRNNLayer(5, 8, u_bound=1.05, kernel="reference").to(device).double()
    ref.load_state_dict(fast.state_dict())
    with torch.no_grad():
        fast.u[:4] *= -1  # negative recurrent weights too
        ref.u.copy_(fast.u)
        fast.bias.normal_(0, 0.1)
        ref.bias.copy_(fast.bias)
    x = torch.randn(3, 30, 5, dtype=torch.float64, device=device, requires_grad=True)
    h0 = torch.rand(3, 8, dtype=torch.float64, device=device, requires_grad=True)
    grads = []
    for layer in (fast, ref):
        out = layer(x, h0)
        grads.append((out, *torch.autograd.grad((out * torch.linspace(-1, 1, 8, device=device, dtype=torch.float64)).sum(),
                                                 (x, layer.weight, layer.bias, layer.u, h0))))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


def test_recurrent_weight_bound_init_and_projection():
    cfg = ModelConfig(hidden=64, layers=3, max_len=100, u_magnitude=2.0, u_last_long=True, batch_norm=False)
    stack = IndRNN(4, cfg)
    bound = 2 ** (1 / 100)
    for i, layer in enumerate(stack.layers):
        low = 1 / bound if i == 2 else 0.0
        assert layer.u.min() >= low and layer.u.max() <= bound
        assert layer.bias.abs().sum() == 0
    opt = torch.optim.SGD(stack.parameters(), lr=10.0)
    x = torch.rand(2, 10, 4)
    stack(x).sum().backward()
    opt.step()  # a huge step throws u far outside the bound ...
    assert any(layer.u.abs().max() > bound for layer in stack.layers)
    stack(x)  # ... forward has no side effect: it does not project ...
    assert any(layer.u.abs().max() > bound for layer in stack.layers)
    models.project_after_step(opt, stack)
    stack(x).sum().backward()
    opt.step()  # ... the optimiser's step hook does, as Li et al.'s clip_weight after each update
    for layer in stack.layers:
        assert layer.u.abs().max() <= bound
        assert layer.u.abs().max().item() == pytest.approx(bound)  # clamped to the bound, not reset


def test_time_shared_dropout_mask():
    cfg = replace(SMALL, dropout=0.5, layers=2, recurrent=False)
    stack = IndRNN(4, cfg).train()
    h = torch.ones(8, 30, 16)
    dropped = stack._drop(h)
    assert ((dropped == 0).all(1) | (dropped == 2).all(1)).all()  # one mask per (sequence, neuron)
    per_element = IndRNN(4, replace(cfg, time_shared_dropout=False)).train()._drop(h)
    assert not ((per_element == 0).all(1) | (per_element == 2).all(1)).all()
    assert torch.equal(stack.eval()._drop(h), h)


@pytest.mark.parametrize("device", DEVICES)
def test_indrnn_with_batch_norm_trains_and_evaluates(device):
    model = models.build("indrnn", 6, 3, replace(SMALL, batch_norm=True, dropout=0.5)).to(device)
    assert sum(isinstance(m, nn.BatchNorm1d) for m in model.modules()) == SMALL.layers
    x = torch.randn(4, 12, 6, device=device)
    model(x).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert torch.isfinite(model.eval()(x, torch.tensor([12, 3, 5, 1]))).all()


def saved_bytes(model, x):
    """Bytes autograd keeps for the backward of one forward pass."""
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x).sum()
    return total


def test_indrnn_trains_at_5000_steps_with_memory_linear_in_time():
    torch.manual_seed(0)
    cfg = ModelConfig(hidden=32, layers=3, dropout=0.5, max_len=5000)
    model = models.build("indrnn", 8, 4, cfg)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.randn(4, 5000, 8), torch.tensor([0, 1, 2, 3])
    for _ in range(2):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        assert torch.isfinite(loss)
        assert all(torch.isfinite(p.grad).all() for p in model.parameters())
        opt.step()
    sizes = [saved_bytes(model, torch.randn(4, t, 8)) for t in (1250, 2500, 5000)]
    assert sizes[1] / sizes[0] == pytest.approx(2, rel=0.01)
    assert sizes[2] / sizes[1] == pytest.approx(2, rel=0.01)


def test_units_command_lists_shapes_and_parameters(capsys):
    parser = build_parser()
    args = parser.parse_args(["units", "--hidden", "8", "--layers", "2", "--input-dim", "5", "--frames", "7"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    for name in models.available():
        assert name in out
    rows = {r["unit"]: r for r in units_cmd.describe_units(["indrnn"], 5, 7, 10, ModelConfig(hidden=8, layers=2, batch_norm=False))}
    assert rows["indrnn"]["output"] == (2, 10)
    assert rows["indrnn"]["params"] == (5 * 8 + 16) + (8 * 8 + 16) + 90
    args = parser.parse_args(["units", "--units", "lstm,indrnn"])  # the same comma syntax as bench run
    assert args.units == ("lstm", "indrnn") and args.func(args) == 0
    assert parser.parse_args(["units", "--units", "all"]).units == models.PAPER_UNITS
    from bench.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["units", "--units", "nope"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1 and "unknown unit(s) nope" in err[0]


def test_first_build_in_a_process_initialises_like_any_later_build(monkeypatch):
    """The kernel warm-up must not draw from the global RNG: a fresh worker process (Dask) has to
    initialise exactly like a process that already built an IndRNN."""
    import models.kernels.cpu as cpu

    def params_after_seed(first: bool):
        if first:  # a warm-up that has not run yet in this process, as in a fresh worker
            monkeypatch.setattr(cpu, "warm_up", cpu.warm_once(cpu.warm_up.__wrapped__))
        torch.manual_seed(5)
        m = models.build("indrnn", 6, 3, models.ModelConfig(hidden=4, layers=2))
        return torch.cat([p.detach().flatten() for p in m.parameters()])

    torch.testing.assert_close(params_after_seed(first=True), params_after_seed(first=False), rtol=0, atol=0)


def test_batch_norm_statistics_in_training_ignore_padding():
    """Training-mode batch norm mixes frames; with lengths its statistics (and running statistics)
    come from valid frames only, so padding changes no logit in the batch and no running stat."""
    config = replace(SMALL, batch_norm=True, dropout=0.0)
    torch.manual_seed(0)
    x = torch.randn(3, 20, 6)
    lengths = torch.tensor([20, 9, 4])
    x2 = x.clone()
    x2[1, 9:] = 100 * torch.randn(11, 6)
    x2[2, 4:] = -50.0
    outs, stats = [], []
    for inp in (x, x2):
        torch.manual_seed(1)
        model = models.build("indrnn", 6, 4, config).train()
        outs.append(model(inp, lengths))
        stats.append(torch.cat([m.running_mean for m in model.modules() if isinstance(m, nn.BatchNorm1d)]))
    torch.testing.assert_close(outs[1], outs[0])
    torch.testing.assert_close(stats[1], stats[0])
    torch.manual_seed(1)
    model = models.build("indrnn", 6, 4, config).train()
    assert not torch.allclose(model(x2), outs[0])  # without lengths the padding would shift the statistics


def _boolean_mask_norm(norm: nn.BatchNorm1d, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The previous implementation: BatchNorm1d on x[valid] (a data-dependent shape, a host sync)."""
    valid = torch.arange(x.shape[1])[None, :] < lengths[:, None]
    out = x.new_zeros(x.shape)
    out[valid] = nn.BatchNorm1d.forward(norm, x[valid])
    return out, valid


@pytest.mark.parametrize("momentum", [0.1, None])
def test_static_shape_masked_norm_matches_boolean_mask_norm(momentum):
    """Weighted sums give the same normalised valid frames, running statistics and gradients as
    BatchNorm1d applied to the valid frames only, over several training steps on padded batches."""
    from models.masked_norm import MaskedBatchNorm

    torch.manual_seed(0)
    new, old = MaskedBatchNorm(7, momentum=momentum), MaskedBatchNorm(7, momentum=momentum)
    with torch.no_grad():
        new.weight.uniform_(0.5, 2), new.bias.uniform_(-1, 1)
    old.load_state_dict(new.state_dict())
    for step in range(4):
        lengths = torch.tensor([30, 12, 5, 1, 17])
        x = torch.randn(5, 30, 7) * 3 + step
        x[torch.arange(30)[None, :] >= lengths[:, None]] += 40.0  # padding far from the data: a leak shows
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        weight = (torch.arange(30)[None, :] < lengths[:, None]).unsqueeze(-1).float()
        y_new = new(xa, weight)
        y_old, valid = _boolean_mask_norm(old, xb, lengths)
        torch.testing.assert_close(y_new[valid], y_old[valid], rtol=1e-5, atol=1e-5)
        g = torch.randn_like(x)
        (y_new * g)[valid].sum().backward()
        (y_old * g)[valid].sum().backward()
        torch.testing.assert_close(xa.grad[valid], xb.grad[valid], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(new.weight.grad, old.weight.grad, rtol=1e-4, atol=1e-4)
        new.weight.grad = new.bias.grad = old.weight.grad = old.bias.grad = None
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        torch.testing.assert_close(getattr(new, name), getattr(old, name), rtol=1e-5, atol=1e-5)
    assert new.running_mean.abs().max() < 5  # the +40 padding never reached the statistics
    full = torch.ones(5, 30, 1)  # every frame valid: the weighted sums equal plain batch norm
    new.train(), old.train()
    x = torch.randn(5, 30, 7) * 2 + 3
    torch.testing.assert_close(new.weighted(x, full), nn.BatchNorm1d.forward(old, x.reshape(-1, 7)).view_as(x),
                               rtol=1e-5, atol=1e-5)
    new.eval(), old.eval()  # evaluation: plain batch norm with the running statistics, every frame
    torch.testing.assert_close(new(x), nn.BatchNorm1d.forward(old, x.reshape(-1, 7)).view_as(x))


def test_units_command_previews_a_controlled_scaffold_at_the_run_budget(capsys):
    from bench.config import preset
    from bench.execution.jobs import budget_for, unit_config

    parser = build_parser()
    args = parser.parse_args(["units", "--units", "lstm,indrnn,mamba", "--block", "residual", "--hidden", "16",
                              "--layers", "2", "--input-dim", "12", "--frames", "9", "--dropout", "0.2"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    cfg = preset("quick", block="residual", hidden=16, layers=2)
    budget = budget_for(cfg, 12, 10, 9)
    assert f"width chosen per unit for {budget:,} parameters, block residual" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    for unit in ("lstm", "indrnn", "mamba"):  # the widths bench run would train with
        assert int(rows[unit][1]) == unit_config(cfg, unit, 12, 10, 9).hidden
    assert rows["indrnn"][1] == "16" and int(rows["lstm"][1]) < 16


def test_listing_units_compiles_no_kernel(monkeypatch, capsys):
    """Issue 28: the first `bench units` took 3 min 41 s compiling every numba kernel, to list units."""
    import models.indrnn
    import models.lru
    import models.mamba
    import models.residual  # minGRU's and minLSTM's layers warm up there (GatedScanLayer)

    def compile_(*args, **kwargs):
        raise AssertionError("a kernel was compiled to list the units")

    for module in (models.indrnn, models.residual, models.lru, models.mamba):
        monkeypatch.setattr(module, "warm_up", compile_)
    parser = build_parser()
    args = parser.parse_args(["units", "--hidden", "8", "--layers", "2", "--input-dim", "5", "--frames", "7"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in models.available())
