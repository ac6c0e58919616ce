# Device call (session 17): GPU kernel tests touching the small-G dK/dV tile, then the full bench.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 200 python3 -m pytest -q tests/test_triton_kernels.py -k "gpu_kernels_match or bitwise or raw_index" \
  > "$OUT/gpu_tests_kernels.log" 2>&1; tail -2 "$OUT/gpu_tests_kernels.log"
timeout 60 python3 -m pytest -q tests/test_gpu_op.py -k "deterministic" > "$OUT/gpu_tests_op.log" 2>&1
tail -2 "$OUT/gpu_tests_op.log"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
timeout 330 python3 -m nsa_ops bench --csv "$OUT/bench.csv" --plot "$OUT/bench.png" > "$OUT/bench.log" 2>&1
tail -45 "$OUT/bench.log" | cut -c1-200
