# Device call (session 5): op-level GPU tests (hypothesis parity, compile, CUDA graphs) on the
# final code.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 540 python3 -m pytest -q --tb=short -p no:logging -x tests/test_gpu_op.py tests/test_torch_compile_and_export.py > "$OUT/tests_op.log" 2>&1; tail -3 "$OUT/tests_op.log" | cut -c1-300
