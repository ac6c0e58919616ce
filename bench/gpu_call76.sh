# Device call (session 24): the dK/dV ADDR32 rule as shipped (configs.KVTile.addr32) against
# off (exp_csr_reduce.py --addr32-dkv2), then the GPU tests of the offsets and the op-level
# GPU tests (hypothesis parity, compile, CUDA graphs, determinism) on the shipped defaults.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name --format=csv,noheader
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
timeout 90 python3 bench/exp_csr_reduce.py --addr32-dkv2 > "$OUT/addr32_dkv2.log" 2>&1
timeout 80 python3 -m pytest -q -n 6 -p no:benchmark tests/test_gpu_op.py tests/test_triton_kernels.py -k "addr32 or bitwise or deterministic" > "$OUT/gpu_tests.log" 2>&1
sed -n '/summary/,$p' "$OUT/addr32_dkv2.log" | cut -c1-100
grep -E "^(FAILED|ERROR)" "$OUT/gpu_tests.log" | head; tail -2 "$OUT/gpu_tests.log"
