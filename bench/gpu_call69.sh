# Device call (session 22, prepared without a GPU): the gather's CSR cut into query windows (exp_csr_reduce.py --qwin),
# then the GPU tests of the windows and of the gather-written positions.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 330 python3 bench/exp_csr_reduce.py --qwin > "$OUT/qwin.log" 2>&1
timeout 200 python3 -m pytest -q tests/test_triton_kernels.py -k "query_windows or gather_written or entry_csr_lists" > "$OUT/gpu_tests.log" 2>&1
sed -n '/summary/,$p' "$OUT/qwin.log" | cut -c1-110
tail -3 "$OUT/gpu_tests.log"
