# Device call (session 21): the 128-column combine with fewer elements per program (exp_csr_reduce.py --lean6).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 300 python3 bench/exp_csr_reduce.py --lean6 > "$OUT/lean6.log" 2>&1
sed -n '/summary/,$p' "$OUT/lean6.log" | cut -c1-100
