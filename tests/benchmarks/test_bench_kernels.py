"""The IndRNN recurrence kernels alone on a GPU: forward and backward time per layer (CUDA only).

Run on a CUDA machine::

    pytest tests/benchmarks/test_bench_kernels.py --benchmark-enable -s

Shapes are issue 11's (hidden 128, fp32): batch 32 x T 469 (the paper preset) and batch 16 x
T 5000. Each round replays a CUDA graph holding ``REPS`` launches of one kernel and times it with
CUDA events, so Python's launch cost (several us per Triton launch) is not counted: the figure is
the kernel's own time per layer, the one the targets are stated in. ``eager_us`` in ``extra_info``
is the same kernel launched from Python, for comparison. The kernels are called through their
backends with preallocated buffers (no autograd, no allocation). The summary prints each median
next to the bandwidth floor (bytes the kernel must move at the device's peak) and the targets;
``test_kernel_targets`` fails if a Hopper card (H100, H200: sm_90) misses them.

``BENCH_KERNEL_SWEEP=1`` also times the chunked kernel at other launch shapes (chunk, block, warps),
each checked against the reference first, to tune :class:`models.kernels.cuda.ScanBackend`.
"""
from __future__ import annotations

import itertools
import os

import pytest
import torch

from models.kernels import cuda
from models.kernels.cuda_loop import LoopBackend
from models.kernels.reference import recurrence_reference

pytestmark = pytest.mark.skipif(not cuda.AVAILABLE, reason="needs CUDA and triton")

HIDDEN, REPS = 128, 20
SHAPES = {"b32_t469": (32, 469, HIDDEN), "b16_t5000": (16, 5000, HIDDEN)}
# issue 11's targets on an H100, fp32, microseconds per layer: (forward, backward)
TARGETS_US = {"b32_t469": (25.0, 40.0), "b16_t5000": (150.0, 250.0)}
BACKENDS = {"triton": cuda.DEFAULT, "triton_loop": LoopBackend}
RESULTS: dict[tuple[str, str, str], float] = {}  # (kernel, shape, direction) -> median us per layer


def buffers(shape, dtype=torch.float32, seed=0):
    """Inputs and preallocated outputs for both directions, on the GPU; ``out`` is the true forward."""
    g = torch.Generator().manual_seed(seed)
    batch, steps, hidden = shape
    z = torch.randn(batch, steps, hidden, generator=g, dtype=dtype)
    u = (torch.rand(hidden, generator=g, dtype=dtype) * 2 - 1)
    b = 0.1 * torch.randn(hidden, generator=g, dtype=dtype)
    h0 = torch.rand(batch, hidden, generator=g, dtype=dtype)
    grad = torch.randn(batch, steps, hidden, generator=g, dtype=dtype)
    t = {k: v.cuda() for k, v in dict(z=z, u=u, b=b, h0=h0, grad=grad).items()}
    t["out"] = recurrence_reference(t["z"], t["u"], t["b"], t["h0"])
    t["fwd_out"] = torch.empty_like(t["z"])
    t["dz"] = torch.empty_like(t["z"])
    t["du"], t["db"], t["dh0"] = (torch.empty_like(t["h0"]) for _ in range(3))
    return t


def reference_grads(t) -> dict[str, torch.Tensor]:
    """Every gradient of the reference loop for the upstream gradient ``t["grad"]`` (autograd):
    ``dz``, ``du``, ``db``, ``dh0``."""
    leaves = {k: t[k].clone().requires_grad_() for k in ("z", "u", "b", "h0")}
    out = recurrence_reference(leaves["z"], leaves["u"], leaves["b"], leaves["h0"])
    grads = torch.autograd.grad(out, tuple(leaves.values()), t["grad"])
    return {"d" + k: g for k, g in zip(leaves, grads)}


def clear_outputs(t) -> None:
    """NaN in every output buffer, so a launch that writes nothing cannot pass on an earlier launch's numbers."""
    for k in ("fwd_out", "dz", "du", "db", "dh0"):
        t[k].fill_(float("nan"))


def check_outputs(t, direction: str, ref: dict[str, torch.Tensor]) -> None:
    """The timed launches' results: the forward against the reference, or every gradient against autograd
    (``du`` and ``db`` are per-sequence rows the autograd function sums)."""
    if direction == "forward":
        torch.testing.assert_close(t["fwd_out"], t["out"], rtol=1e-4, atol=1e-4)
        return
    torch.testing.assert_close(t["dz"], ref["dz"], rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(t["du"].sum(0), ref["du"], rtol=1e-4, atol=1e-2)
    torch.testing.assert_close(t["db"].sum(0), ref["db"], rtol=1e-4, atol=1e-2)
    torch.testing.assert_close(t["dh0"], ref["dh0"], rtol=1e-4, atol=1e-3)


def is_hopper() -> bool:
    """The lent cards (H100, H200) by compute capability 9.x, not by name."""
    return torch.cuda.get_device_capability(0)[0] == 9


def launcher(backend, t, direction: str):
    if direction == "forward":
        return lambda: backend.forward(t["z"], t["u"], t["b"], t["h0"], t["fwd_out"])
    return lambda: backend.backward(t["grad"], t["out"], t["u"], t["h0"], t["dz"], t["du"], t["db"], t["dh0"])


def graph_of(fn, reps: int = REPS) -> torch.cuda.CUDAGraph:
    fn()  # compile and warm up outside the capture
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(reps):
            fn()
    return graph


def per_call_us(run, reps: int = REPS) -> float:
    """Microseconds per call of ``reps`` calls made by ``run()``, from CUDA events."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    run()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) * 1e3 / reps


def floor_us(shape, direction: str, dtype=torch.float32) -> float:
    """Bytes a kernel must move (forward: read z, write h; backward: read dh and h, write dz) at peak."""
    n = shape[0] * shape[1] * shape[2] * torch.finfo(dtype).bits // 8
    props = torch.cuda.get_device_properties(0)
    peak = getattr(props, "memory_bandwidth", None)  # not every torch has it
    if not peak:
        clock, width = getattr(props, "memory_clock_rate", 0), getattr(props, "memory_bus_width", 0)
        peak = 2 * clock * 1e3 * width / 8  # DDR: two transfers per clock, in bytes/s
    if not peak:
        return float("nan")
    return (2 if direction == "forward" else 3) * n / peak * 1e6


@pytest.mark.parametrize("direction", ["forward", "backward"])
@pytest.mark.parametrize("shape_id", list(SHAPES))
@pytest.mark.parametrize("kernel", list(BACKENDS))
def test_kernel_per_layer(benchmark, kernel, shape_id, direction):
    t = buffers(SHAPES[shape_id])
    fn = launcher(BACKENDS[kernel], t, direction)
    graph = graph_of(fn)
    eager = per_call_us(lambda: [fn() for _ in range(REPS)])
    # what the timed launches produce is right (backward: every gradient against autograd on the
    # reference, from the same saved h, so the same relu mask); outputs cleared first
    clear_outputs(t)
    graph.replay()
    check_outputs(t, direction, reference_grads(t))
    times = []

    def replay():
        times.append(per_call_us(graph.replay))

    benchmark.group = f"IndRNN recurrence per layer, {direction}, {shape_id} (CUDA graph of {REPS})"
    benchmark.pedantic(replay, rounds=15, warmup_rounds=2, iterations=1)
    times = times[-15:]  # without the warm-up rounds (a disabled benchmark runs once)
    median = sorted(times)[len(times) // 2]
    if benchmark.stats is not None:  # benchmarks enabled: a plain pytest run is a smoke test only
        RESULTS[kernel, shape_id, direction] = median
    benchmark.extra_info.update(kernel=kernel, shape=SHAPES[shape_id], direction=direction,
                                median_us=median, eager_us=eager, floor_us=floor_us(SHAPES[shape_id], direction),
                                device=torch.cuda.get_device_name(0), triton=cuda.triton.__version__)


def test_kernel_summary(capsys):
    """Print every median with the floor, the target and the speed-up over the per-step kernel."""
    if not RESULTS:
        pytest.skip("benchmarks disabled: run with --benchmark-enable")
    with capsys.disabled():
        print(f"\n{torch.cuda.get_device_name(0)}, fp32, hidden {HIDDEN}, us per layer (median of 15 "
              f"graph replays of {REPS}); triton {cuda.triton.__version__}, torch {torch.__version__}")
        for shape_id, direction in itertools.product(SHAPES, ("forward", "backward")):
            new, old = RESULTS.get(("triton", shape_id, direction)), RESULTS.get(("triton_loop", shape_id, direction))
            target = TARGETS_US[shape_id][direction == "backward"]
            floor = floor_us(SHAPES[shape_id], direction)
            line = f"  {shape_id:10s} {direction:8s} floor {floor:7.1f}  target <= {target:6.0f}"
            if new is not None:
                line += f"  triton {new:8.1f} ({'met' if new <= target else 'MISSED'})"
            if old is not None:
                line += f"  triton_loop {old:8.1f}"
            if new and old:
                line += f"  speed-up {old / new:5.1f}x"
            print(line)


def test_kernel_targets():
    """Issue 11's targets hold on a Hopper card (H100, H200: compute capability 9.x); other GPUs only print."""
    if not RESULTS:
        pytest.skip("benchmarks disabled: run with --benchmark-enable")
    if not is_hopper():
        pytest.skip(f"targets are for Hopper (sm_90), this is {torch.cuda.get_device_name(0)} "
                    f"(sm_{''.join(map(str, torch.cuda.get_device_capability(0)))})")
    missed = [f"{s} {d}: {RESULTS['triton', s, d]:.1f} us > {TARGETS_US[s][d == 'backward']:.0f} us"
              for s in SHAPES for d in ("forward", "backward")
              if ("triton", s, d) in RESULTS and RESULTS["triton", s, d] > TARGETS_US[s][d == "backward"]]
    assert not missed, "; ".join(missed)


@pytest.mark.skipif(os.environ.get("BENCH_KERNEL_SWEEP") != "1", reason="set BENCH_KERNEL_SWEEP=1 to tune")
def test_launch_shape_sweep(capsys):
    """Time the chunked kernel at other launch shapes (each checked first), one line per shape as it is
    measured (a sweep cut short by a time limit keeps what it printed), then the lines sorted."""
    rows, failed = [], []
    with capsys.disabled():
        row = "  {:10s} {:4d} {:4d} {:2d} {:9.1f} {:9.1f}"  # shape, chunk, block, warps, forward, backward us
        print(f"\n{torch.cuda.get_device_name(0)}: shape chunk block warps forward_us backward_us")
        for shape_id, shape in SHAPES.items():
            t = buffers(shape)
            ref = reference_grads(t)
            for chunk, block, warps in cuda.SWEEP_SHAPES:
                backend = cuda.ScanBackend(chunk=chunk, block=block, num_warps=warps)
                us = []
                try:  # one shape that fails (wrong result, no resources) is reported, not the end of the sweep
                    for direction in ("forward", "backward"):
                        graph = graph_of(launcher(backend, t, direction))
                        clear_outputs(t)  # this shape's replays must write every output themselves
                        us.append(sorted(per_call_us(graph.replay) for _ in range(7))[3])
                        check_outputs(t, direction, ref)
                except Exception as exc:  # noqa: BLE001 - printed and counted below
                    failed.append(f"{shape_id} chunk {chunk} block {block} warps {warps}: {exc}".splitlines()[0])
                    print("  FAILED  " + failed[-1], flush=True)
                    continue
                rows.append((shape_id, chunk, block, warps, *us))
                print("measured" + row.format(*rows[-1]), flush=True)
        print("sorted by forward + backward:")
        for r in sorted(rows, key=lambda r: (r[0], r[4] + r[5])):
            print(row.format(*r))
    assert not failed, f"{len(failed)} launch shapes failed: " + "; ".join(failed)
