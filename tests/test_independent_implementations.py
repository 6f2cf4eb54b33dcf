"""The modern units against independent implementations from PyPI, with the same weights.

- minGRU, minLSTM: ``mingru-pytorch`` (lucidrains), the paper's log-space form (logcumsumexp scan);
- Mamba's S6 block: ``mambapy`` (alxndrTL), its sequential and its parallel (Blelloch) scan.

Test-only dependencies (``pip install -e .[test]``), never needed to run the benchmark: each test is
skipped when its package is missing. No PyPI package implements the LRU in PyTorch (the paper's
reference, NicolasZucchet/minimal-LRU, is JAX code on GitHub); the LRU is checked against its own
step form and its paper's initialisation in ``test_modern_units.py``.
"""
from __future__ import annotations

import pytest
import torch

from models.mamba import MambaMixer
from models.mingru import MinGRULayer
from models.minlstm import MinLSTMLayer

DIM = 6


def inputs(steps: int = 17, batch: int = 3) -> torch.Tensor:
    return torch.randn(batch, steps, DIM, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


def test_mingru_equals_mingru_pytorch():
    lib = pytest.importorskip("minGRU_pytorch.minGRU")
    torch.manual_seed(0)
    theirs = lib.minGRU(DIM).double()
    ours = MinGRULayer(DIM, kernel="reference").double()
    hidden, gate = theirs.to_hidden_and_gate.weight.detach().chunk(2)  # their rows: candidate, then gate
    with torch.no_grad():
        ours.proj.weight.copy_(torch.cat([gate, hidden]))  # ours: gate, then candidate
        ours.proj.bias.zero_()  # theirs has no bias
    x = inputs()
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-9, atol=1e-11)


def test_minlstm_equals_mingru_pytorch():
    lib = pytest.importorskip("minGRU_pytorch.minLSTM")
    torch.manual_seed(0)
    theirs = lib.minLSTM(DIM).double()
    ours = MinLSTMLayer(DIM, kernel="reference").double()
    hidden, f, i = theirs.to_hidden_and_f_i_gate.weight.detach().chunk(3)  # theirs: candidate, f, i
    with torch.no_grad():
        ours.proj.weight.copy_(torch.cat([f, i, hidden]))  # ours: f, i, candidate
        ours.proj.bias.zero_()
    x = inputs()
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("parallel", [False, True])
def test_mamba_block_equals_mambapy(parallel):
    lib = pytest.importorskip("mambapy.mamba")
    torch.manual_seed(0)
    config = lib.MambaConfig(d_model=DIM, n_layers=1, d_state=16, expand_factor=2, d_conv=4, pscan=parallel)
    theirs = lib.MambaBlock(config).double()
    ours = MambaMixer(DIM, d_state=16, expand=2, d_conv=4, kernel="reference").double()
    state = {("conv" + k[len("conv1d"):] if k.startswith("conv1d") else k): v for k, v in theirs.state_dict().items()}
    ours.load_state_dict(state)  # the same parameter set, one name apart
    with torch.no_grad():  # move every parameter off its initial value, in both
        for p, q in zip(ours.parameters(), theirs.parameters()):
            noise = 0.1 * torch.randn_like(p)
            p.add_(noise)
            q.add_(noise)
        # mambapy computes A = -exp(A_log.float()) and D.float() in float32 whatever the input's dtype;
        # give ours the very values its float32 A and D take, so the comparison stays at float64's precision
        ours.A_log.copy_(torch.log(torch.exp(theirs.A_log.float()).double()))
        theirs.D.copy_(theirs.D.float().double())
        ours.D.copy_(theirs.D)
    x = inputs(steps=16)  # a power of two, for their parallel scan
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-9, atol=1e-11)
