# Device call (session 19): the pieces kernel's test on the GPU, the session-19 op experiments
# (pieces kernel, near pass on a side stream, lse by entry id), a profile of the small-G op.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 60 python3 -m pytest -q tests/test_triton_kernels.py -k "pieces_kernel or entry_csr" > "$OUT/gpu_tests.log" 2>&1
tail -1 "$OUT/gpu_tests.log"
timeout 330 python3 bench/exp_csr_reduce.py --session19 > "$OUT/session19.log" 2>&1
grep -A40 summary "$OUT/session19.log" | cut -c1-140
timeout 90 python3 bench/profile_ops.py G4 > "$OUT/profile.log" 2>&1; grep -v Warn "$OUT/profile.log" | head -50 | cut -c1-110
