"""The G16 forward with the common-block kernel (the blocks every token of an 8-token tile
selected, walked once by a 128-row program; the token kernel skips them and merges the
partial) against the shipped forward (shared-K/V kernel, then the token-centric kernel) and the
token-centric kernel alone; common-kernel tiles of 4 / 8 / 16 tokens and 4 / 8 warps. T=16k
and 64k, random and local selections (bf16; the bench's timing: do_bench median, inputs
rotated past L2), per-kernel device times (torch.profiler), registers / spills, and the row
check against the float64 reference.

Runs 38-40 measured an earlier form, one launch of tile and token programs (ticket order,
release/acquire flags; commit "forward: one-launch G16/G8 forward"): 6.0 ms against 3.96 at
T=16k random, because the tile role's registers (255; 168 with 2-token tiles) set the whole
kernel's and halved the token programs' occupancy.

    python bench/exp_common_kernel.py ["fwd G16 T=16k" ...]
"""
from __future__ import annotations

import os
import sys

import torch

from nsa_ops import bench as B
from nsa_ops.kernels import configs, forward

sys.path.insert(0, os.path.dirname(__file__))
from exp_backward import kernel_times  # noqa: E402

VARIANTS = {
    "shipped": dict(common=False),
    "token only": dict(use_shared=False, common=False),
    "common 8t w8": dict(common=configs.CommonTile(8, 8, 2)),
    "common 8t w8 s1": dict(common=configs.CommonTile(8, 8, 1)),
    "common 4t w4": dict(common=configs.CommonTile(4, 4, 2)),
    "common 16t w8": dict(common=configs.CommonTile(16, 8, 2)),
}


def registers():
    rows = []
    for kern in (forward._selection_fwd_common_kernel, forward._selection_fwd_kernel,
                 forward._selection_fwd_shared_kernel):
        try:
            for cache in kern.device_caches.values():
                for compiled in cache[0].values():
                    rows.append(f"{kern.fn.__name__}: regs {compiled.n_regs} spills {compiled.n_spills} "
                                f"shared {compiled.metadata.shared}")
        except Exception as exc:  # noqa: BLE001 - informational only
            rows.append(f"{kern.fn.__name__}: ({exc!r})")
    return rows


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
            for variant, opts in VARIANTS.items():
                forward._launch_token_forward = lambda *a, _kw=opts, **k: launch(*a, **{**k, **_kw})
                err, fro = B.check_rows(case, copies[0], fn(copies[0]))
                ms = timer(B.cycling([B._runner(fn, case.kind, x) for x in copies]))
                us = {n[:40]: t for n, (t, _c) in kernel_times(lambda: fn(copies[0]), reps=5).items()}
                fwd = sum(t for n, t in us.items() if "_selection_fwd" in n)
                table.append(f"{dist:6s} {case.name:14s} {variant:17s}: {ms:7.3f} ms  (forward kernels "
                             f"{fwd:6.3f})  err {err:.1e} fro {fro:.1e}")
                print(table[-1], flush=True)
            forward._launch_token_forward = launch
            copies = None
            torch.cuda.empty_cache()
    print("\n".join(registers()))
    print("\n==== summary ====")
    print("\n".join(table))


if __name__ == "__main__":
    main()
