# Device call (session 18): per-kernel profile of the shipped G4 / G16 / D192 (16k), and the G16
# rows with the gathered dQ on today's dK/dV tile.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 150 python3 bench/profile_ops.py G4 G16 D192 > "$OUT/profile.log" 2>&1; tail -3 "$OUT/profile.log"
timeout 250 python3 bench/exp_schedule.py --g16 > "$OUT/g16_kvdq.log" 2>&1
grep -v "^  " "$OUT/profile.log" | head -5
cat "$OUT/profile.log" | cut -c1-120
tail -25 "$OUT/g16_kvdq.log" | cut -c1-200
