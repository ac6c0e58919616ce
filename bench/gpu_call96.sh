# Device call (session 27): where the G16 D=192 fwd+bwd time goes (profile), and its backward
# tiles searched jointly (bench/exp_d192_dkv.py).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 90 python3 bench/profile_ops.py D192 G16 kinds=fwd+bwd > "$OUT/prof_d192.log" 2>&1
timeout 330 python3 bench/exp_d192_dkv.py > "$OUT/d192_dkv.log" 2>&1
grep -v "^\s*$" "$OUT/prof_d192.log" | cut -c1-150 | head -40
sed -n '/summary/,$p' "$OUT/d192_dkv.log" | cut -c1-160
