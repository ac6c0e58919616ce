# Device call: validate the primitives refactor on the GPU, then profile per kernel.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
timeout 150 python3 -m pytest -q --tb=short -p no:logging tests/test_triton_kernels.py tests/test_decode_kernel.py > "$OUT/t1.log" 2>&1; tail -3 "$OUT/t1.log" | cut -c1-300
timeout 200 python3 -m pytest -q --tb=short -p no:logging tests/test_gpu_op.py -k "not match_reference" > "$OUT/t2.log" 2>&1; tail -3 "$OUT/t2.log" | cut -c1-300
python3 bench/profile_ops.py G1 G4 G16 > "$OUT/profile.txt" 2>&1; cat "$OUT/profile.txt" | cut -c1-140
