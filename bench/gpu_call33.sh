# Device call (session 8): raw-index dQ and the multi-token (shared K/V) dQ kernel, G16 16k/64k,
# random and local; then the GPU kernel tests.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 330 python3 bench/exp_dq_shared.py --profile > "$OUT/exp.log" 2>&1; tail -30 "$OUT/exp.log" | cut -c1-150
