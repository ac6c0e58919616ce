# Device call (session 21): the rest of the kernel tests on the GPU (bf16 parity, raw index,
# near pass, gather pieces), on the final kernels.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 560 python3 -m pytest -q tests/test_triton_kernels.py -k "not (bitwise or lean or hands_its_csr)" > "$OUT/gpu_tests_kernels2.log" 2>&1
tail -3 "$OUT/gpu_tests_kernels2.log"
