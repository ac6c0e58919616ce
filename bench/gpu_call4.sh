export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 400 python3 -m pytest -q --tb=short -p no:logging tests/test_gpu_op.py tests/test_decode_kernel.py tests/test_triton_kernels.py > "$OUT/tests.log" 2>&1; grep -E "passed|failed|^E  |Falsifying|Problem\(|^FAILED" "$OUT/tests.log" | cut -c1-400 | head -30
python3 -m nsa_ops bench --cases "fwd G16 T=16k" "fwd+bwd G16 T=16k" --dist random local --csv "$OUT/bench16.csv" 2>&1 | tail -6
