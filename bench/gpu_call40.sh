# Device call (session 14): the near pass. GPU kernel tests of the KV forward, then the
# interleaved op-level experiment (bench/exp_csr_reduce.py --near).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 150 python3 -m pytest -q -x -p no:cacheprovider tests/test_triton_kernels.py -k "near or kv or csr" > "$OUT/tests_near.log" 2>&1; echo "rc $?"; tail -3 "$OUT/tests_near.log"
timeout 380 python3 bench/exp_csr_reduce.py --near > "$OUT/exp_near.log" 2>&1; echo "rc $?"
sed -n '/==== summary/,$p' "$OUT/exp_near.log"; tail -3 "$OUT/exp_near.log"
