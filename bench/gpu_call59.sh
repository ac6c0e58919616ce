# Device call (session 21): the lean gathered loops (forward_kv.FAR_ONLY, backward.FAR_SPLIT,
# backward.DQ_SCALE_IN_REDUCE): GPU kernel tests, then whole-op timings against the former loops.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 200 python3 -m pytest -q -x tests/test_triton_kernels.py -k "gpu or near_pass or hands_its_csr or kernels_match" > "$OUT/gpu_tests.log" 2>&1
tail -2 "$OUT/gpu_tests.log"
timeout 340 python3 bench/exp_csr_reduce.py --lean > "$OUT/lean.log" 2>&1
sed -n '/summary/,$p' "$OUT/lean.log" | cut -c1-110
