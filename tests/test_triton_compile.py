"""The CUDA kernels compile for an H100 (sm_90) on a machine without a GPU, and fit in registers.

Triton's interpreter runs a kernel as NumPy and accepts code that the compiler rejects (it let a
kernel read a non-constexpr global); compiling to a cubin, with the ptxas that triton's wheel
bundles, catches that in CI; the bundled cuobjdump then reports each kernel's registers and stack
and local memory (where spilled registers go). The arguments are specialised as a real launch with
hidden 128 would be (16-byte aligned pointers, hidden divisible by 16), which sets Triton's
vectorisation and so the tile layout.
"""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import tempfile

import pytest

from models.kernels import cuda

pytestmark = [pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton not installed"),
              pytest.mark.slow]  # Triton compiling the CUDA kernels for sm_90

FORWARD = ["z_ptr", "u_ptr", "b_ptr", "h0_ptr", "out_ptr"]
BACKWARD = ["grad_ptr", "out_ptr", "u_ptr", "h0_ptr", "dz_ptr", "du_ptr", "db_ptr", "dh0_ptr"]


def compile_sm90(fn, pointers, dtype: str, constexprs: dict, num_warps: int, hidden_one: bool = False,
                 width: str = "hidden") -> dict:
    """Compile ``fn`` for sm_90; return its registers and local memory per thread (spills land there).

    ``width`` names the kernel's channel-count argument (``hidden`` in the IndRNN's, ``width`` in the
    linear scan's)."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    if not isinstance(fn, triton.runtime.JITFunction):
        pytest.skip("kernels were built for the interpreter (TRITON_INTERPRET is set)")
    cuobjdump = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
    if not os.path.exists(cuobjdump):
        pytest.skip("this triton wheel has no bundled cuobjdump")
    if hidden_one:  # a launch specialises an int argument equal to 1 into a constant
        constexprs = {**constexprs, width: 1}
    signature = {**{p: f"*{dtype}" for p in pointers}, "steps": "i32", width: "i32",
                 **{k: "constexpr" for k in constexprs}}
    aligned_args = [*range(len(pointers))] + ([] if hidden_one else [len(pointers) + 1])  # pointers, hidden
    aligned = {(i,): [["tt.divisibility", 16]] for i in aligned_args}
    try:
        src = ASTSource(fn, signature, constexprs=constexprs, attrs=aligned)
    except TypeError as exc:  # the offline-compile API differs before triton 3.3
        pytest.skip(f"triton {triton.__version__}: {exc}")
    options = {"num_warps": num_warps, "enable_fp_fusion": cuda.FP_FUSION}  # as ScanBackend launches them
    kernel = triton.compile(src, target=GPUTarget("cuda", 90, 32), options=options)
    with tempfile.TemporaryDirectory() as tmp:  # the cubin: ptxas ran, with the version triton picked
        path = os.path.join(tmp, "kernel.cubin")
        with open(path, "wb") as f:
            f.write(kernel.asm["cubin"])
        report = subprocess.run([cuobjdump, "-res-usage", path], capture_output=True, text=True, check=True).stdout
    usage = re.search(r"REG:(\d+) STACK:(\d+) SHARED:\d+ LOCAL:(\d+)", report)
    return {"registers": int(usage.group(1)), "stack_bytes": int(usage.group(2)), "local_bytes": int(usage.group(3))}


@pytest.mark.parametrize("dtype", ["fp32", "fp64"])
@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_scan_kernels_compile_for_sm90_without_spills(direction, dtype):
    be = cuda.DEFAULT
    fn, pointers = ((cuda._scan_forward_kernel, FORWARD) if direction == "forward"
                    else (cuda._scan_backward_kernel, BACKWARD))
    r = compile_sm90(fn, pointers, dtype, {"CHUNK": be.chunk, "BLOCK": be.block}, be.num_warps)
    assert r["local_bytes"] == 0 and r["stack_bytes"] == 0 and r["registers"] <= 255, r


@pytest.mark.parametrize("hidden_one", [False, True], ids=["hidden128", "hidden1"])
@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_loop_kernels_compile_for_sm90(direction, hidden_one):
    from models.kernels import cuda_loop

    fn, pointers = ((cuda_loop._forward_kernel, FORWARD) if direction == "forward"
                    else (cuda_loop._backward_kernel, BACKWARD))
    r = compile_sm90(fn, pointers, "fp32", {"BLOCK": cuda_loop.BLOCK}, 4, hidden_one)
    assert r["local_bytes"] == 0 and r["stack_bytes"] == 0, r


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_scan_kernels_compile_when_hidden_is_one(direction):
    be = cuda.DEFAULT
    fn, pointers = ((cuda._scan_forward_kernel, FORWARD) if direction == "forward"
                    else (cuda._scan_backward_kernel, BACKWARD))
    r = compile_sm90(fn, pointers, "fp32", {"CHUNK": be.chunk, "BLOCK": be.block}, be.num_warps, hidden_one=True)
    assert r["local_bytes"] == 0 and r["stack_bytes"] == 0, r


@pytest.mark.parametrize("shape", cuda.SWEEP_SHAPES, ids=lambda s: "chunk{}-block{}-warps{}".format(*s))
def test_every_swept_launch_shape_compiles_without_spills(shape):
    """The tuning sweep on a GPU (tests/benchmarks/test_bench_kernels.py) spends no device time on a
    shape that spills registers or fails to compile: each is checked here first, in fp32."""
    chunk, block, warps = shape
    for fn, pointers in ((cuda._scan_forward_kernel, FORWARD), (cuda._scan_backward_kernel, BACKWARD)):
        r = compile_sm90(fn, pointers, "fp32", {"CHUNK": chunk, "BLOCK": block}, warps)
        assert r["local_bytes"] == 0 and r["stack_bytes"] == 0, (fn.__name__, r)


SCAN_FORWARD = ["a_ptr", "b_ptr", "h0_ptr", "out_ptr"]
SCAN_BACKWARD = ["grad_ptr", "a_ptr", "out_ptr", "h0_ptr", "da_ptr", "db_ptr", "dh0_ptr"]


# (lanes, width 1): every dtype at width 128; width 1 (a constant the compiler folds, which changed
# the register allocation enough to spill complex128 at 4 warps) for the smallest and largest tiles
SCAN_COMPILES = [("fp32", False), ("fp64", False), ("complex64", False), ("complex128", False),
                 ("fp32", True), ("complex128", True)]


@pytest.mark.parametrize("lanes,hidden_one", SCAN_COMPILES, ids=lambda v: {True: "width1", False: "width128"}.get(v, v))
@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_linear_scan_kernels_compile_for_sm90_without_spills(direction, lanes, hidden_one):
    """The diagonal linear scan's kernels (models/kernels/scan_cuda.py) at their launch shape, real and
    complex (complex tensors are passed as their float lanes)."""
    from models.kernels import scan_cuda

    be = scan_cuda.DEFAULT_COMPLEX if lanes.startswith("complex") else scan_cuda.DEFAULT
    fn, pointers = ((scan_cuda._linear_scan_forward_kernel, SCAN_FORWARD) if direction == "forward"
                    else (scan_cuda._linear_scan_backward_kernel, SCAN_BACKWARD))
    dtype = {"complex64": "fp32", "complex128": "fp64"}.get(lanes, lanes)
    constexprs = {"CHUNK": be.chunk, "BLOCK": be.block, "COMPLEX": lanes.startswith("complex")}
    r = compile_sm90(fn, pointers, dtype, constexprs, be.num_warps, hidden_one, width="width")
    assert r["local_bytes"] == 0 and r["stack_bytes"] == 0 and r["registers"] <= 255, r
