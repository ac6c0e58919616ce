# Device call (session 5): the KV forward's combine shape (bench/sweep_kv.py --combine) and the
# GPU kernel tests on the shared combine (kernels/combine.py).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 120 python3 bench/sweep_kv.py --combine > "$OUT/combine.log" 2>&1
timeout 420 python3 -m pytest -q --tb=short -p no:logging -x tests/test_triton_kernels.py tests/test_decode_kernel.py > "$OUT/tests.log" 2>&1; tail -2 "$OUT/tests.log" | cut -c1-300
cat "$OUT/combine.log" | cut -c1-150
