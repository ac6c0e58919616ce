# Device call (session 18): DIRECT_DKV off / on, GPU kernel tests of the changed paths, the bench.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 100 python3 bench/exp_csr_reduce.py --direct > "$OUT/direct.log" 2>&1
grep -A8 summary "$OUT/direct.log" | cut -c1-130
timeout 100 python3 -m pytest -q tests/test_triton_kernels.py -k "split_query or hands_its_csr or bitwise" \
  > "$OUT/gpu_tests_kernels.log" 2>&1; tail -1 "$OUT/gpu_tests_kernels.log"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
timeout 340 python3 -m nsa_ops bench --csv "$OUT/bench.csv" --plot "$OUT/bench.png" > "$OUT/bench.log" 2>&1
tail -42 "$OUT/bench.log" | cut -c1-150
