export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 100 python3 -m pytest -q --tb=short -p no:logging tests/test_triton_kernels.py -k "raw or mix or dispatch" > "$OUT/t_shared.log" 2>&1; tail -3 "$OUT/t_shared.log" | cut -c1-300
python3 -m nsa_ops bench --cases "G16" "G4 T=64k" "G1 T=64k" --csv "$OUT/bench.csv" --plot "$OUT/bench.png" 2>&1 | tee "$OUT/bench.log" | tail -24
timeout 120 python3 -m pytest -q --tb=short -p no:logging tests/test_gpu_op.py -x > "$OUT/t_gpu.log" 2>&1; grep -E "passed|failed|^E  |^FAILED" "$OUT/t_gpu.log" | cut -c1-300 | head -12
