# Device call (session 19): host vs GPU time per call; GPU kernel and op tests of the final code.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 60 python3 bench/exp_host.py "fwd G4 T=16k" "fwd+bwd G4 T=16k" "fwd G1 T=16k" "fwd+bwd G1 T=16k" \
  "fwd G16 T=16k" "fwd+bwd G16 T=16k" > "$OUT/host.log" 2>&1; grep -v Warn "$OUT/host.log" | cut -c1-140
timeout 200 python3 -m pytest -q tests/test_triton_kernels.py -k "bitwise or pieces or (gpu_kernels_match and 128-128-64 and not float32)" \
  > "$OUT/gpu_tests_kernels.log" 2>&1; tail -2 "$OUT/gpu_tests_kernels.log"
timeout 290 python3 -m pytest -q tests/test_gpu_op.py tests/test_tma_path.py > "$OUT/gpu_tests_op.log" 2>&1
tail -2 "$OUT/gpu_tests_op.log"
