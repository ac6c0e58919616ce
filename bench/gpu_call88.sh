# Device call (session 26): the dK/dV piece length at G16 with the session-17 tile
# (exp_csr_reduce.py --g16-pieces; shipped 512 tokens = 8192 rows).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name --format=csv,noheader
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 300 python3 bench/exp_csr_reduce.py --g16-pieces > "$OUT/g16_pieces.log" 2>&1
sed -n '/summary/,$p' "$OUT/g16_pieces.log" | cut -c1-100; tail -2 "$OUT/g16_pieces.log" | cut -c1-300
