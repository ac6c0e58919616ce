# Device call (session 27): run 184 confirmed: the D=192 token forward and dQ as 64 + 128,
# interleaved, with the forward row (bench/exp_d192_dkv.py --token-confirm).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 120 python3 bench/exp_d192_dkv.py --token-confirm > "$OUT/d192_token_confirm.log" 2>&1
grep -E "^fwd" "$OUT/d192_token_confirm.log" | head -12 | cut -c1-160
