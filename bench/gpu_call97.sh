# Device call (session 27): run 181's one gain confirmed, interleaved (bench/exp_d192_dkv.py
# --confirm: the D=192 dK/dV head dim as 64 + 128 instead of 128 + 64).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 300 python3 bench/exp_d192_dkv.py --confirm > "$OUT/d192_confirm.log" 2>&1
sed -n '/summary/,$p' "$OUT/d192_confirm.log" | cut -c1-160
