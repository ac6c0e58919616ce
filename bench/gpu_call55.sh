# Device call (session 20): per-kernel profiles of the G4 rows at 64k and 16k (fwd and fwd+bwd).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 300 python3 bench/profile_ops.py G4 T=65536 > "$OUT/profile.log" 2>&1
timeout 200 python3 bench/profile_ops.py G4 G16 D192 >> "$OUT/profile.log" 2>&1
cat "$OUT/profile.log"
