"""Sweep the KV-centric forward's gather tile (rows, warps, stages) on the TARGETS.md small-G
shapes (B=1, T=16k, D=Dv=128, S=16x64, bf16, random selection); prints ms per variant.

    python bench/sweep_kv.py
    python bench/sweep_kv.py --combine   # the combine's shape instead (elements x columns)
"""
from __future__ import annotations

import sys

import torch
from triton.testing import do_bench

from nsa_ops.kernels.configs import KVForwardTile, forward_kv_tile
from nsa_ops.kernels.forward_kv import selection_forward_kv
from nsa_ops.selections import random_selection


def main():
    for name, HQ, H in (("G1", 16, 16), ("G4", 32, 8)):
        T = 16384
        g = torch.Generator(device="cuda").manual_seed(0)
        q, k, v = (torch.randn(1, T, n, 128, device="cuda", dtype=torch.bfloat16, generator=g) for n in (HQ, H, H))
        bi = random_selection(1, T, H, 16, 64, device="cuda", generator=g)
        base = forward_kv_tile(HQ // H, 128, 128, 64)
        ref, _ = selection_forward_kv(q, k, v, bi, None, 64, 0.088)
        if "--combine" in sys.argv:
            for elems, cols in ((8192, 0), (8192, 64), (4096, 64), (16384, 64), (4096, 0)):
                tile = base._replace(combine_elems=elems, combine_cols=cols)
                out, _ = selection_forward_kv(q, k, v, bi, None, 64, 0.088, tile=tile)
                same = (out.float() - ref.float()).abs().max().item()
                ms = do_bench(lambda: selection_forward_kv(q, k, v, bi, None, 64, 0.088, tile=tile),
                              warmup=25, rep=100, return_mode="median")
                print(f"{name} combine {elems} x {cols or 'all'}: {ms:.3f} ms (max diff vs default {same:.1e})",
                      flush=True)
            continue
        for rows in (64, 128):
            for warps in (4, 8):
                for stages in (1, 2, 3):
                    for piece in (base.piece_tokens, 1024):
                        tile = KVForwardTile(rows, 128, 128, warps, stages, piece)
                        try:
                            out, _ = selection_forward_kv(q, k, v, bi, None, 64, 0.088, tile=tile)
                            same = (out.float() - ref.float()).abs().max().item()
                            ms = do_bench(lambda: selection_forward_kv(q, k, v, bi, None, 64, 0.088, tile=tile),
                                          warmup=25, rep=100, return_mode="median")
                            print(f"{name} rows={rows} warps={warps} stages={stages} piece={piece}: {ms:.3f} ms"
                                  f" (max diff vs default {same:.1e})", flush=True)
                        except Exception as e:  # a tile that does not fit
                            print(f"{name} rows={rows} warps={warps} stages={stages}: {type(e).__name__}", flush=True)


if __name__ == "__main__":
    main()
