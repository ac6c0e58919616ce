# Device call (session 15): GPU tests after G8 moved to the KV-centric forward.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 330 python3 -m pytest -q -x -p no:cacheprovider tests/test_gpu_op.py tests/test_tma_path.py > "$OUT/tests_op_tma.log" 2>&1; echo "rc $?"; tail -3 "$OUT/tests_op_tma.log"
timeout 200 python3 -m pytest -q -x -p no:cacheprovider tests/test_triton_kernels.py -k "raw or dispatch or shared or determin" > "$OUT/tests_kernels.log" 2>&1; echo "rc $?"; tail -3 "$OUT/tests_kernels.log"
