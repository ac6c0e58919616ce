# Device call (session 23, prepared after its device time was spent): the gather's offsets as
# unsigned 32-bit products (exp_csr_reduce.py --addr32), then the GPU tests of that path.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 360 python3 bench/exp_csr_reduce.py --addr32 > "$OUT/addr32.log" 2>&1
timeout 150 python3 -m pytest -q -p no:benchmark tests/test_triton_kernels.py -k "addr32 or fast_entry or query_windows" > "$OUT/gpu_tests.log" 2>&1
sed -n '/summary/,$p' "$OUT/addr32.log" | cut -c1-110
tail -3 "$OUT/gpu_tests.log"
