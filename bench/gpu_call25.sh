# Device call (session 5): where the time goes. Per-kernel times with K/V or q/dO loads made
# always-hot (bench/exp_locality.py), the decode breakdown and its load-only floor
# (bench/exp_decode.py), and the G16 fwd+bwd profile on the local selection.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 200 python3 bench/exp_locality.py G16 G4 > "$OUT/locality.log" 2>&1; tail -3 "$OUT/locality.log" | cut -c1-200
timeout 200 python3 bench/exp_decode.py > "$OUT/decode.log" 2>&1; tail -3 "$OUT/decode.log" | cut -c1-200
timeout 100 python3 bench/profile_ops.py G16 dist=local > "$OUT/profile_local.log" 2>&1
echo "==== locality"; sed -n '/==== summary/,$p' "$OUT/locality.log"
echo "==== decode"; sed -n '/==== summary/,$p' "$OUT/decode.log"
echo "==== local profile"; grep -E "==|_kernel" "$OUT/profile_local.log" | cut -c1-90
