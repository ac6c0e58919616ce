# Device call (session 19): GPU op tests (compile, CUDA graphs, determinism) and the kernel tests
# of the changed paths (pieces kernel, unpacked backward).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 420 python3 -m pytest -q tests/test_gpu_op.py tests/test_tma_path.py > "$OUT/gpu_tests_op.log" 2>&1
tail -2 "$OUT/gpu_tests_op.log"
timeout 150 python3 -m pytest -q tests/test_triton_kernels.py -k "pieces or bitwise or hands_its_csr" > "$OUT/gpu_tests_kernels.log" 2>&1
tail -2 "$OUT/gpu_tests_kernels.log"
