# Device call (session 26): the entry CSR's build alone (bench/exp_csr_build.py: radix sort vs
# int atomics, the entry-key kernel's shape and duplicate loop), then the whole op with the
# key-kernel variants (exp_csr_reduce.py --keys), and the CSR tests on the GPU.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name --format=csv,noheader
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
timeout 120 python3 bench/exp_csr_build.py > "$OUT/csr_build.log" 2>&1
timeout 150 python3 bench/exp_csr_reduce.py --keys > "$OUT/keys.log" 2>&1
timeout 60 python3 -m pytest -q -n 6 -p no:benchmark tests/test_triton_kernels.py -k "entry_csr" > "$OUT/gpu_tests.log" 2>&1
sed -n '/summary/,$p' "$OUT/csr_build.log" | cut -c1-100; tail -2 "$OUT/csr_build.log" | cut -c1-300
sed -n '/summary/,$p' "$OUT/keys.log" | cut -c1-100; tail -2 "$OUT/keys.log" | cut -c1-300
grep -E "^(FAILED|ERROR)" "$OUT/gpu_tests.log" | head; tail -2 "$OUT/gpu_tests.log"
