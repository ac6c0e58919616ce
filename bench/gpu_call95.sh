# Device call (session 27): what Triton compiled for the dK/dV kernel with warp_specialize=True
# on its chunk loop (bench/exp_ws.py --inspect): warps, shared memory, warp-specialized regions.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 200 python3 bench/exp_ws.py --inspect > "$OUT/ws_inspect.log" 2>&1; tail -8 "$OUT/ws_inspect.log" | cut -c1-300
