# Device call (session 3): G16 profile, full random bench, op-level GPU tests on the final code.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 60 python3 bench/profile_ops.py G16 > "$OUT/profile.log" 2>&1; grep -E "==|ms  x" "$OUT/profile.log" | head -12 | cut -c1-110
timeout 220 python3 -m nsa_ops bench --dist random --csv "$OUT/bench.csv" --plot "$OUT/bench.png" > "$OUT/bench.log" 2>&1
grep -E "^\[" "$OUT/bench.log" | cut -c1-170 | tail -40
timeout 280 python3 -m pytest -q --tb=short -p no:logging tests/test_gpu_op.py tests/test_torch_compile_and_export.py > "$OUT/tests_op.log" 2>&1; tail -4 "$OUT/tests_op.log" | cut -c1-300
