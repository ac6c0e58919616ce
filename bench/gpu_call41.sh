# Device call (session 14): the combine fused into the near pass (bench/exp_csr_reduce.py --near2),
# then the GPU op tests with the near pass shipped.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 60 python3 -m pytest -q -x -p no:cacheprovider tests/test_triton_kernels.py -k "near" > "$OUT/tests_near.log" 2>&1; echo "rc $?"; tail -2 "$OUT/tests_near.log"
timeout 240 python3 bench/exp_csr_reduce.py --near2 > "$OUT/exp_near2.log" 2>&1; echo "rc $?"
timeout 250 python3 -m pytest -q -x -p no:cacheprovider tests/test_gpu_op.py tests/test_combine_kernel.py > "$OUT/tests_op.log" 2>&1; echo "rc $?"; tail -3 "$OUT/tests_op.log"
sed -n '/==== summary/,$p' "$OUT/exp_near2.log" | cut -c1-120
