# Device call (session 27): Hopper warp specialization on the dK/dV pieces kernel's chunk loop
# (bench/exp_ws.py), whole op against the shipped kernel.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name --format=csv,noheader
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
python3 -c "import triton; print('triton', triton.__version__)"
timeout 300 python3 bench/exp_ws.py > "$OUT/ws.log" 2>&1
grep -n -m3 -E "Assertion|PassManager|error:" "$OUT/ws.log" | cut -c1-300
sed -n '/summary/,$p' "$OUT/ws.log" | cut -c1-160
