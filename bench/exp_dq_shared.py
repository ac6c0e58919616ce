"""The G16 backward with the raw-index dQ and the multi-token (shared K/V) dQ kernel, against
the former prepared-index dQ, with delta fused into the dQ kernels or from its own kernel, and
the shared kernel's warps / stages (local selection only), on the TARGETS.md shapes (B=1, D=Dv=128, S=16x64, bf16) and both
selections of the bench (random, local). Per variant: the backward op's time (do_bench median,
index preparation included where the variant needs it), bitwise run-to-run equality and the
largest difference from the prepared-index result (relative to its largest entry).

    python bench/exp_dq_shared.py [T=16384,65536] [--profile]
"""
from __future__ import annotations

import sys

import torch
from triton.testing import do_bench

import nsa_ops  # noqa: F401  (registers the ops)
from nsa_ops.indices import prepare_index
from nsa_ops.kernels import backward as bw
from nsa_ops.kernels.backward import selection_backward, selection_delta
from nsa_ops.kernels.csr import build_entry_csr
from nsa_ops.selections import local_selection, random_selection

from exp_backward import kernel_profile, print_summary, rel_diff

SCALE = 128 ** -0.5
ORIG_SHARED = bw.shared_tile
HQ, H, BS, S = 64, 4, 64, 16


def problem(T, dist):
    g = torch.Generator(device="cuda").manual_seed(0)
    q, k, v = (torch.randn(1, T, n, 128, device="cuda", dtype=torch.bfloat16, generator=g) for n in (HQ, H, H))
    make = random_selection if dist == "random" else local_selection
    bi = make(1, T, H, S, BS, device="cuda", generator=g)
    do = torch.randn(1, T, HQ, 128, device="cuda", dtype=torch.bfloat16, generator=g)
    return q, k, v, bi, do


def variants(q, k, v, bi, do, out, lse, dist):
    T = q.shape[1]
    NB = T // BS
    dlse = torch.zeros_like(lse)

    def prepared():
        delta = selection_delta(do, out, dlse)
        idx = prepare_index(bi, None, BS, T, T, None, None)
        csr = build_entry_csr(idx.sel, None, BS, T, NB, prepared=True)
        return selection_backward(do, q, k, v, lse, delta, idx.q_last, idx.block_start, csr, BS, SCALE,
                                  sel=idx.sel, cnt=idx.cnt)

    def raw(shared, fuse, tile=None):
        def run():
            bw.shared_tile = ORIG_SHARED if tile is None else (lambda *a: ORIG_SHARED(*a)._replace(**tile))
            try:
                delta = None if fuse else selection_delta(do, out, dlse)
                csr = build_entry_csr(bi, None, BS, T, NB)
                q_last = torch.arange(0, T, device="cuda", dtype=torch.int32)
                block_start = torch.arange(0, NB * BS, BS, device="cuda", dtype=torch.int32)
                return selection_backward(do, q, k, v, lse, delta, q_last, block_start, csr, BS, SCALE,
                                          raw=(bi, None), use_shared=shared, out=out, dlse=dlse)
            finally:
                bw.shared_tile = ORIG_SHARED
        return run

    def op():
        return torch.ops.nsa.selection_backward(do, q, k, v, out, lse, dlse, bi, None, BS, SCALE, None, None,
                                                "triton")

    runs = [("prepared index, delta kernel", prepared), ("raw, no shared, delta kernel", raw(False, False)),
            ("raw + shared, delta kernel", raw(True, False)), ("raw + shared, fused delta", raw(True, True)),
            ("op (default)", op)]
    if dist == "local":
        runs += [(f"shared w{w} s{st}, fused delta", raw(True, True, dict(num_warps=w, num_stages=st)))
                 for w, st in ((8, 2), (4, 1), (4, 3))]
    return runs


def main():
    Ts = [int(t) for t in dict(a.split("=") for a in sys.argv[1:] if "=" in a).get("T", "16384,65536").split(",")]
    table = []
    for T in Ts:
        for dist in ("random", "local"):
            q, k, v, bi, do = problem(T, dist)
            out, lse = torch.ops.nsa.selection(q, k, v, bi, None, BS, SCALE, None, None, "triton")
            ref = None
            for label, fn in variants(q, k, v, bi, do, out, lse, dist):
                try:
                    g1 = fn()
                    g2 = fn()
                    same = all(torch.equal(a, b) for a, b in zip(g1, g2))
                    ref = ref or [x.clone() for x in g1]
                    diff = rel_diff(g1, ref)
                    ms = do_bench(fn, warmup=25, rep=200, return_mode="median")
                    line = (f"G16 T={T} {dist:6s} bwd {label:32s} {ms:8.3f} ms  diff {diff:.1e}  "
                            f"{'bitwise-same' if same else 'NOT-DETERMINISTIC'}")
                except Exception as e:  # noqa: BLE001
                    line = f"G16 T={T} {dist:6s} bwd {label:32s} FAILED {type(e).__name__}: {str(e)[:160]}"
                print(line, flush=True)
                table.append(line)
                if "--profile" in sys.argv and label == "op (default)":
                    kernel_profile(fn, f"T={T} {dist} raw + shared")

            def fwd_bwd():
                qq, kk, vv = (x.detach().requires_grad_() for x in (q, k, v))
                o = nsa_ops.selection_attention(qq, kk, vv, bi, block_size=BS)
                return torch.autograd.grad(o, (qq, kk, vv), do)
            with nsa_ops.use_backend("triton"):
                ms = do_bench(fwd_bwd, warmup=10, rep=100, return_mode="median")
            line = f"G16 T={T} {dist:6s} fwd+bwd (selection_attention)  {ms:8.3f} ms"
            print(line, flush=True)
            table.append(line)
            q = k = v = bi = do = out = lse = ref = None
            torch.cuda.empty_cache()
    print_summary(table)


if __name__ == "__main__":
    main()
