# Device call (session 21): the gather's tile around the lean loop and the backward switches
# (configs.KVTile.full_view per G, DQ_SCALE_IN_REDUCE), whole op, interleaved (exp_csr_reduce.py --lean2).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 540 python3 bench/exp_csr_reduce.py --lean2 > "$OUT/lean2.log" 2>&1
sed -n '/summary/,$p' "$OUT/lean2.log" | cut -c1-100
