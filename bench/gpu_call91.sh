# Device call (session 26): the packed fwd+bwd rows with the G16 dK/dV pieces of 512 vs 1024 tokens
# (exp_csr_reduce.py --g16-pieces3).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name --format=csv,noheader
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 150 python3 bench/exp_csr_reduce.py --g16-pieces3 > "$OUT/g16_pieces3.log" 2>&1
sed -n '/summary/,$p' "$OUT/g16_pieces3.log" | cut -c1-100; tail -2 "$OUT/g16_pieces3.log" | cut -c1-300
