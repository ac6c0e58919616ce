"""Tiles per program of the shared-K/V forward kernel (``SharedTile.tiles_per_program``), G16
forward, T=16k and 64k, random and local selections (bf16, the bench's timing: do_bench median,
inputs rotated past L2). Per variant: ms of the whole forward, the shared kernel's device time
(torch.profiler), and the row check against the float64 reference.

    python bench/exp_shared_span.py
"""
from __future__ import annotations

import os
import sys

import torch

from nsa_ops import bench as B
from nsa_ops.kernels import configs, forward

sys.path.insert(0, os.path.dirname(__file__))
from exp_backward import kernel_times  # noqa: E402


def main():
    dev = torch.device("cuda")
    l2 = torch.cuda.get_device_properties(dev).L2_cache_size
    timer = B.make_timer(dev, quick=False)
    cases = [c for c in B.cuda_cases() if c.kind == "fwd" and c.name in ("fwd G16 T=16k", "fwd G16 T=64k")]
    table = []
    for dist in ("random", "local"):
        for case in cases:
            copies = B.input_copies(case, dist, torch.bfloat16, dev, l2)
            fn = B._nsa_ops(case)
            first = None
            for tpp in (1, 8, 16, 32):
                forward.shared_tile = lambda *a, _t=tpp: configs.shared_tile(*a)._replace(tiles_per_program=_t)
                out = fn(copies[0])
                err, fro = B.check_rows(case, copies[0], out)
                first = out if first is None else first
                same = bool(torch.equal(out, first))  # each tile's math does not depend on the span
                ms = timer(B.cycling([B._runner(fn, "fwd", x) for x in copies]))
                us = {n[:40]: t * 1e3 for n, (t, _c) in kernel_times(lambda: fn(copies[0]), reps=5).items()}
                shared = sum(t for n, t in us.items() if "shared" in n)
                table.append(f"{dist:6s} {case.name:16s} tiles/program {tpp:2d}: {ms:7.3f} ms  shared kernel "
                             f"{shared / 1e3:6.3f} ms  err {err:.1e} fro {fro:.1e} same {same}")
                print(table[-1], flush=True)
            forward.shared_tile = configs.shared_tile
            copies = None
            torch.cuda.empty_cache()
    print("\n==== summary ====")
    print("\n".join(table))


if __name__ == "__main__":
    main()
