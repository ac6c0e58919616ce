# Device call (prepared in session 26, not yet run): the GPU tests of the backward that run 174's
# call cut by its timeout (now with the G16 dK/dV pieces of 1024 tokens), then two prepared
# experiments: the query windows' int16 cap lifted (exp_csr_reduce.py --wincap) and the gathered
# dQ at G16 with today's pieces (exp_schedule.py --g16dq).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name --format=csv,noheader
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
timeout 300 python3 -m pytest -q -n 6 -p no:benchmark tests/test_gpu_op.py tests/test_triton_kernels.py -k "backward or deterministic or bitwise or match_reference" > "$OUT/gpu_tests.log" 2>&1
timeout 120 python3 bench/exp_csr_reduce.py --wincap > "$OUT/wincap.log" 2>&1
timeout 150 python3 bench/exp_schedule.py --g16dq > "$OUT/g16dq.log" 2>&1
grep -E "^(FAILED|ERROR)" "$OUT/gpu_tests.log" | head; tail -2 "$OUT/gpu_tests.log"
for f in wincap g16dq; do sed -n '/summary/,$p' "$OUT/$f.log" | cut -c1-100; tail -2 "$OUT/$f.log" | cut -c1-300; done
