# Device call (session 15): the token kernels' one-pass rows marked evict_first (exp_csr_reduce.py --stream).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 420 python3 bench/exp_csr_reduce.py --stream > "$OUT/exp_stream.log" 2>&1; echo "rc $?"
sed -n '/==== summary/,$p' "$OUT/exp_stream.log" | cut -c1-130
tail -3 "$OUT/exp_stream.log"
