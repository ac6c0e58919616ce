"""The shipped G16 forward against the token-centric kernel alone (no shared-K/V kernel) and
shared kernels of other warps / stages; T=16k and 64k, random and local selections (bf16; the
bench's timing: do_bench median, inputs rotated past L2), per-kernel device times
(torch.profiler) and the row check against the float64 reference.

Session 6 ran it (runs 31, 32) on a shared kernel that also walked the blocks *every* token of
a 4-token tile selected (block 0 and the local blocks on random selections) and left their
partial for the token kernel to merge: the token kernel fell from 3.93 to 3.14 ms at T=16k
random, but the shared kernel rose from 0.25 to 0.90 ms (16k programs of 64 rows, each with
three blocks to walk), 4.04 ms in all against 3.94 with the token kernel alone; local 2.51 vs
2.28. 8 warps or 1 stage were slower still. That kernel is in commit e135bad (reverted).

    python bench/exp_common_blocks.py
"""
from __future__ import annotations

import os
import sys

import torch

from nsa_ops import bench as B
from nsa_ops.kernels import configs, forward

sys.path.insert(0, os.path.dirname(__file__))
from exp_backward import kernel_times, print_summary  # noqa: E402


def main():
    dev = torch.device("cuda")
    l2 = torch.cuda.get_device_properties(dev).L2_cache_size
    timer = B.make_timer(dev, quick=False)
    names = sys.argv[1:] or ["fwd G16 T=16k", "fwd G16 T=64k"]
    cases = [c for c in B.cuda_cases() if c.name in names]
    launch = forward._launch_token_forward
    table = []
    for dist in ("random", "local"):
        for case in cases:
            copies = B.input_copies(case, dist, torch.bfloat16, dev, l2)
            fn = B._nsa_ops(case)
            for variant in ("shipped", "token only", "shared w8 s2", "shared w8 s1", "shared w4 s1"):
                forward._launch_token_forward = (launch if variant != "token only" else
                                                 lambda *a, **kw: launch(*a, **{**kw, "use_shared": False}))
                forward.shared_tile = configs.shared_tile
                if variant.startswith("shared"):
                    w, st = int(variant[8]), int(variant[11])
                    forward.shared_tile = lambda *a, _w=w, _s=st: (configs.shared_tile(*a) and configs.shared_tile(*a)
                                                                   ._replace(num_warps=_w, num_stages=_s))
                err, fro = B.check_rows(case, copies[0], fn(copies[0]))
                ms = timer(B.cycling([B._runner(fn, case.kind, x) for x in copies]))
                us = {n[:40]: t for n, (t, _c) in kernel_times(lambda: fn(copies[0]), reps=5).items()}
                shared = sum(t for n, t in us.items() if "shared" in n)
                token = sum(t for n, t in us.items() if "_selection_fwd_kernel" in n)
                table.append(f"{dist:6s} {case.name:16s} {variant:12s}: {ms:7.3f} ms  (token kernel {token:6.3f}, "
                             f"shared kernel {shared:6.3f})  err {err:.1e} fro {fro:.1e}")
                print(table[-1], flush=True)
            forward._launch_token_forward = launch
            forward.shared_tile = configs.shared_tile
            copies = None
            torch.cuda.empty_cache()
    print_summary(table)


if __name__ == "__main__":
    main()
