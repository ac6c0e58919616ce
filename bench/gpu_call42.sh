# Device call (session 14): smaller near-pass tiles (bench/exp_csr_reduce.py --near3).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 240 python3 bench/exp_csr_reduce.py --near3 > "$OUT/exp_near3.log" 2>&1; echo "rc $?"
sed -n '/==== summary/,$p' "$OUT/exp_near3.log" | cut -c1-120
