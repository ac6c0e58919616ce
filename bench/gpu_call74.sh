# Device call (session 24): the whole bench on the final kernels (forward_kv.ADDR32 on), FLA's
# parallel_nsa timed beside them (fla-core 0.6.0 and einops carried as wheels in .whl/).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
timeout 400 python3 -m nsa_ops bench --csv "$OUT/bench.csv" --plot "$OUT/bench.png" > "$OUT/bench.log" 2>&1
tail -48 "$OUT/bench.log" | cut -c1-160
# Then the op-level GPU tests (hypothesis parity, compile fullgraph, CUDA graphs, determinism),
# which now run the gather with ADDR32 on, in pytest-xdist workers.
timeout 170 python3 -m pytest -q -n 6 -p no:benchmark tests/test_gpu_op.py tests/test_tma_path.py > "$OUT/gpu_tests_op.log" 2>&1
grep -E "^(FAILED|ERROR)" "$OUT/gpu_tests_op.log" | head; tail -2 "$OUT/gpu_tests_op.log"
