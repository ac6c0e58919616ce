# Device call (session 22, prepared without a GPU): the gathered loops' entry decode (exp_csr_reduce.py --decode),
# then the GPU tests of the new switches (fast decode, query windows, gather-written positions).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 420 python3 bench/exp_csr_reduce.py --decode > "$OUT/decode.log" 2>&1
timeout 150 python3 -m pytest -q tests/test_triton_kernels.py -k "fast_entry or query_windows or gather_written" > "$OUT/gpu_tests.log" 2>&1
sed -n '/summary/,$p' "$OUT/decode.log" | cut -c1-110
tail -3 "$OUT/gpu_tests.log"
