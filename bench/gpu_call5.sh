export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 150 python3 bench/sweep_forward.py 2>&1 | tee "$OUT/sweep.log" | tail -20
timeout 200 python3 -m pytest -q --tb=short -p no:logging tests/test_gpu_op.py tests/test_triton_kernels.py -x > "$OUT/tests.log" 2>&1; grep -E "passed|failed|^E  |^FAILED" "$OUT/tests.log" | cut -c1-300 | head -12
python3 -m nsa_ops bench --cases "T=16k" --csv "$OUT/bench16.csv" --plot "$OUT/bench16.png" 2>&1 | tail -22
