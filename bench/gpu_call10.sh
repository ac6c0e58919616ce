# Device call: backward on the entry CSR + forward gather sweep.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 200 python3 -m pytest -q --tb=short -p no:logging tests/test_triton_kernels.py tests/test_index_preparation.py -x > "$OUT/t1.log" 2>&1; tail -3 "$OUT/t1.log" | cut -c1-300
python3 bench/profile_ops.py G1 G4 > "$OUT/profile.txt" 2>&1; grep -A7 "fwd+bwd" "$OUT/profile.txt" | cut -c1-120
timeout 150 python3 bench/sweep_kv.py > "$OUT/sweep.txt" 2>&1; sort -t: -k2 -n "$OUT/sweep.txt" | head -50 | cut -c1-120
