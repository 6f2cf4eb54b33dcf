"""First use: a command that must compile the CPU kernels says so once, with progress; one that need not is silent."""
import os
import subprocess
import sys
from pathlib import Path

from bench.execution.warmup import compile_kernels
from models import kernels

ROOT = Path(__file__).resolve().parents[1]


def test_a_kernel_not_in_the_cache_is_announced_once_and_built(monkeypatch, capsys):
    monkeypatch.setattr(kernels, "compiled", lambda op: op != "indrnn")  # as in a fresh checkout, for one family
    assert compile_kernels(["lstm", "indrnn"], "cpu") == ["indrnn"]
    captured = capsys.readouterr()
    assert captured.out.count("first use: numba's disk cache lacks fused CPU kernels (indrnn); the units that need "
                              "one compile it now, once") == 1
    assert str(kernels.cache_folder()) in captured.out
    assert "compiling kernels" in captured.err and "2/2" in captured.err  # the progress bar, one step per unit


def test_nothing_is_said_when_every_kernel_is_cached_or_the_device_is_cuda(monkeypatch, capsys):
    monkeypatch.setattr(kernels, "compiled", lambda op: True)
    assert compile_kernels(["indrnn", "mamba"], "cpu") == []
    monkeypatch.setattr(kernels, "compiled", lambda op: False)
    assert compile_kernels(["indrnn", "mamba"], "cuda:0") == []
    assert capsys.readouterr() == ("", "")


def test_an_empty_numba_cache_is_seen_without_compiling_anything(tmp_path):
    code = ("from models import kernels; "
            "print({op: kernels.compiled(op) for op in kernels.CPU_OPS}, kernels.cache_folder())")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    states, folder = out.stdout.strip().rsplit(" ", 1)
    assert states == str({op: False for op in kernels.CPU_OPS})
    assert folder.startswith(str(tmp_path)) and not any(tmp_path.rglob("*.nbi"))  # nothing compiled or written
