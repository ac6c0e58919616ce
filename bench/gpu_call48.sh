# Device call (session 18): GPU tests of the CSR hand-over, the split gather and the D=192 tile,
# then the op-level experiments (--reuse; D=192 forward warps).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 170 python3 -m pytest -q tests/test_triton_kernels.py -k "hands_its_csr or gather_with_head_dims or near_pass" \
  > "$OUT/gpu_tests_new.log" 2>&1; tail -2 "$OUT/gpu_tests_new.log"
timeout 150 python3 -m pytest -q tests/test_gpu_op.py tests/test_tma_path.py -x > "$OUT/gpu_tests_op.log" 2>&1
tail -2 "$OUT/gpu_tests_op.log"
timeout 200 python3 bench/exp_csr_reduce.py --reuse > "$OUT/reuse.log" 2>&1
grep -A12 summary "$OUT/reuse.log" | cut -c1-150
