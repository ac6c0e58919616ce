# Device call (session 15): the gathered kernels' pieces in query order (exp_csr_reduce.py --order).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 420 python3 bench/exp_csr_reduce.py --order > "$OUT/exp_order.log" 2>&1; echo "rc $?"
sed -n '/==== summary/,$p' "$OUT/exp_order.log" | cut -c1-120
tail -5 "$OUT/exp_order.log"
