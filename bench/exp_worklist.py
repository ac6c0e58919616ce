"""The multi-token (shared K/V) kernels walking a work list of the taken tiles, filled by a light
flag kernel, against the op without them (``use_shared=False`` is not reachable from the op, so
"no shared" patches ``shared_tile`` to None), at G16 on the TARGETS.md shapes (B=1,
D=Dv=128, S=16x64, bf16), both selections, and the multi-token kernels' grid (programs) on the
local one. Forward and backward op times (do_bench medians), largest difference from the
default (relative to its largest entry).

    python bench/exp_worklist.py [T=16384,65536] [--profile]
"""
from __future__ import annotations

import sys

import torch
from triton.testing import do_bench

import nsa_ops  # noqa: F401  (registers the ops)
from nsa_ops.kernels import backward as bw
from nsa_ops.kernels import forward as fw
from nsa_ops.selections import local_selection, random_selection

from exp_backward import kernel_profile, print_summary, rel_diff

SCALE = 128 ** -0.5
HQ, H, BS, S = 64, 4, 64, 16
ORIG = fw.shared_tile


def use_tile(fn):
    fw.shared_tile = bw.shared_tile = fn


def main():
    Ts = [int(t) for t in dict(a.split("=") for a in sys.argv[1:] if "=" in a).get("T", "16384,65536").split(",")]
    table = []
    for T in Ts:
        for dist in ("random", "local"):
            g = torch.Generator(device="cuda").manual_seed(0)
            q, k, v = (torch.randn(1, T, n, 128, device="cuda", dtype=torch.bfloat16, generator=g) for n in (HQ, H, H))
            bi = (random_selection if dist == "random" else local_selection)(1, T, H, S, BS, device="cuda", generator=g)
            do = torch.randn(1, T, HQ, 128, device="cuda", dtype=torch.bfloat16, generator=g)

            def fwd():
                return torch.ops.nsa.selection(q, k, v, bi, None, BS, SCALE, None, None, "triton")

            out, lse = fwd()
            dlse = torch.zeros_like(lse)

            def bwd():
                return torch.ops.nsa.selection_backward(do, q, k, v, out, lse, dlse, bi, None, BS, SCALE, None, None,
                                                        "triton")

            ref_f, ref_b = [x.clone() for x in fwd()], [x.clone() for x in bwd()]
            variants = [("default (work list, 1024 programs)", ORIG), ("no multi-token kernels", lambda *a: None)]
            if dist == "local":
                variants += [(f"work list, {p} programs", lambda *a, _p=p: ORIG(*a)._replace(programs=_p))
                             for p in (264, 528, 2048, 4096)]
            for label, tile_fn in variants:
                use_tile(tile_fn)
                try:
                    for name, fn, ref in (("fwd", fwd, ref_f), ("bwd", bwd, ref_b)):
                        diff = rel_diff(fn(), ref)
                        ms = do_bench(fn, warmup=25, rep=200, return_mode="median")
                        line = f"G16 T={T} {dist:6s} {name} {label:36s} {ms:8.3f} ms  diff {diff:.1e}"
                        print(line, flush=True)
                        table.append(line)
                        if "--profile" in sys.argv and label.startswith("default"):
                            kernel_profile(fn, f"T={T} {dist} {name}")
                except Exception as e:  # noqa: BLE001
                    line = f"G16 T={T} {dist:6s} {label:36s} FAILED {type(e).__name__}: {str(e)[:160]}"
                    print(line, flush=True)
                    table.append(line)
                finally:
                    use_tile(ORIG)
            q = k = v = bi = do = out = lse = ref_f = ref_b = None
            torch.cuda.empty_cache()
    print_summary(table)


if __name__ == "__main__":
    main()
