"""The fused IndRNN recurrence kernels against the reference loop: values, every gradient, gradcheck."""
from __future__ import annotations

import pytest
import torch

from models.kernels import KERNELS, recurrence, resolve
from models.kernels.reference import recurrence_reference

from kernel_cases import exact_inputs, random_inputs  # tests/ is on sys.path (no __init__.py)

# (device, fused kernel): every fused kernel on the device it runs on; both CUDA kernels when present
FUSED = [("cpu", "numba")] + ([("cuda", "triton"), ("cuda", "triton_loop")] if torch.cuda.is_available() else [])
SHAPES = [(1, 1, 1), (3, 17, 5), (4, 64, 33), (8, 200, 128), (2, 5000, 8)]  # (batch, time, hidden)


def needs_triton(device: str) -> None:
    from models.kernels import cuda

    if device == "cuda" and not cuda.AVAILABLE:
        pytest.skip("CUDA present but triton is not installed")


def run(kernel, inputs, grad_seed=123):
    out = recurrence(*inputs, kernel=kernel)
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(grad_seed), dtype=out.dtype).to(out.device)
    grads = torch.autograd.grad(out, inputs, g)
    return out, grads


@pytest.mark.parametrize("device,kernel", FUSED)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_fused_equals_reference(device, kernel, dtype, shape):
    needs_triton(device)
    # |u| <= 1 at T = 5000: larger weights overflow over that many steps, in any kernel
    inputs = random_inputs(shape, dtype, device, seed=sum(shape), u_max=1.0 if shape[1] > 1000 else 1.1)
    out_f, grads_f = run(kernel, inputs)
    out_r, grads_r = run("reference", inputs)
    assert out_f.shape == shape and out_f.dtype == dtype
    if out_r.numel() > 8:  # both relu branches are exercised
        assert (out_r > 0).any() and (out_r == 0).any()
    tol = {"rtol": 1e-4, "atol": 1e-4} if dtype == torch.float32 else {"rtol": 1e-10, "atol": 1e-10}
    torch.testing.assert_close(out_f, out_r, **tol)
    for name, gf, gr in zip(("z", "u", "b", "h0"), grads_f, grads_r):
        torch.testing.assert_close(gf, gr, **tol, msg=lambda m: f"grad {name}: {m}")


@pytest.mark.parametrize("device,kernel", FUSED)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_at_relu_kink_with_exact_arithmetic(device, kernel, dtype):
    """Pre-activations exactly 0 at many steps, sums exact in any order: same states, same relu mask."""
    needs_triton(device)
    inputs = exact_inputs((4, 300, 10), dtype, device, seed=7)
    out_f, grads_f = run(kernel, inputs)
    out_r, grads_r = run("reference", inputs)
    pre = torch.zeros_like(out_r)
    pre[:, 1:] = inputs[0][:, 1:] + inputs[2] + inputs[1] * out_r[:, :-1]
    assert (pre[:, 1:] == 0).sum() > 50  # the kink is hit, not just approached
    assert torch.equal(out_f, out_r)
    for name, gf, gr in zip(("z", "u", "b", "h0"), grads_f, grads_r):
        torch.testing.assert_close(gf, gr, rtol=1e-5, atol=1e-5, msg=lambda m: f"grad {name}: {m}")


@pytest.mark.parametrize("device,kernel", FUSED)
def test_gradcheck_float64(device, kernel):
    needs_triton(device)
    inputs = random_inputs((2, 7, 3), torch.float64, device, seed=5)
    # keep pre-activations away from 0, where relu has no derivative and finite differences disagree
    with torch.no_grad():
        inputs[0].add_(torch.sign(inputs[0]) * 0.2)
    assert torch.autograd.gradcheck(lambda *a: recurrence(*a, kernel=kernel), inputs, eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("device,kernel", FUSED)
def test_no_initial_state_means_zeros(device, kernel):
    needs_triton(device)
    z, u, b, h0 = random_inputs((3, 9, 4), torch.float32, device, seed=1)
    torch.testing.assert_close(recurrence(z, u, b, None, kernel=kernel),
                               recurrence(z, u, b, torch.zeros_like(h0), kernel="reference"))


@pytest.mark.parametrize("device,kernel", FUSED)
def test_fused_matches_hand_computed_values(device, kernel):
    needs_triton(device)
    # neuron 0 (u=0.5, b=0):  relu(1 + 0.5*2) = 2, relu(-3 + 0.5*2) = 0, relu(4 + 0.5*0) = 4
    # neuron 1 (u=-0.5, b=.5): relu(1.5 - 0.5*1) = 1, relu(2.5 - 0.5*1) = 2, relu(1 - 0.5*2) = 0
    z = torch.tensor([[[1.0, 1.0], [-3.0, 2.0], [4.0, 0.5]]])
    u, b, h0 = torch.tensor([0.5, -0.5]), torch.tensor([0.0, 0.5]), torch.tensor([[2.0, 1.0]])
    want = torch.tensor([[[2.0, 1.0], [0.0, 2.0], [4.0, 0.0]]])
    got = recurrence(*(t.to(device) for t in (z, u, b, h0)), kernel=kernel)
    torch.testing.assert_close(got.cpu(), want)
    torch.testing.assert_close(recurrence_reference(z, u, b, h0), want)


def test_dispatch_in_one_place():
    assert resolve("auto", "cpu") == "numba"
    with pytest.raises(ValueError, match="no fused kernel for torch.float16.*'reference'"):
        resolve("auto", "cpu", torch.float16)  # never a silent fall back to the slow loop
    assert resolve("reference", "cpu") == "reference"
    assert set(KERNELS) == {"auto", "numba", "triton", "triton_loop", "reference"}
    assert resolve("triton_loop", "cuda") == "triton_loop"  # the previous CUDA kernel, by name
    with pytest.raises(ValueError, match="unknown IndRNN kernel"):
        resolve("cudnn", "cpu")
    for name in ("triton", "triton_loop"):
        with pytest.raises(ValueError, match="runs on cuda"):
            resolve(name, "cpu")
    with pytest.raises(ValueError, match="runs on cpu"):
        resolve("numba", "cuda")


def test_auto_on_cuda_without_triton_is_an_error(monkeypatch):
    from models import kernels

    monkeypatch.setattr(kernels.cuda, "AVAILABLE", False)
    with pytest.raises(ValueError, match="needs Triton.*'reference'"):
        resolve("auto", "cuda")
    assert resolve("reference", "cuda") == "reference"  # asked for by name: allowed


def test_recording_names_the_kernel_and_dtype_that_ran():
    from models.kernels import recording

    z, u, b = torch.randn(2, 5, 3), torch.rand(3), torch.zeros(3)
    with recording() as ran:
        recurrence(z, u, b)
        recurrence(z.double(), u.double(), b.double(), kernel="reference")
    assert ran == {("indrnn", "numba", "float32"), ("indrnn", "reference", "float64")}
    with recording() as outside:
        pass
    recurrence(z, u, b)
    assert outside == set()  # nothing noted after the block closed


def test_cuda_module_imports_without_cuda():
    from models.kernels import cuda

    assert cuda.AVAILABLE == (cuda.triton is not None and torch.cuda.is_available())
