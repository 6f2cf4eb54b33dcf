"""How long `python -m bench --help` and each command's help take in a fresh interpreter (target: under
1 s; heavy modules are imported inside the commands). With --benchmark-enable the target is asserted."""
from __future__ import annotations

import subprocess
import sys

import pytest

COMMANDS = ["", "run", "features", "report", "compare", "units", "scale", "speed"]


@pytest.mark.parametrize("command", COMMANDS, ids=[c or "bench" for c in COMMANDS])
def test_help(benchmark, command):
    argv = [sys.executable, "-m", "bench", *([command] if command else []), "--help"]
    benchmark.group = "help"
    out = benchmark.pedantic(lambda: subprocess.run(argv, capture_output=True, text=True, check=True),
                             rounds=3, warmup_rounds=1, iterations=1)
    assert "usage: python -m bench" in out.stdout and "``" not in out.stdout  # plain text, no reST backticks
    if benchmark.stats is not None:
        assert benchmark.stats.stats.median < 1.0, f"--help took {benchmark.stats.stats.median:.2f} s"
