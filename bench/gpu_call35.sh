# Device call (session 13): GPU tests of the op and kernels after run 86's changes; the dK/dV
# tile at G4 and the dq reduce shape again (bench/exp_csr_reduce.py --more).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 250 python3 -m pytest -q -x tests/test_gpu_op.py tests/test_combine_kernel.py > "$OUT/tests_op.log" 2>&1; tail -2 "$OUT/tests_op.log"
timeout 130 python3 bench/exp_csr_reduce.py --more > "$OUT/exp.log" 2>&1
timeout 190 python3 -m pytest -q -x tests/test_triton_kernels.py -k "csr or dq or backward or grad" > "$OUT/tests_kernels.log" 2>&1; tail -2 "$OUT/tests_kernels.log"
sed -n '/==== summary/,$p' "$OUT/exp.log" | cut -c1-150; tail -2 "$OUT/exp.log" | cut -c1-200
