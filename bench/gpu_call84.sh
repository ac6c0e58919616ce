# Device call (session 26): the G16 rows on the KV-centric forward, which has gained ~25% since
# the schedule table was last measured (bench/exp_schedule.py --g16kv), both selections.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name --format=csv,noheader
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 400 python3 bench/exp_schedule.py --g16kv > "$OUT/g16kv.log" 2>&1
sed -n '/summary/,$p' "$OUT/g16kv.log" | cut -c1-100; tail -2 "$OUT/g16kv.log" | cut -c1-300
