# Device call (session 4): the four-token forward against the token + shared pair (G16, G8;
# random, local), then the forward GPU tests.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 240 python3 bench/exp_quad.py  # (removed after run 18; see commit d77eb92) > "$OUT/quad.log" 2>&1
timeout 300 python3 -m pytest -q --tb=short -p no:logging -x tests/test_triton_kernels.py -k "four_token or gpu_kernels or raw_index" > "$OUT/tests.log" 2>&1; tail -3 "$OUT/tests.log" | cut -c1-300
sed -n '/==== summary/,$p' "$OUT/quad.log"; grep -iE "error|Traceback" "$OUT/quad.log" | head -5
