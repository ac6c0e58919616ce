# Device call (session 20): the near pass merging the slots (bench/exp_csr_reduce.py --merge), and
# the near-pass kernel tests on the GPU.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 200 python3 -m pytest -q tests/test_triton_kernels.py -k "near_pass or hands_its_csr" > "$OUT/gpu_tests.log" 2>&1
tail -2 "$OUT/gpu_tests.log"
timeout 420 python3 bench/exp_csr_reduce.py --merge > "$OUT/merge.log" 2>&1
cat "$OUT/merge.log" | cut -c1-110
