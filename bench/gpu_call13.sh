# Device call (session 3): tile round 2 (forward profiles, dq/dkv stages), then the full bench.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 240 python3 bench/exp_tiles.py > "$OUT/tiles.log" 2>&1
grep -E "profile|ms  x" "$OUT/tiles.log" | cut -c1-120
sed -n '/==== summary/,$p' "$OUT/tiles.log"
timeout 300 python3 -m nsa_ops bench --dist random --csv "$OUT/bench.csv" --plot "$OUT/bench.png" > "$OUT/bench.log" 2>&1
grep -E "^\[" "$OUT/bench.log" | cut -c1-170 | tail -40
