# Device call (session 26): the whole bench with the G16 dK/dV pieces of 1024 tokens
# (configs.dkv_piece_tokens) and the unordered inference CSR, FLA beside (wheels in .whl/);
# then the GPU tests of the backward (parity, determinism).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
timeout 330 python3 -m nsa_ops bench --csv "$OUT/bench.csv" --plot "$OUT/bench.png" > "$OUT/bench.log" 2>&1
timeout 150 python3 -m pytest -q -n 6 -p no:benchmark tests/test_gpu_op.py tests/test_triton_kernels.py -k "backward or deterministic or bitwise or match_reference" > "$OUT/gpu_tests.log" 2>&1
grep -E "^\[" "$OUT/bench.log" | sed -E 's/, torch_path [0-9.]+ ms//; s/\(.*input cop.*\)//' | cut -c1-110
grep -E "^(FAILED|ERROR)" "$OUT/gpu_tests.log" | head; tail -2 "$OUT/gpu_tests.log"
