# Device call (session 26): the whole test suite on the GPU (xdist, 6 workers) with the
# inference CSR by int atomics shipped.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name --format=csv,noheader
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
timeout 560 python3 -m pytest -q -n 6 -p no:benchmark tests > "$OUT/gpu_tests_all.log" 2>&1
grep -E "^(FAILED|ERROR)" "$OUT/gpu_tests_all.log" | head -20; tail -3 "$OUT/gpu_tests_all.log"
