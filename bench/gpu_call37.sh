# Device call (session 13): entry ids loaded a chunk ahead in the gathered loops
# (bench/exp_csr_reduce.py --prefetch, run 88).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 500 python3 bench/exp_csr_reduce.py --prefetch > "$OUT/exp.log" 2>&1
sed -n '/==== summary/,$p' "$OUT/exp.log" | cut -c1-150; tail -2 "$OUT/exp.log" | cut -c1-200
