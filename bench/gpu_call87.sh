# Device call (session 26): where the G16 KV-centric forward's time goes (profile, random and
# local, 16k and 64k, inference and training), and the new GPU determinism test of the
# inference forward on the unordered CSR.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name --format=csv,noheader
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
timeout 60 python3 bench/profile_ops.py G16 T=65536 kinds=fwd grad=0 sched=kv > "$OUT/prof_g16kv_64k.log" 2>&1
timeout 60 python3 bench/profile_ops.py G16 T=16384 kinds=fwd grad=0 sched=kv > "$OUT/prof_g16kv_16k.log" 2>&1
timeout 60 python3 bench/profile_ops.py G16 T=65536 kinds=fwd grad=0 > "$OUT/prof_g16tok_64k.log" 2>&1
timeout 60 python3 bench/profile_ops.py G16 T=65536 sched=kv dist=local kinds=fwd grad=0 > "$OUT/prof_g16kv_64k_local.log" 2>&1
timeout 100 python3 -m pytest -q -n 3 -p no:benchmark tests/test_gpu_op.py -k "inference_forward" > "$OUT/gpu_tests.log" 2>&1
for f in prof_g16kv_64k prof_g16kv_16k prof_g16tok_64k prof_g16kv_64k_local; do head -12 "$OUT/$f.log" | grep -v Warn | cut -c1-90; done
grep -E "^(FAILED|ERROR)" "$OUT/gpu_tests.log" | head; tail -2 "$OUT/gpu_tests.log"
