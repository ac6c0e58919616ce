# Device call (session 23): the query windows with the K/V floor against none (exp_csr_reduce.py
# --qwin2), then the bench (FLA wheel carried in .whl/), then the compile / dynamic-shape op tests.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
timeout 170 python3 bench/exp_csr_reduce.py --qwin2 > "$OUT/qwin2.log" 2>&1
timeout 280 python3 -m nsa_ops bench --csv "$OUT/bench.csv" --plot "$OUT/bench.png" > "$OUT/bench.log" 2>&1
timeout 100 python3 -m pytest -q -n 8 tests/test_gpu_op.py > "$OUT/gpu_tests_op.log" 2>&1
sed -n '/summary/,$p' "$OUT/qwin2.log" | cut -c1-100
tail -40 "$OUT/bench.log" | cut -c1-150
tail -4 "$OUT/gpu_tests_op.log"
