# Device call: new KV-centric forward (entry CSR): kernel tests, then per-kernel profile + bench rows.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 240 python3 -m pytest -q --tb=short -p no:logging tests/test_triton_kernels.py > "$OUT/t1.log" 2>&1; tail -3 "$OUT/t1.log" | cut -c1-300
python3 bench/profile_ops.py G1 G4 > "$OUT/profile.txt" 2>&1; grep -A6 "==" "$OUT/profile.txt" | cut -c1-120
python3 -m nsa_ops bench --cases "fwd G4 T=16k" "fwd G1 T=16k" "fwd G4 T=64k" "fwd G1 T=64k" --dist random --csv "$OUT/bench.csv" 2>&1 | tail -6 | cut -c1-200
