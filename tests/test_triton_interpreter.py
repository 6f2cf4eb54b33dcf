"""The CUDA kernels' logic on CPU, in Triton's interpreter: outputs and every gradient against the loop.

All cases run in one fresh process (``tests/kernel_cases.py``; ``TRITON_INTERPRET=1`` must be set
before triton is imported), then each case is asserted on its own. The interpreter is slow (its
scan calls the combine function once per element), so shapes are small in batch and hidden and
long only in time, which is where a chunked kernel can go wrong. ``chunk``/``block`` are small
where the point is several chunks, a partial last chunk and a partial block of neurons; the
production launch shape (chunk 64) is run too. The same holds for the linear scan's kernels
(``SCAN_CASES``), real and complex.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton not installed"),
              pytest.mark.slow]  # the CUDA kernels in Triton's interpreter: minutes on a CPU

SMALL = {"kernel": "triton", "chunk": 8, "block": 4}
CASES = {
    # (batch, time, hidden): hidden 5 = a full and a partial block of 4; T 17 = 2 chunks of 8 + 1 step
    "scan-f32-partial": {**SMALL, "dtype": "float32", "shape": [3, 17, 5]},
    "scan-f64-partial": {**SMALL, "dtype": "float64", "shape": [3, 17, 5]},
    "scan-f32-T1": {**SMALL, "dtype": "float32", "shape": [1, 1, 1]},
    "scan-f64-T1": {**SMALL, "dtype": "float64", "shape": [2, 1, 3]},
    "scan-f32-whole-chunks": {**SMALL, "dtype": "float32", "shape": [2, 64, 9], "seed": 1},
    "scan-f32-exact-kink": {**SMALL, "dtype": "float32", "shape": [2, 30, 5], "exact": True},
    "scan-f64-exact-kink": {**SMALL, "dtype": "float64", "shape": [2, 30, 5], "exact": True, "seed": 2},
    # the production tile (64 steps) with a partial block of 16 neurons
    "scan-f32-chunk64": {"kernel": "triton", "chunk": 64, "block": 16, "dtype": "float32", "shape": [2, 150, 20]},
    # T = 5000 with |u| <= 1 (|u| = 1.1 would overflow over 5000 steps, in any kernel)
    "scan-f32-T5000": {"kernel": "triton", "chunk": 64, "block": 4, "dtype": "float32", "shape": [1, 5000, 3],
                       "u_max": 1.0},
    "scan-f64-T5000": {"kernel": "triton", "chunk": 64, "block": 4, "dtype": "float64", "shape": [1, 5000, 3],
                       "u_max": 1.0, "seed": 3},
    "loop-f32": {"kernel": "triton_loop", "dtype": "float32", "shape": [3, 17, 130]},
    "loop-f64": {"kernel": "triton_loop", "dtype": "float64", "shape": [3, 17, 5]},
    "loop-f32-T1": {"kernel": "triton_loop", "dtype": "float32", "shape": [1, 1, 1]},
    "loop-f32-exact-kink": {"kernel": "triton_loop", "dtype": "float32", "shape": [2, 30, 5], "exact": True},
    "loop-f32-T5000": {"kernel": "triton_loop", "dtype": "float32", "shape": [1, 5000, 3], "u_max": 1.0},
}


# The diagonal linear scan's kernels (models/kernels/scan_cuda.py): real and complex, partial chunks
# and blocks, T = 1, the production tile, and long sequences (complex is 4x slower to interpret).
SCAN_SMALL = {"kernel": "scan_triton", "chunk": 8, "block": 4}
SCAN_CASES = {
    "linear-f32-partial": {**SCAN_SMALL, "dtype": "float32", "shape": [3, 17, 5]},
    "linear-f64-partial": {**SCAN_SMALL, "dtype": "float64", "shape": [3, 17, 5], "seed": 1},
    "linear-c64-partial": {**SCAN_SMALL, "dtype": "complex64", "shape": [3, 17, 5], "seed": 2},
    "linear-c128-partial": {**SCAN_SMALL, "dtype": "complex128", "shape": [3, 17, 5], "seed": 3},
    "linear-f32-T1": {**SCAN_SMALL, "dtype": "float32", "shape": [1, 1, 1]},
    "linear-c64-T1": {**SCAN_SMALL, "dtype": "complex64", "shape": [2, 1, 3]},
    "linear-f32-chunk64": {"kernel": "scan_triton", "chunk": 64, "block": 16, "dtype": "float32",
                           "shape": [2, 150, 20]},
    "linear-f64-T5000": {"kernel": "scan_triton", "chunk": 64, "block": 4, "dtype": "float64", "shape": [1, 5000, 3]},
    "linear-c128-T700": {"kernel": "scan_triton", "chunk": 64, "block": 4, "dtype": "complex128",
                         "shape": [1, 700, 3], "seed": 4},
}


@pytest.fixture(scope="module")
def results() -> dict:
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, TRITON_INTERPRET="1")
    cases = [{"associativity": {}}, *CASES.values(), *SCAN_CASES.values()]
    proc = subprocess.run([sys.executable, str(root / "tests" / "kernel_cases.py"), json.dumps(cases)],
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"associativity": out[0], **dict(zip([*CASES, *SCAN_CASES], out[1:]))}


@pytest.mark.parametrize("name", list(SCAN_CASES))
def test_linear_scan_kernel_matches_reference_in_interpreter(results, name):
    r = results[name]
    assert r["finite"]
    assert all(v <= 1.0 for v in r["worst"].values()), f"{name}: worst error / tolerance {r['worst']}"


@pytest.mark.parametrize("name", list(CASES))
def test_kernel_matches_reference_in_interpreter(results, name):
    r = results[name]
    assert r["finite"] and r["min_out"] >= 0.0
    assert all(v <= 1.0 for v in r["worst"].values()), f"{name}: worst error / tolerance {r['worst']}"
    if CASES[name]["shape"][1] > 1:  # both relu branches were exercised
        assert r["zeros"] > 0 and r["positive"] > 0
    if CASES[name].get("exact"):  # no rounding anywhere in the forward: identical states, zeros included
        assert r["worst"]["out"] == 0.0


def test_scan_combines_are_associative(results):
    """A GPU scans in a tree, the interpreter left to right: both groupings must be the same map."""
    r = results["associativity"]
    assert r["collapsed"] > 0 and r["negative"] > 0  # the edge cases were drawn
    errors = {k: v for k, v in r.items() if k not in ("collapsed", "negative")}
    # in units of 1e-12 relative: float64 rounding of a few operations, nothing more
    assert max(errors.values()) < 10.0, errors
