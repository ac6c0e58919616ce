# Device call (session 26): run 172's dK/dV piece of 1024 tokens at G16 again, with the local rows and 768
# (exp_csr_reduce.py --g16-pieces2).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name --format=csv,noheader
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 300 python3 bench/exp_csr_reduce.py --g16-pieces2 > "$OUT/g16_pieces2.log" 2>&1
sed -n '/summary/,$p' "$OUT/g16_pieces2.log" | cut -c1-100; tail -2 "$OUT/g16_pieces2.log" | cut -c1-300
