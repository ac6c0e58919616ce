# Device call (session 22, prepared without a GPU): positions written by the gather; the combine on 8 warps (exp_csr_reduce.py --gpos).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 420 python3 bench/exp_csr_reduce.py --gpos > "$OUT/gpos.log" 2>&1
timeout 150 python3 -m pytest -q -x tests/test_triton_kernels.py -k "bitwise or lean or hands_its_csr" > "$OUT/gpu_tests.log" 2>&1
sed -n '/summary/,$p' "$OUT/gpos.log" | cut -c1-110
tail -3 "$OUT/gpu_tests.log"
