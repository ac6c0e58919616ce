# Device call (session 25): where the multi-token kernels' cost on random selections goes,
# per kernel (bench/exp_flag_cost.py, profiler), shared on / off.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name --format=csv,noheader
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 200 python3 bench/exp_flag_cost.py > "$OUT/flag_cost.log" 2>&1
sed -n '/summary/,$p' "$OUT/flag_cost.log" | cut -c1-230; tail -3 "$OUT/flag_cost.log"
timeout 120 python3 bench/profile_ops.py G4 T=65536 > "$OUT/profile_g4_64k.log" 2>&1
head -20 "$OUT/profile_g4_64k.log" | cut -c1-120
