#!/usr/bin/env bash
# One device call: install, GPU tests, then the benchmark (cases filtered by "$@").
# Usage on the device machine: bash bench/gpu_session.sh [tests|notests] [case substrings...]
set -o pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv | tee "$OUT/gpu.txt"
mode=${1:-tests}; shift || true
if [ "$mode" = tests ]; then
  timeout 300 python3 -m pytest -q -x tests/test_gpu_op.py tests/test_triton_kernels.py 2>&1 | tee "$OUT/gpu_tests.log" | tail -25
fi
if [ "$#" -gt 0 ]; then
  python3 -m nsa_ops bench --cases "$@" --csv "$OUT/bench.csv" --plot "$OUT/bench.png" 2>&1 | tee "$OUT/bench.log"
fi
