# Device call (session 4): head-dim split (D=192 as 128 + 64) timed against padding, then the
# GPU kernel tests on the new kernels.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 240 python3 bench/exp_headdim.py > "$OUT/headdim.log" 2>&1; tail -3 "$OUT/headdim.log"
timeout 330 python3 -m pytest -q --tb=short -p no:logging -x tests/test_triton_kernels.py tests/test_decode_kernel.py > "$OUT/tests.log" 2>&1; tail -3 "$OUT/tests.log" | cut -c1-300
sed -n '/==== summary/,$p' "$OUT/headdim.log"; grep -E "profile|_kernel" "$OUT/headdim.log" | cut -c1-100
