#!/usr/bin/env bash
# The GPU check, in one call to a lent CUDA machine, inside a time budget (BUDGET_S, default 360 s):
# stages run most-needed first, each under `timeout` of at most its cap and the budget left, and a
# stage the budget no longer covers is skipped and says so. Order:
#   1. the CUDA tests (graph vs eager, no host sync, kernels against the reference, bench scale);
#   2. the recurrence kernel benchmarks at issue 11's shapes (JSON kept);
#   3. `bench speed` at the paper preset's shapes, eager and graph;
#   4. `bench scale --device cuda` up to T = 5000;
#   5. the rest of the suite (in parallel with pytest-xdist where installed);
#   6. the launch-shape sweep of the chunked kernel (BENCH_KERNEL_SWEEP=1), if time is left.
# Exit status: 0 when every stage passed, 1 when one failed or timed out, 3 when one was skipped.
# Only declared plugins: pytest, pytest-benchmark and (where the image has it) pytest-xdist.
# What comes back under $OUT (8 files, the most the device tool returns): gpu_check.log, kernels.json,
# speed/{speed.csv,speed_raw.csv,speed.json,speed.png}, scale/{scaling.csv,scaling.png}.
#
# Prepare here once (wheels the GPU image lacks; see docs/gpu.md, "Checking on a GPU"):
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#       -d .whl kymatio==0.3.0 soundfile cffi pycparser appdirs configparser
# Then call the device tool with `.whl` carried and timeout_s = BUDGET_S + 60 (7 minutes; with the
# machine's start, about 9 of a session's 15 minutes of device time, which leaves one shorter call,
# e.g. the kernels and `bench speed` again after the launch shape is changed from the sweep):
#   bash tests/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-check}
BUDGET_S=${BUDGET_S:-360}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
start=$SECONDS

stage() {  # stage NAME CAP_S COMMAND...: at most CAP_S seconds and never past the budget
  local name=$1 cap=$2 left
  shift 2
  left=$((BUDGET_S - (SECONDS - start)))
  ((left < cap)) && cap=$left
  if ((cap < 15)); then
    echo "== $name: SKIPPED, the budget of ${BUDGET_S} s is spent"
    skipped+=("$name")
    return
  fi
  echo "== $name (at most $cap s)"
  local t0=$SECONDS
  timeout "$cap" "$@"
  local rc=$?
  echo "== $name: exit $rc$( ((rc == 124)) && echo ' (timed out)') after $((SECONDS - t0)) s"
  ((rc == 0)) || failed+=("$name (exit $rc)")
}

failed=() skipped=()
pytest_cmd=(python3 -m pytest -q -p no:cacheprovider -m '')  # every test, the slow ones included
parallel=()
python3 -c "import xdist" 2>/dev/null && parallel=(-n 8)
cuda_tests=(tests/test_cuda_step.py tests/test_indrnn_kernel.py tests/test_scan_kernel.py
            tests/test_scale.py::test_scale_on_cuda_writes_its_table_and_plot)

{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  python3 -c "import torch, triton; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__, torch.cuda.get_device_name())"
  stage "a CUDA device and Triton" 30 python3 -c "import torch, triton; assert torch.cuda.is_available(), 'no CUDA device'"
  if ((${#failed[@]})); then  # nothing below means anything without them
    echo "== FAILED: ${failed[*]}"
    exit 1
  fi
  stage "CUDA tests" 75 "${pytest_cmd[@]}" "${cuda_tests[@]}"
  stage "kernels" 75 "${pytest_cmd[@]}" tests/benchmarks/test_bench_kernels.py tests/benchmarks/test_bench_scan.py --benchmark-enable \
    --benchmark-columns=median,iqr,rounds --benchmark-json "$OUT/kernels.json"
  stage "bench speed" 75 python3 -m bench speed --device cuda --units registered --rounds 20 --out "$OUT/speed"
  stage "bench scale" 120 python3 -m bench scale --device cuda --units all --lengths 250,500,1000,2000,5000 \
    --iters 5 --out "$OUT/scale"
  deselect=(--ignore "${cuda_tests[0]}" --ignore "${cuda_tests[1]}" --ignore "${cuda_tests[2]}" --deselect "${cuda_tests[3]}")
  stage "the rest of the suite" 150 "${pytest_cmd[@]}" "${parallel[@]}" "${deselect[@]}" tests
  stage "launch-shape sweep" 120 env BENCH_KERNEL_SWEEP=1 "${pytest_cmd[@]}" -s \
    tests/benchmarks/test_bench_kernels.py -k sweep
  echo "== done after $((SECONDS - start)) s of a ${BUDGET_S} s budget"
  # the check fails when any stage failed or timed out (exit 1), or could not run in the budget (exit 3)
  if ((${#failed[@]})); then
    echo "== FAILED: ${failed[*]}"
    exit 1
  elif ((${#skipped[@]})); then
    echo "== INCOMPLETE, skipped: ${skipped[*]}"
    exit 3
  fi
  echo "== PASSED: every stage"
} 2>&1 | tee "$OUT/gpu_check.log"
