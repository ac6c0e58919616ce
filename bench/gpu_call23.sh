# Device call (session 4): GPU kernel tests on the final kernels (split head dim; fp32 dK/dV
# tile fix), then the full random bench and the D=192 profile.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 300 python3 -m pytest -q --tb=short -p no:logging tests/test_triton_kernels.py tests/test_decode_kernel.py > "$OUT/tests.log" 2>&1; tail -3 "$OUT/tests.log" | cut -c1-300
timeout 230 python3 -m nsa_ops bench --dist random --csv "$OUT/bench.csv" --plot "$OUT/bench.png" > "$OUT/bench.log" 2>&1
grep -E "^\[" "$OUT/bench.log" | cut -c1-170 | tail -40
