# Device call (session 4): GPU kernel tests (call 19's run hit its timeout), then the dK/dV tile
# sweep for the split D=192.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 400 python3 -m pytest -q --tb=short -p no:logging -x tests/test_triton_kernels.py tests/test_decode_kernel.py > "$OUT/tests.log" 2>&1; tail -3 "$OUT/tests.log" | cut -c1-300
timeout 150 python3 bench/exp_headdim.py --dkv > "$OUT/dkv.log" 2>&1
sed -n '/==== summary/,$p' "$OUT/dkv.log"
