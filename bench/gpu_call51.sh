# Device call (session 19): dK/dV pieces cut at query windows and run window-major (--windows),
# plus the GPU kernel tests of the backward's unpacked path (no q_last / block_start tensors).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 420 python3 bench/exp_csr_reduce.py --windows > "$OUT/windows.log" 2>&1
grep -A40 summary "$OUT/windows.log" | cut -c1-140
timeout 150 python3 -m pytest -q tests/test_triton_kernels.py -k "bitwise or (gpu_kernels_match and 128-128-64 and not float32)" \
  > "$OUT/gpu_tests_kernels.log" 2>&1; tail -1 "$OUT/gpu_tests_kernels.log"
