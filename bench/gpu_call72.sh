# Device call (session 23): every test on the final kernels (FAST_DECODE and the query
# windows on), in 6 pytest-xdist workers (wheels carried in .whl/).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
timeout 560 python3 -m pytest -q -n 6 -p no:benchmark tests > "$OUT/gpu_tests_all.log" 2>&1
grep -E "^(FAILED|ERROR)" "$OUT/gpu_tests_all.log" | head -20
tail -2 "$OUT/gpu_tests_all.log"
