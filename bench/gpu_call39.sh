# Device call (session 13): GPU tests of the final kernel code (after run 89).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 330 python3 -m pytest -q -x -p no:cacheprovider tests/test_gpu_op.py tests/test_combine_kernel.py > "$OUT/tests_op.log" 2>&1; echo "rc $?"; tail -3 "$OUT/tests_op.log"
timeout 200 python3 -m pytest -q -x -p no:cacheprovider tests/test_triton_kernels.py -k "span or G1 or kv" > "$OUT/tests_kernels.log" 2>&1; echo "rc $?"; tail -3 "$OUT/tests_kernels.log"
