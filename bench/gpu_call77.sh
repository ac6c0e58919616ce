# Device call (session 24, prepared for the next session): 2-token union tiles of the G16 token
# forward / dQ on 1-4 warps (bench/exp_union2.py --tq2), after the dK/dV ADDR32 check of call 76.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name --format=csv,noheader
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 400 python3 bench/exp_union2.py --tq2 "G16 T=16k random" "G16 T=64k random" "G16 T=16k local" > "$OUT/tq2.log" 2>&1
tail -40 "$OUT/tq2.log" | cut -c1-110
