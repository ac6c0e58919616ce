"""Head-dim split experiment (TARGETS.md D=192/Dv=128 row: G16, T=16k, bf16, random selection).

D=192 held as 128 + 64 columns (``configs.head_dim_blocks``) against the former padding to 256,
for the forward tile (warps x stages) and the backward tiles (dQ warps x dK/dV warps). Per
variant: op time (do_bench median), largest difference from the padded default (relative to
its largest entry) and, for the backward, bitwise run-to-run equality.

    python bench/exp_headdim.py [T=16384] [D=192] [--dkv]   # --dkv: only the dK/dV tile sweep (split)
"""
from __future__ import annotations

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import exp_backward as X  # noqa: E402
from nsa_ops.kernels import configs  # noqa: E402
from nsa_ops.selections import random_selection  # noqa: E402


def main():
    args = dict(a.split("=") for a in sys.argv[1:] if "=" in a)
    T, D = int(args.get("T", 16384)), int(args.get("D", 192))
    g = torch.Generator(device=X.DEV).manual_seed(0)
    q = torch.randn(1, T, 64, D, device=X.DEV, dtype=X.DTYPE, generator=g)
    k = torch.randn(1, T, 4, D, device=X.DEV, dtype=X.DTYPE, generator=g)
    v = torch.randn(1, T, 4, 128, device=X.DEV, dtype=X.DTYPE, generator=g)
    bi = random_selection(1, T, 4, 16, 64, device=X.DEV, generator=g)
    do = torch.randn(1, T, 64, 128, device=X.DEV, dtype=X.DTYPE, generator=g)
    table = []

    def line(s):
        print(s, flush=True)
        table.append(s)

    configs.SPLIT_HEAD_DIM = False
    X.restore()
    out_ref, lse_ref = X.fwd(q, k, v, bi)
    grads_ref = [t.clone() for t in X.bwd(q, k, v, bi, do, out_ref, lse_ref)]
    if "--dkv" in sys.argv:
        configs.SPLIT_HEAD_DIM = True
        for rows, warps, stages in ((64, 8, 1), (64, 8, 2), (64, 8, 3), (128, 8, 1), (64, 4, 1), (128, 4, 1)):
            X.restore()
            X.bw.dkv_tile = (lambda *a, _r=rows, _w=warps, _s=stages, **kw:
                             X.ORIG["dkv_tile"](*a, **kw)._replace(rows=_r, num_warps=_w, num_stages=_s))
            line(X.time_backward_variant(f"D{D}", f"split dkv rows{rows} w{warps} s{stages}", q, k, v, bi, do,
                                         out_ref, lse_ref, grads_ref))
    for split in (() if "--dkv" in sys.argv else (False, True)):
        configs.SPLIT_HEAD_DIM = split
        tag = "split 128+64" if split else "padded 256"
        X.restore()
        print(f"default tiles ({tag}): fwd {X.fw.forward_tile(16, D, 128, 64)}  dkv {X.bw.dkv_tile(16, D, 128, 64)}")
        for warps in (4, 8):
            for stages in (1, 2, 3):
                X.restore()
                X.fw.forward_tile = (lambda *a, _w=warps, _s=stages, **kw:
                                     X.ORIG["forward_tile"](*a, **kw)._replace(num_warps=_w, num_stages=_s))
                try:
                    out, lse = X.fwd(q, k, v, bi)
                    diff = X.rel_diff((out,), (out_ref,))
                    ms = X.bench(lambda: X.fwd(q, k, v, bi))
                    line(f"D{D} fwd {tag:13s} w{warps} s{stages} {ms:8.3f} ms  diff {diff:.1e}")
                except Exception as e:  # noqa: BLE001
                    line(f"D{D} fwd {tag:13s} w{warps} s{stages} FAILED {type(e).__name__}: {str(e)[:100]}")
        for dq_w in (4, 8):
            for dkv_w in (4, 8):
                X.restore()
                X.bw.dq_tile = lambda *a, _w=dq_w, **kw: X.ORIG["dq_tile"](*a, **kw)._replace(num_warps=_w)
                X.bw.dkv_tile = lambda *a, _w=dkv_w, **kw: X.ORIG["dkv_tile"](*a, **kw)._replace(num_warps=_w)
                line(X.time_backward_variant(f"D{D}", f"{tag} dq w{dq_w} dkv w{dkv_w}", q, k, v, bi, do,
                                             out_ref, lse_ref, grads_ref))
        X.restore()
        if X.DEV == "cuda":
            X.kernel_profile(lambda: X.bwd(q, k, v, bi, do, out_ref, lse_ref), f"D{D} backward default ({tag})")
    configs.SPLIT_HEAD_DIM = True
    X.print_summary(table)


if __name__ == "__main__":
    main()
