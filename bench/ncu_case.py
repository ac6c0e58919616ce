"""One TARGETS.md case's op, profiled by Nsight Compute: warm-up calls, then one call between
``cudaProfilerStart`` / ``Stop`` (run under ``ncu --profile-from-start off``), so the report
holds exactly the kernels of one op call.

    ncu --clock-control none --profile-from-start off --section SpeedOfLight ... \\
        python bench/ncu_case.py "fwd+bwd G4 T=16k" [random|local]
"""
from __future__ import annotations

import sys

import torch

from nsa_ops import bench as B


def main():
    name, dist = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "random")
    case = {c.name: c for c in B.cuda_cases()}[name]
    x = B.make_inputs(case, dist, torch.bfloat16, torch.device("cuda"))
    step = B._runner(B._nsa_ops(case), case.kind, x)
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    torch.cuda.profiler.start()
    step()
    torch.cuda.synchronize()
    torch.cuda.profiler.stop()


if __name__ == "__main__":
    main()
