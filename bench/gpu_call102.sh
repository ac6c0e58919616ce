# Device call (prepared in session 27, not yet run): the GPU tests of the D=192 token tiles on
# TMA with the 64-wide piece first (configs._narrow_first: parity in bf16 / fp16, bitwise
# determinism, the TMA-vs-pointer bitwise tests, the hypothesis op test that draws D=192), then
# the whole bench with FLA beside.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
timeout 240 python3 -m pytest -q -n 6 -p no:benchmark tests/test_triton_kernels.py tests/test_gpu_op.py tests/test_tma_path.py -k "match_reference or deterministic or either_order or both_head_dims or tma" > "$OUT/gpu_tests.log" 2>&1
grep -E "^(FAILED|ERROR)" "$OUT/gpu_tests.log" | head; tail -1 "$OUT/gpu_tests.log"
timeout 330 python3 -m nsa_ops bench --csv "$OUT/bench.csv" --plot "$OUT/bench.png" > "$OUT/bench.log" 2>&1
grep -E "^\[" "$OUT/bench.log" | sed -E 's/, torch_path [0-9.]+ ms//; s/\(.*input cop.*\)//' | cut -c1-150
