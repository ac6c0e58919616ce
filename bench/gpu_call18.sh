# Device call (session 3): GPU kernel tests and a G16/G4 profile after factoring the entry decode
# (primitives.chunk_entries) and the dQ kernel's K/V loads (load_block_kv).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 420 python3 -m pytest -q --tb=short -p no:logging -x tests/test_triton_kernels.py tests/test_decode_kernel.py > "$OUT/tests.log" 2>&1; tail -3 "$OUT/tests.log" | cut -c1-300
timeout 90 python3 bench/profile_ops.py G16 G4 > "$OUT/profile.log" 2>&1; grep -E "==|_kernel" "$OUT/profile.log" | cut -c1-90
