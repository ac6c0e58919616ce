# Device call (session 21): the combine and dq reduce on all 128 columns (exp_csr_reduce.py --lean4).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 300 python3 bench/exp_csr_reduce.py --lean4 > "$OUT/lean4.log" 2>&1
sed -n '/summary/,$p' "$OUT/lean4.log" | cut -c1-100
