"""The unit contract (models/contract.py): every built-in unit keeps it, on every block and device here."""
from __future__ import annotations

import pytest
import torch

import models
from bench.cli import main
from models.config import BLOCKS
from models.contract import POINTS, check_unit

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", list(models.UNITS))
def test_every_built_in_unit_keeps_the_contract(name, device):
    for block in BLOCKS:
        results = check_unit(name, device, block)
        assert [r.point for r in results] == list(POINTS)
        failed = [f"{block} {r.point}: {r.detail}" for r in results if not r.ok]
        assert not failed, failed


def test_check_unit_prints_one_line_per_point_and_exits_zero(capsys):
    assert main(["check-unit", "indrnn", "--block", "native", "--device", "cpu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("check-unit indrnn: built-in unit; on cpu, blocks native")
    assert [line.split()[3] for line in lines[1:-1]] == [p.split()[0] for p in POINTS]
    assert all(line.startswith("ok    cpu   native    ") for line in lines[1:-1])
    assert "project_ on IndRNNLayer" in lines[-2] and "kernels indrnn:numba:float32" in lines[-2]  # the hooks it has
    assert lines[-1] == "all 10 points hold: indrnn keeps the unit contract"


def test_check_unit_of_an_unknown_unit_is_one_line(capsys):
    assert main(["check-unit", "transformer"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown unit 'transformer'; available: rnn, ") and err.count("\n") == 1
