"""The controlled scaffolds (models.scaffold): one module tree around every unit's recurrence, no padding leak,
equal capacity by default, multiply-adds per frame."""
import subprocess
import sys
from dataclasses import replace

import pytest
import torch

import models
from bench.config import preset
from bench.execution.jobs import budget_for, unit_config
from models.budget import param_count
from models.cost import macs_per_frame

UNITS = models.available()
SMALL = models.ModelConfig(hidden=8, layers=3, dropout=0.0, max_len=20, kernel="reference", scan_kernel="reference",
                           mamba_d_state=4)


def outside_recurrence(model: torch.nn.Module) -> list[tuple]:
    """(name, type, parameter shapes) of every module outside the encoder's recurrence layers."""
    rows = []
    for name, module in model.named_modules():
        if name.startswith("encoder.layers."):
            continue
        shapes = tuple((n, tuple(p.shape)) for n, p in module.named_parameters(recurse=False))
        rows.append((name, type(module).__name__, shapes))
    return rows


@pytest.mark.parametrize("block", ["stack", "residual"])
@pytest.mark.parametrize("norm", ["none", "layer", "batch"])
def test_everything_outside_the_recurrence_is_the_same_tree_for_every_unit(block, norm):
    cfg = replace(SMALL, block=block, norm=norm)
    trees = {u: outside_recurrence(models.build(u, 12, 4, cfg)) for u in UNITS}
    reference = trees["indrnn"]
    assert any(t == "Linear" for _, t, _ in reference) and len(reference) > 5
    for unit, tree in trees.items():
        assert tree == reference, unit
    # and the recurrence itself is there, one layer per depth, and differs between families
    kinds = {u: type(models.build(u, 12, 4, cfg).encoder.layers[0]).__name__ for u in UNITS}
    assert len(set(kinds.values())) >= 6 and kinds["lstm"] == "TorchRecurrent" and kinds["mamba"] == "MambaMixer"


def test_native_is_each_unit_as_published():
    native = {u: type(models.build(u, 12, 4, SMALL).encoder).__name__ for u in ("lstm", "indrnn", "mingru", "lru")}
    assert native == {"lstm": "TorchRecurrent", "indrnn": "IndRNN", "mingru": "MinGRU", "lru": "LRU"}
    assert models.build("lstm", 12, 4, SMALL).encoder.rnn.num_layers == 3  # PyTorch's fused multi-layer call


@pytest.mark.parametrize("unit", UNITS)
@pytest.mark.parametrize("block,norm", [("native", "layer"), ("stack", "none"), ("stack", "batch"),
                                        ("residual", "layer"), ("residual", "batch")])
def test_padding_never_reaches_a_valid_frame(unit, block, norm):
    """Logits from a padded batch do not change when the padding is replaced by large garbage, in training
    mode (batch-norm statistics over valid frames) and in evaluation."""
    torch.manual_seed(0)
    model = models.build(unit, 6, 3, replace(SMALL, block=block, norm=norm)).double()
    x = torch.randn(4, 15, 6, dtype=torch.float64)
    lengths = torch.tensor([15, 9, 4, 1])
    garbage = x.clone()
    for i, n in enumerate(lengths.tolist()):
        garbage[i, n:] = 1e3 * torch.randn(15 - n, 6, dtype=torch.float64)
    for train in (True, False):
        model.train(train)
        torch.manual_seed(1)
        a = model(x, lengths)
        torch.manual_seed(1)
        b = model(garbage, lengths)
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9, msg=f"{unit} {block} {norm} train={train}")


def test_scaffold_dropout_has_one_policy_for_every_unit():
    for mask, shared in (("sequence", True), ("element", False)):
        cfg = models.ModelConfig(**preset("quick", block="residual", dropout_mask=mask).model_options())
        for unit in ("lstm", "indrnn", "lru"):
            drop = models.build(unit, 12, 4, cfg).encoder.dropout
            assert (drop.p, drop.time_shared) == (0.2, shared)


def test_torch_units_in_a_scaffold_record_their_per_layer_kernel():
    from models.kernels import recording

    with recording() as ran:
        models.build("gru", 6, 3, replace(SMALL, block="stack"))(torch.randn(2, 5, 6))
    assert ("gru", "aten-layer", "float32") in ran
    with recording() as ran:
        models.build("gru", 6, 3, SMALL)(torch.randn(2, 5, 6))
    assert ("gru", "aten", "float32") in ran


def test_controlled_scaffolds_default_to_the_indrnn_parameter_count():
    shape = dict(input_dim=374, n_classes=10, frames=59)
    native = preset("quick")
    assert budget_for(native, **shape) == 0  # the paper's comparison: equal width
    assert unit_config(native, "lstm", 374, 10, 59).hidden == 64
    cfg = preset("quick", block="residual")
    budget = budget_for(cfg, **shape)
    reference = models.ModelConfig(**cfg.model_options(), max_len=59)
    assert budget == param_count("indrnn", 374, 10, reference)
    counts = {}
    for unit in ("rnn", "lstm", "gru", "indrnn", "mingru", "minlstm", "lru", "mamba"):
        mcfg = unit_config(cfg, unit, 374, 10, 59)
        counts[unit] = param_count(unit, 374, 10, mcfg)
        # the closest width: one more or one less neuron is further from the budget
        for other in (mcfg.hidden - 1, mcfg.hidden + 1):
            assert abs(param_count(unit, 374, 10, replace(mcfg, hidden=other)) - budget) >= abs(counts[unit] - budget)
    assert unit_config(cfg, "indrnn", 374, 10, 59).hidden == 64
    assert unit_config(cfg, "lstm", 374, 10, 59).hidden < 64 < unit_config(cfg, "indrnn_norec", 374, 10, 59).hidden + 1
    assert max(counts.values()) / min(counts.values()) < 1.1
    # --param-budget 0: equal width in any scaffold
    assert budget_for(preset("quick", block="residual", param_budget=0), **shape) == 0


def test_the_budget_needs_no_compiled_kernel_in_a_fresh_process():
    """Issue 28's crash: the modern units warmed their CPU kernels up on meta tensors."""
    code = ("from models.budget import width_for_budget; import models; "
            "c = models.ModelConfig(hidden=64, layers=3, block='residual'); "
            "print([width_for_budget(u, 374, 10, c, 100000) for u in ('mingru', 'minlstm', 'lru', 'mamba')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    widths = eval(out.stdout.strip().splitlines()[-1])
    assert len(widths) == 4 and all(w > 8 for w in widths)


def test_multiply_adds_per_frame_count_products_and_the_recurrence():
    d, h, layers = 12, 8, 3
    cfg = replace(SMALL, hidden=h, layers=layers)
    # IndRNN as published: W (h x d), then (h x h) per layer, plus u * h per layer; the head is per sequence
    assert macs_per_frame(models.build("indrnn", d, 4, cfg)) == h * d + (layers - 1) * h * h + layers * h
    # LSTM: 4 gates of (input + hidden) per layer
    assert macs_per_frame(models.build("lstm", d, 4, cfg)) == 4 * h * (d + h) + (layers - 1) * 4 * h * (h + h)
    # in a scaffold: the encoder's (h x d) then each layer's own
    res = replace(cfg, block="residual")
    assert macs_per_frame(models.build("indrnn", d, 4, res)) == h * d + layers * (h * h + h)
    assert macs_per_frame(models.build("mingru", d, 4, res)) == h * d + layers * (2 * h * h + h)
    lru = macs_per_frame(models.build("lru", d, 4, res))
    assert lru == h * d + layers * (2 * h * h + 2 * h * h + 4 * h)  # B, C (2N x H each), the complex product
