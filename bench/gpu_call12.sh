# Device call (session 3): backward schedule / tile experiments and keys-major variants.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 560 python3 bench/exp_backward.py G16 G4 G1 --profile > "$OUT/exp.log" 2>&1
grep -v "^G" "$OUT/exp.log" | head -60 | cut -c1-150
sed -n '/==== summary/,$p' "$OUT/exp.log"
