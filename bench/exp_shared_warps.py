"""Warps of the multi-token (shared K/V) forward and dQ kernels, after run 66 found the 16-row
token tiles fastest on one or two warps. The multi-token tiles have 64 rows (4 tokens x 16
heads at G16) on 4 warps; here 2 and 8 warps against 4, op level, on the rows where those
kernels take tiles (local selections) and where they only flag them (random).

    python bench/exp_shared_warps.py
"""
from __future__ import annotations

import os
import sys

import torch

from nsa_ops import bench as B
from nsa_ops.kernels import backward as bwd
from nsa_ops.kernels import forward as fwd

sys.path.insert(0, os.path.dirname(__file__))
from exp_backward import print_summary  # noqa: E402
from exp_token import experiment  # noqa: E402

REAL_FWD, REAL_BWD = fwd.shared_tile, bwd.shared_tile


def with_warps(real, warps, stages=None):
    def tile(*a, **kw):
        t = real(*a, **kw)
        if t is None or warps is None:
            return t
        return t._replace(num_warps=warps, num_stages=stages or t.num_stages)
    return tile


def main():
    dev, l2, timer, cases, only = experiment()
    table = []
    runs = [("fwd G16 T=16k", "local"), ("fwd+bwd G16 T=16k", "local"), ("fwd+bwd G16 T=64k", "local"),
            ("fwd+bwd G16 T=16k", "random")]
    variants = [("shipped w4", None, None), ("fwd w2", 2, None), ("dq w2", None, 2), ("both w2", 2, 2),
                ("both w8", 8, 8)]
    for name, dist in runs:
        case = cases[name]
        copies = B.input_copies(case, dist, torch.bfloat16, dev, l2)
        fn = B._nsa_ops(case)
        for tag, fw, dw in variants:
            if case.kind == "fwd" and fw is None and dw is not None:
                continue
            fwd.shared_tile, bwd.shared_tile = with_warps(REAL_FWD, fw), with_warps(REAL_BWD, dw)
            try:
                err = B.check_rows(case, copies[0], fn(copies[0]))[0]
                ms = timer(B.cycling([B._runner(fn, case.kind, c) for c in copies]))
                table.append(f"{name:20s} {dist:6s} {tag:11s}: {ms:8.3f} ms   out vs float64 {err:.1e}")
            except Exception as ex:  # noqa: BLE001 -- an experiment: report and go on
                table.append(f"{name:20s} {dist:6s} {tag:11s}: FAILED {type(ex).__name__}: {str(ex)[:150]}")
            print(table[-1], flush=True)
        fwd.shared_tile, bwd.shared_tile = REAL_FWD, REAL_BWD
        copies = None
        torch.cuda.empty_cache()
    print_summary(table)


if __name__ == "__main__":
    main()
