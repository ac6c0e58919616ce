# Device call (session 27): the G16 split-head dK/dV with the narrow piece first (D=192 as
# 64 + 128): GPU kernel tests (parity in three dtypes, bitwise determinism incl. D=192, the
# hypothesis op test that draws D=192), then the bench's D=192 rows with FLA beside.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
timeout 240 python3 -m pytest -q -n 6 -p no:benchmark tests/test_triton_kernels.py tests/test_gpu_op.py -k "match_reference or deterministic or either_order or both_head_dims" > "$OUT/gpu_tests.log" 2>&1
grep -E "^(FAILED|ERROR)" "$OUT/gpu_tests.log" | head; tail -1 "$OUT/gpu_tests.log"
timeout 200 python3 -m nsa_ops bench --cases "D=192" --csv "$OUT/bench_d192.csv" > "$OUT/bench_d192.log" 2>&1
grep -E "^\[" "$OUT/bench_d192.log" | sed -E 's/, torch_path [0-9.]+ ms//; s/\(.*input cop.*\)//' | cut -c1-170
