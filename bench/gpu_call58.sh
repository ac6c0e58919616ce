# Device call (session 20): Nsight Compute on the G4 16k fwd+bwd kernels of the current code
# (gather, near pass, combine, dK/dV pieces, dq reduce): where each is bound now.
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install -q --no-deps --no-build-isolation -e . >/dev/null 2>&1
NCU=$(which ncu || ls /opt/nvidia/nsight-compute/*/ncu | head -1)
timeout 400 $NCU --clock-control none --profile-from-start off --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats --section Occupancy --section LaunchStats --section SchedulerStats --csv --page details python3 bench/ncu_case.py "fwd+bwd G4 T=16k" > $OUT/ncu_G4_16k.csv 2> $OUT/ncu_G4_16k.err
echo "rc=$? $(wc -l < $OUT/ncu_G4_16k.csv) lines"; tail -3 $OUT/ncu_G4_16k.err
python3 - "$OUT/ncu_G4_16k.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
hdr = next(i for i, r in enumerate(rows) if r and r[0] == "ID")
h = rows[hdr]
K, M, V = h.index("Kernel Name"), h.index("Metric Name"), h.index("Metric Value")
want = ("Duration", "DRAM Throughput", "Memory Throughput", "L2 Cache Throughput", "Compute (SM) Throughput",
        "Achieved Occupancy", "Registers Per Thread", "Issue Slots Busy", "No Eligible", "Warp Cycles Per Issued Instruction",
        "Stall Long Scoreboard", "L1/TEX Hit Rate", "L2 Hit Rate", "Mem Busy", "Max Bandwidth")
for r in rows[hdr + 1:]:
    if len(r) > V and any(r[M].startswith(w) for w in want):
        print(f"{r[K][:28]:28s} {r[M][:40]:40s} {r[V]}")
PY
