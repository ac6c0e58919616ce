export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 150 python3 bench/repro_dk.py 2>&1 | tail -16
timeout 120 python3 -m pytest -q --tb=short -p no:logging tests/test_gpu_op.py -k "compile" > "$OUT/t1.log" 2>&1; grep -E "passed|failed|^E " "$OUT/t1.log" | head -8
python3 -m nsa_ops bench --cases "T=64k" --dist random --csv "$OUT/bench64.csv" 2>&1 | tee "$OUT/bench64.log" | tail -14
