# Device call (session 3): decode V-load A/B, forward on the local selection, full random bench.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install --no-deps --no-build-isolation -e . -q 2>&1 | tail -2
for early in False True; do
  timeout 120 python3 -c "
import sys, nsa_ops.kernels.decode as d; d.V_EARLY = $early
from nsa_ops.cli import main; sys.exit(main(['bench', '--suite', 'decode', '--dist', 'random']))" > "$OUT/decode_vearly_$early.log" 2>&1
  echo "V_EARLY=$early"; grep -E "^\[" "$OUT/decode_vearly_$early.log" | cut -c1-170
done
timeout 150 python3 -m nsa_ops bench --suite forward --dist local --csv "$OUT/fwd_local.csv" > "$OUT/fwd_local.log" 2>&1
grep -E "^\[" "$OUT/fwd_local.log" | cut -c1-150
timeout 280 python3 -m nsa_ops bench --dist random --csv "$OUT/bench.csv" --plot "$OUT/bench.png" > "$OUT/bench.log" 2>&1
grep -E "^\[" "$OUT/bench.log" | cut -c1-170 | tail -40
