# Device call (session 26): the inference forward's entry CSR by int atomics (csr.UNORDERED_CSR)
# against the radix sort (exp_csr_reduce.py --unordered, interleaved whole ops, outputs compared
# bitwise with the first variant's), a profile of the G4 64k inference forward with it, and the
# GPU tests of the CSR and the forward paths around it.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name --format=csv,noheader
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
timeout 150 python3 bench/exp_csr_reduce.py --unordered > "$OUT/unordered.log" 2>&1
timeout 40 python3 bench/profile_ops.py G4 T=65536 kinds=fwd grad=0 > "$OUT/profile_g4_64k.log" 2>&1
timeout 120 python3 -m pytest -q -n 6 -p no:benchmark tests/test_triton_kernels.py tests/test_gpu_op.py -k "unordered or entry_csr or windows or deterministic or bitwise or positions" > "$OUT/gpu_tests.log" 2>&1
sed -n '/summary/,$p' "$OUT/unordered.log" | cut -c1-100; tail -2 "$OUT/unordered.log" | cut -c1-300
head -14 "$OUT/profile_g4_64k.log" | cut -c1-100
grep -E "^(FAILED|ERROR)" "$OUT/gpu_tests.log" | head; tail -2 "$OUT/gpu_tests.log"
