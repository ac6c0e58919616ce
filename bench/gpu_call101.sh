# Device call (session 27): the D=192 token tiles as 64 + 128 on pointer loads (the path of
# compiled graphs; bench/exp_d192_dkv.py --token-pointer).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 120 python3 bench/exp_d192_dkv.py --token-pointer > "$OUT/d192_token_pointer.log" 2>&1
grep -E "^fwd" "$OUT/d192_token_pointer.log" | head -12 | cut -c1-160
