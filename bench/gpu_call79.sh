# Device call (session 25): the light tile claim + grouped multi-token programs
# (configs.SharedTile.group) against the shipped launch (bench/exp_claim.py), whole op.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name --format=csv,noheader
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 420 python3 bench/exp_claim.py > "$OUT/claim.log" 2>&1
sed -n '/summary/,$p' "$OUT/claim.log" | cut -c1-96; tail -3 "$OUT/claim.log" | cut -c1-300
