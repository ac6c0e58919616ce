# Device call (session 25): the multi-token kernels on 1 stage (bench/exp_shared_stages.py).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name --format=csv,noheader
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 240 python3 bench/exp_shared_stages.py > "$OUT/stages.log" 2>&1
sed -n '/summary/,$p' "$OUT/stages.log" | cut -c1-96; tail -2 "$OUT/stages.log" | cut -c1-300
