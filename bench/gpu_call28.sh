# Device call (session 5): the full bench (random selection) on the final decode / combine code.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 500 python3 -m nsa_ops bench --dist random --csv "$OUT/bench.csv" --plot "$OUT/bench.png" > "$OUT/bench.log" 2>&1
tail -32 "$OUT/bench.log" | cut -c1-160
