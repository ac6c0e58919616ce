# Device call (session 13): the full bench (nsa-ops bench, all TARGETS.md rows): run 87 after run 86, run 90 after run 89.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
timeout 560 python3 -m nsa_ops bench --csv "$OUT/bench.csv" --plot "$OUT/bench.png" > "$OUT/bench.log" 2>&1
tail -60 "$OUT/bench.log" | cut -c1-220
