# Device call (session 21): GPU op tests (compile, CUDA graphs, determinism, hypothesis parity)
# and the kernel tests of the lean loops, on the final kernels.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 400 python3 -m pytest -q tests/test_gpu_op.py tests/test_tma_path.py > "$OUT/gpu_tests_op.log" 2>&1
tail -2 "$OUT/gpu_tests_op.log"
timeout 170 python3 -m pytest -q tests/test_triton_kernels.py -k "bitwise or lean or hands_its_csr" > "$OUT/gpu_tests_kernels.log" 2>&1
tail -2 "$OUT/gpu_tests_kernels.log"
