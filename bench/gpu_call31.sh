# Device call (session 5): GPU kernel tests (forward, backward, decode, combine) on the final code.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 560 python3 -m pytest -q --tb=short -p no:logging -x tests/test_triton_kernels.py tests/test_decode_kernel.py tests/test_combine_kernel.py > "$OUT/tests.log" 2>&1; tail -2 "$OUT/tests.log" | cut -c1-300
