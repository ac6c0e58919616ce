# Device call: GPU kernel tests on the final code, then the full benchmark (random selection).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 200 python3 -m pytest -q --tb=short -p no:logging tests/test_triton_kernels.py > "$OUT/tests.log" 2>&1; tail -3 "$OUT/tests.log" | cut -c1-300
timeout 370 python3 -m nsa_ops bench --dist random --csv "$OUT/bench.csv" --plot "$OUT/bench.png" > "$OUT/bench.log" 2>&1
grep -E "^\[" "$OUT/bench.log" | cut -c1-170 | tail -40
