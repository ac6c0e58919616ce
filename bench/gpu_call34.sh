# Device call (session 13): int16 CSR sort keys, the dq reduce's shape, dk/dv without zero fill,
# KV forward tiles (bench/exp_csr_reduce.py); then the op's GPU tests.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 420 python3 bench/exp_csr_reduce.py > "$OUT/exp.log" 2>&1
timeout 150 python3 -m pytest -q -x tests/test_gpu_op.py > "$OUT/tests.log" 2>&1; tail -3 "$OUT/tests.log"
sed -n '/==== summary/,$p' "$OUT/exp.log" | cut -c1-150; tail -3 "$OUT/exp.log" | cut -c1-200
