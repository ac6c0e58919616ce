# Device call (session 5): after factoring the gathered chunk's rows and q load
# (primitives.gather_chunk_q, KV forward and dK/dV): GPU kernel tests and G4/G16 kernel times.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 420 python3 -m pytest -q --tb=short -p no:logging -x tests/test_triton_kernels.py tests/test_decode_kernel.py tests/test_combine_kernel.py > "$OUT/tests.log" 2>&1; tail -2 "$OUT/tests.log" | cut -c1-300
timeout 120 python3 bench/profile_ops.py G4 G16 > "$OUT/profile.log" 2>&1; grep -E "==|_kernel" "$OUT/profile.log" | cut -c1-90
