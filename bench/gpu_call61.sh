# Device call (session 21): per-kernel profile of G4 with the lean loops, and the passes around
# the lean gather (exp_csr_reduce.py --lean3).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 90 python3 bench/profile_ops.py G4 > "$OUT/profile.log" 2>&1
timeout 300 python3 bench/exp_csr_reduce.py --lean3 > "$OUT/lean3.log" 2>&1
grep -A 14 "G4 T=16384 random fwd:" "$OUT/profile.log" | cut -c1-100
sed -n '/summary/,$p' "$OUT/lean3.log" | cut -c1-100
