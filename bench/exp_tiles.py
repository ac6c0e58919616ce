"""Second round of tile experiments (T=16k, bf16, random selection; shapes of TARGETS.md):

1. per-kernel forward profile for G16, G4, G1 (where the forward's time goes);
2. the G16 token-centric dQ tile: warps x stages;
3. the dK/dV tile's stage count around the table's choice, for G16, G4, G1.

Times are of the whole op (do_bench median); every variant is compared with the default
schedule and run twice for bitwise equality.

    python bench/exp_tiles.py
"""
from __future__ import annotations

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import exp_backward as X  # noqa: E402


def run_variant(name, label, fn_patch, q, k, v, bi, do, out, lse, ref, table):
    X.restore()
    fn_patch()
    line = X.time_backward_variant(name, label, q, k, v, bi, do, out, lse, ref)
    X.restore()
    print(line, flush=True)
    table.append(line)


def main():
    table = []
    T = 16384
    for name in ("G16", "G4", "G1"):
        q, k, v, bi, do = X.problem(name, T)
        X.restore()
        X.kernel_profile(lambda: X.fwd(q, k, v, bi), f"{name} forward")
        out, lse = X.fwd(q, k, v, bi)
        ref = [t.clone() for t in X.bwd(q, k, v, bi, do, out, lse)]
        X.kernel_profile(lambda: X.bwd(q, k, v, bi, do, out, lse), f"{name} backward (new table)")
        ms = X.bench(lambda: X.bwd(q, k, v, bi, do, out, lse))
        table.append(f"{name} bwd {'default (new table)':30s} {ms:8.3f} ms")
        print(table[-1], flush=True)
        if name == "G16":
            for warps in (4, 8):
                for stages in (1, 2, 3):
                    def patch(w=warps, s=stages):
                        X.bw.dq_tile = lambda *a, **kw: X.ORIG["dq_tile"](*a, **kw)._replace(num_warps=w, num_stages=s)
                    run_variant(name, f"dq-token w{warps} s{stages}", patch, q, k, v, bi, do, out, lse, ref, table)
        for stages in (1, 3):
            def patch(s=stages):
                X.bw.dkv_tile = lambda *a, **kw: X.ORIG["dkv_tile"](*a, **kw)._replace(num_stages=s)
            run_variant(name, f"dkv stages {stages}", patch, q, k, v, bi, do, out, lse, ref, table)
        q = k = v = bi = do = out = lse = ref = None  # free before the next shape
        torch.cuda.empty_cache()
    X.print_summary(table)


if __name__ == "__main__":
    main()
