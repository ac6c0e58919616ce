# Device call (session 24): the dK/dV pieces' offsets as unsigned 32-bit products
# (exp_csr_reduce.py --addr32-dkv, backward.ADDR32, off until timed) and its GPU kernel tests,
# then the whole bench on the shipped kernels (forward_kv.ADDR32 on), FLA's parallel_nsa timed
# beside them (fla-core 0.6.0 and einops carried as wheels in .whl/).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
timeout 130 python3 bench/exp_csr_reduce.py --addr32-dkv > "$OUT/addr32_dkv.log" 2>&1
timeout 335 python3 -m nsa_ops bench --csv "$OUT/bench.csv" --plot "$OUT/bench.png" > "$OUT/bench.log" 2>&1
timeout 100 python3 -m pytest -q -p no:benchmark tests/test_triton_kernels.py -k "addr32" > "$OUT/gpu_tests_addr32.log" 2>&1
sed -n '/summary/,$p' "$OUT/addr32_dkv.log" | cut -c1-100
tail -2 "$OUT/gpu_tests_addr32.log"
grep -E "^\[" "$OUT/bench.log" | sed -E 's/, torch_path [0-9.]+ ms//; s/\(.*input cop.*\)//' | cut -c1-150
