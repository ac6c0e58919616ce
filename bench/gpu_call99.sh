# Device call (session 27): the D=192 token forward / dQ tiles with the head dim as 64 + 128
# (their TMA descriptors follow the tile's pieces), whole op (bench/exp_d192_dkv.py --token-order).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 130 python3 bench/exp_d192_dkv.py --token-order > "$OUT/d192_token_order.log" 2>&1
grep -E "^fwd" "$OUT/d192_token_order.log" | head -8 | cut -c1-160
