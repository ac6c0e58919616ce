"""Session 19: is a call host-bound? For each case named on the command line (TARGETS.md case
names, random selection), the GPU time per call (CUDA events around 20 back-to-back calls on
rotated inputs) against the host's time to enqueue one call (wall clock over 4 calls after a
synchronize, no synchronize inside: ~30 launches a call stay far below the launch queue's depth).
Host time near or above GPU time means the GPU idles between kernels.

    python bench/exp_host.py "fwd G4 T=16k" "fwd+bwd G4 T=16k"
"""
from __future__ import annotations

import sys
import time

import torch

from nsa_ops import bench as B


def main():
    dev = torch.device("cuda")
    l2 = torch.cuda.get_device_properties(dev).L2_cache_size
    cases = {c.name: c for c in B.cuda_cases()}
    for name in sys.argv[1:]:
        case = cases[name]
        copies = B.input_copies(case, "random", torch.bfloat16, dev, l2)
        fn = B._nsa_ops(case)
        calls = [B._runner(fn, case.kind, c) for c in copies]
        for c in calls * 2:  # warm-up (compiles, allocator)
            c()
        torch.cuda.synchronize()
        host = []
        for rep in range(5):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for i in range(4):
                calls[(rep + i) % len(calls)]()
            host.append((time.perf_counter() - t0) / 4 * 1e3)
            torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for i in range(20):
            calls[i % len(calls)]()
        end.record()
        torch.cuda.synchronize()
        gpu = start.elapsed_time(end) / 20
        host.sort()
        print(f"{name:22s} GPU {gpu:7.3f} ms per call (20 back to back), host enqueue {host[2]:7.3f} ms per call "
              f"(median of 5; min {host[0]:.3f})", flush=True)
        del copies, calls
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
