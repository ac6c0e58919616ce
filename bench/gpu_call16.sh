# Device call (session 3): the GPU kernel tests alone (cold compile takes most of it).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 540 python3 -m pytest -q --tb=short -p no:logging -x tests/test_triton_kernels.py tests/test_decode_kernel.py > "$OUT/tests.log" 2>&1; tail -15 "$OUT/tests.log" | cut -c1-300
