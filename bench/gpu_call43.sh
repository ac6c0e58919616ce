# Device call (session 14): the gather's piece length with the near pass (exp_csr_reduce.py
# --pieces), then the GPU kernel tests of the KV-centric forward and the CSR.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 150 python3 bench/exp_csr_reduce.py --pieces > "$OUT/exp_pieces.log" 2>&1; echo "rc $?"
timeout 280 python3 -m pytest -q -x -p no:cacheprovider tests/test_triton_kernels.py -k "near or kv or csr or raw or span" > "$OUT/tests_kernels.log" 2>&1; echo "rc $?"; tail -3 "$OUT/tests_kernels.log"
sed -n '/==== summary/,$p' "$OUT/exp_pieces.log" | cut -c1-120
