# Device call (session 4): decode schedule sweep (slots per program x fused combine x warps),
# decode GPU tests, and the D=192 bench rows with the split head dim and its dK/dV tile.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 120 python3 -m pytest -q --tb=short -p no:logging -x tests/test_decode_kernel.py > "$OUT/tests.log" 2>&1; tail -2 "$OUT/tests.log" | cut -c1-300
timeout 300 python3 bench/exp_decode.py > "$OUT/decode.log" 2>&1
timeout 150 nsa-ops bench --dist random --cases "D=192" --csv "$OUT/d192.csv" > "$OUT/d192.log" 2>&1; grep -E "^\[" "$OUT/d192.log" | cut -c1-200
sed -n '/==== summary/,$p' "$OUT/decode.log"
