# Device call (session 20): the entry CSR by counting sort: GPU kernel tests, whole-op timings
# against torch.sort (bench/exp_csr_reduce.py --countsort), per-kernel profile.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 150 python3 -m pytest -q -x tests/test_triton_kernels.py -k "counting_sort or entry_csr or near_pass or hands_its_csr" > "$OUT/gpu_tests.log" 2>&1
tail -2 "$OUT/gpu_tests.log"
timeout 330 python3 bench/exp_csr_reduce.py --countsort > "$OUT/countsort.log" 2>&1
timeout 60 python3 bench/profile_ops.py G4 > "$OUT/profile.log" 2>&1
grep -A 12 "G4 T=16384 random fwd:" "$OUT/profile.log" | cut -c1-100
sed -n '/summary/,$p' "$OUT/countsort.log" | cut -c1-100
