export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 90 python3 -m pytest -q --tb=short -p no:logging tests/test_triton_kernels.py -k "raw or mix or dispatch" > "$OUT/t1.log" 2>&1; tail -2 "$OUT/t1.log" | cut -c1-300
timeout 90 python3 -m pytest -q --tb=short -p no:logging tests/test_gpu_op.py -k "determin or compile or graph" > "$OUT/t2.log" 2>&1; tail -2 "$OUT/t2.log" | cut -c1-300
python3 -m nsa_ops bench --cases "fwd G16 T=16k" "fwd G16 T=64k" "fwd+bwd G16 T=16k" --csv "$OUT/bench.csv" 2>&1 | tail -8
