# Device call (session 13): G1 entry-id prefetch as shipped vs off (run 89), then GPU tests.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 120 python3 bench/exp_csr_reduce.py --g1 > "$OUT/exp.log" 2>&1
timeout 150 python3 -m pytest -q -x tests/test_triton_kernels.py -k "span or csr or dq or backward or grad or kv or G1" > "$OUT/tests_kernels.log" 2>&1; tail -2 "$OUT/tests_kernels.log"
timeout 250 python3 -m pytest -q -x tests/test_gpu_op.py tests/test_combine_kernel.py > "$OUT/tests_op.log" 2>&1; tail -2 "$OUT/tests_op.log"
sed -n '/==== summary/,$p' "$OUT/exp.log" | cut -c1-150; tail -2 "$OUT/exp.log" | cut -c1-200
