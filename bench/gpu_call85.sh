# Device call (session 26): the whole bench with the inference CSR by int atomics (csr.UNORDERED_CSR),
# FLA beside (wheels in .whl/).
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
timeout 400 python3 -m nsa_ops bench --csv "$OUT/bench.csv" --plot "$OUT/bench.png" > "$OUT/bench.log" 2>&1
grep -E "^\[" "$OUT/bench.log" | sed -E 's/, torch_path [0-9.]+ ms//; s/\(.*input cop.*\)//' | cut -c1-150
