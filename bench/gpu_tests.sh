#!/usr/bin/env bash
# Device call: GPU tests with short tracebacks, logs under $OUT.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 200 python3 -m pytest -q --tb=short tests/test_gpu_op.py -k "compile or determin or graph" > "$OUT/t1.log" 2>&1; tail -40 "$OUT/t1.log" | cut -c1-300
timeout 330 python3 -m pytest -q -x --tb=short tests/test_gpu_op.py -k "match_reference" tests/test_decode_kernel.py > "$OUT/t2.log" 2>&1; grep -v "^E   *[-0-9\[]" "$OUT/t2.log" | tail -40 | cut -c1-300
