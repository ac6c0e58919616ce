# Device call (session 5): decode split kernel with per-head CUDA-core products (no 16-row MMA
# padding) against the MMA tile, 2/4/8 warps; decode GPU tests (both paths).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 300 python3 -m pytest -q --tb=short -p no:logging -x tests/test_decode_kernel.py tests/test_combine_kernel.py > "$OUT/tests.log" 2>&1; tail -2 "$OUT/tests.log" | cut -c1-300
timeout 250 python3 bench/exp_decode.py > "$OUT/decode.log" 2>&1; tail -3 "$OUT/decode.log" | cut -c1-200
echo "==== decode"; sed -n '/==== summary/,$p' "$OUT/decode.log"
