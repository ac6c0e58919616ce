python3 -m pip install -q --no-deps --no-build-isolation -e . >/dev/null 2>&1
which ncu || ls /opt/nvidia/nsight-compute/*/ncu
NCU=$(which ncu || ls /opt/nvidia/nsight-compute/*/ncu | head -1)
for c in "fwd+bwd G4 T=16k" "fwd+bwd G16 T=16k"; do
  tag=$(echo "$c" | tr ' +=' '___')
  timeout 280 $NCU --clock-control none --profile-from-start off --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats --section Occupancy --section LaunchStats --csv --page details python3 bench/ncu_case.py "$c" > $OUT/ncu_$tag.csv 2> $OUT/ncu_$tag.err
  echo "$c rc=$? $(wc -l < $OUT/ncu_$tag.csv) lines"; tail -3 $OUT/ncu_$tag.err
done
