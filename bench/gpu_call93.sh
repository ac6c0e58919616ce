# Device call (session 27): the whole test suite on the GPU at HEAD (pytest -n 6), after the
# comment-only kernel changes of this session (run 176's measurements written into configs).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
timeout 420 python3 -m pytest -q -n 6 -p no:benchmark tests > "$OUT/gpu_tests_all.log" 2>&1
grep -E "^(FAILED|ERROR)" "$OUT/gpu_tests_all.log" | head; tail -2 "$OUT/gpu_tests_all.log"
