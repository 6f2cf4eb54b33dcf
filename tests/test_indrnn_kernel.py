"""The fused IndRNN recurrence kernels against the reference loop: values, every gradient, gradcheck."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from models.kernels import KERNELS, recurrence, resolve
from models.kernels.reference import recurrence_reference

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
SHAPES = [(1, 1, 1), (3, 17, 5), (4, 64, 33), (8, 200, 128)]  # (batch, time, hidden)


def fused(device: str) -> str:
    from models.kernels import cuda

    if device == "cuda" and not cuda.AVAILABLE:
        pytest.skip("CUDA present but triton is not installed")
    return {"cpu": "numba", "cuda": "triton"}[device]


def random_inputs(shape, dtype, device, seed):
    """Fresh inputs with negative and positive u (|u| up to 1.1) and a non-zero initial state."""
    g = torch.Generator().manual_seed(seed)
    batch, steps, hidden = shape
    z = torch.randn(batch, steps, hidden, generator=g, dtype=dtype)
    u = (torch.rand(hidden, generator=g, dtype=dtype) * 2.2 - 1.1)
    u[0] = -0.9  # at least one negative weight even when hidden == 1
    b = 0.3 * torch.randn(hidden, generator=g, dtype=dtype)
    h0 = torch.randn(batch, hidden, generator=g, dtype=dtype).abs()
    return [t.to(device).requires_grad_() for t in (z, u, b, h0)]


def run(kernel, inputs, grad_seed=123):
    out = recurrence(*inputs, kernel=kernel)
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(grad_seed), dtype=out.dtype).to(out.device)
    grads = torch.autograd.grad(out, inputs, g)
    return out, grads


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_fused_equals_reference(device, dtype, shape):
    inputs = random_inputs(shape, dtype, device, seed=hash(shape) % 1000)
    out_f, grads_f = run(fused(device), inputs)
    out_r, grads_r = run("reference", inputs)
    assert out_f.shape == shape and out_f.dtype == dtype
    if out_r.numel() > 8:  # both relu branches are exercised
        assert (out_r > 0).any() and (out_r == 0).any()
    tol = {"rtol": 1e-4, "atol": 1e-4} if dtype == torch.float32 else {"rtol": 1e-10, "atol": 1e-10}
    torch.testing.assert_close(out_f, out_r, **tol)
    for name, gf, gr in zip(("z", "u", "b", "h0"), grads_f, grads_r):
        torch.testing.assert_close(gf, gr, **tol, msg=lambda m: f"grad {name}: {m}")


@pytest.mark.parametrize("device", DEVICES)
def test_gradcheck_float64(device):
    inputs = random_inputs((2, 7, 3), torch.float64, device, seed=5)
    # keep pre-activations away from 0, where relu has no derivative and finite differences disagree
    with torch.no_grad():
        inputs[0].add_(torch.sign(inputs[0]) * 0.2)
    assert torch.autograd.gradcheck(lambda *a: recurrence(*a, kernel=fused(device)), inputs, eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("device", DEVICES)
def test_no_initial_state_means_zeros(device):
    z, u, b, h0 = random_inputs((3, 9, 4), torch.float32, device, seed=1)
    torch.testing.assert_close(recurrence(z, u, b, None, kernel=fused(device)),
                               recurrence(z, u, b, torch.zeros_like(h0), kernel="reference"))


def test_fused_matches_hand_computed_values():
    # neuron 0 (u=0.5, b=0):  relu(1 + 0.5*2) = 2, relu(-3 + 0.5*2) = 0, relu(4 + 0.5*0) = 4
    # neuron 1 (u=-0.5, b=.5): relu(1.5 - 0.5*1) = 1, relu(2.5 - 0.5*1) = 2, relu(1 - 0.5*2) = 0
    z = torch.tensor([[[1.0, 1.0], [-3.0, 2.0], [4.0, 0.5]]])
    u, b, h0 = torch.tensor([0.5, -0.5]), torch.tensor([0.0, 0.5]), torch.tensor([[2.0, 1.0]])
    want = torch.tensor([[[2.0, 1.0], [0.0, 2.0], [4.0, 0.0]]])
    torch.testing.assert_close(recurrence(z, u, b, h0, kernel="numba"), want)
    torch.testing.assert_close(recurrence_reference(z, u, b, h0), want)


def test_dispatch_in_one_place():
    assert resolve("auto", "cpu") == "numba"
    assert resolve("auto", "cpu", torch.float16) == "reference"
    assert resolve("reference", "cpu") == "reference"
    assert set(KERNELS) == {"auto", "numba", "triton", "reference"}
    with pytest.raises(ValueError, match="unknown IndRNN kernel"):
        resolve("cudnn", "cpu")
    with pytest.raises(ValueError, match="runs on cuda"):
        resolve("triton", "cpu")
    with pytest.raises(ValueError, match="runs on cpu"):
        resolve("numba", "cuda")


def test_cuda_module_imports_without_cuda():
    from models.kernels import cuda

    assert cuda.AVAILABLE == (cuda.triton is not None and torch.cuda.is_available())


TRITON_CHECK = """
import torch
from models.kernels import cuda
from models.kernels.reference import recurrence_reference
for dtype in (torch.float32, torch.float64):
    for batch, steps, hidden in ((2, 5, 3), (3, 17, 130), (1, 1, 1)):
        g = torch.Generator().manual_seed(0)
        ins = [torch.randn(batch, steps, hidden, generator=g, dtype=dtype),
               torch.rand(hidden, generator=g, dtype=dtype) * 2.2 - 1.1,
               0.3 * torch.randn(hidden, generator=g, dtype=dtype),
               torch.rand(batch, hidden, generator=g, dtype=dtype)]
        ins = [t.requires_grad_() for t in ins]
        grad = torch.randn(batch, steps, hidden, generator=g, dtype=dtype)
        fast = cuda.recurrence_cuda(*ins)
        ref = recurrence_reference(*ins)
        torch.testing.assert_close(fast, ref)
        for a, b in zip(torch.autograd.grad(fast, ins, grad), torch.autograd.grad(ref, ins, grad)):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
print("ok")
"""


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton not installed")
def test_triton_kernel_in_interpreter():
    """The CUDA kernels' logic, run on CPU tensors by Triton's interpreter (no GPU needed)."""
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, TRITON_INTERPRET="1",
               PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    run = subprocess.run([sys.executable, "-c", TRITON_CHECK], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "ok" in run.stdout, run.stderr[-3000:]
