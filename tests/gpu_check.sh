#!/usr/bin/env bash
# The GPU check, in one call to a lent CUDA machine (target: under 5 minutes on an H100/H200):
# the CUDA tests, the whole test suite, `bench speed` at the paper preset's shapes (eager and graph),
# the recurrence kernel benchmarks, and `bench scale --device cuda` up to T = 5000.
#
# Prepare here once (wheels the GPU image lacks; see README, "Checking on a GPU"):
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#       -d .whl kymatio==0.3.0 soundfile cffi pycparser appdirs configparser
# Then run it there with `.whl` carried: bash tests/gpu_check.sh   (results under $OUT)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
log="$OUT/gpu_check.log"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  python3 -c "import torch, triton; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__, torch.cuda.get_device_name())"
  echo "== CUDA tests"; timeout 120 python3 -m pytest -q -p no:cacheprovider tests/test_cuda_step.py tests/test_indrnn_kernel.py
  echo "== the whole suite"; timeout 240 python3 -m pytest -q -p no:cacheprovider -x --timeout 120 tests
  echo "== bench speed"; timeout 150 python3 -m bench speed --device cuda --rounds 20 --out "$OUT/speed"
  if [ -f tests/benchmarks/test_bench_kernels.py ]; then
    echo "== kernels"; timeout 90 python3 -m pytest -q -p no:cacheprovider tests/benchmarks/test_bench_kernels.py \
      --benchmark-enable --benchmark-columns=median,iqr,rounds
  fi
  echo "== bench scale"; timeout 150 python3 -m bench scale --device cuda --units all --lengths 250,500,1000,2000,5000 \
    --iters 10 --out "$OUT/scale"
} 2>&1 | tee "$log"
