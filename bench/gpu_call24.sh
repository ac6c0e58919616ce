# Device call (session 4): GPU kernel tests and G4/G1 per-kernel times after factoring the
# reduce programs' rows (primitives.group_rows) and the KV forward's q gather (load_head_dim).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 400 python3 -m pytest -q --tb=short -p no:logging -x tests/test_triton_kernels.py tests/test_decode_kernel.py > "$OUT/tests.log" 2>&1; tail -2 "$OUT/tests.log" | cut -c1-300
timeout 90 python3 bench/profile_ops.py G4 G1 > "$OUT/profile.log" 2>&1; grep -E "==|_kernel" "$OUT/profile.log" | cut -c1-90
