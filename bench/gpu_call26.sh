# Device call (session 5): decode with normalised 16-bit partials and the shared combine
# kernel (kernels/combine.py); combine shapes swept; decode GPU tests.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 200 python3 bench/exp_decode.py > "$OUT/decode.log" 2>&1; tail -3 "$OUT/decode.log" | cut -c1-200
timeout 300 python3 -m pytest -q --tb=short -p no:logging -x tests/test_decode_kernel.py > "$OUT/tests.log" 2>&1; tail -2 "$OUT/tests.log" | cut -c1-300
echo "==== decode"; sed -n '/==== summary/,$p' "$OUT/decode.log"
