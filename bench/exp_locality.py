"""How much of each kernel's time is waiting on memory? Per-kernel CUDA time (torch.profiler)
of one forward and one backward op call at T=16k (random selection, bf16), run three ways:

- ``real``: the inputs as they are;
- ``kv_hot``: k and v replaced by stride-0 views of one token (``k[:, :1].expand(...)``): every
  K/V load hits the same 256 bytes, so the token forward and the token dQ run at their
  compute/latency floor, with no L2 traffic for K/V;
- ``q_hot``: q and dO replaced the same way: the gathers of the KV-centric kernels (the small-G
  forward gather, dK/dV) always hit.

The outputs of the hot runs are meaningless; only their times are read. The gap between
``real`` and a hot run bounds what any reuse scheme (sharing K/V loads across tokens, ordering
work so gathered rows stay in L2) could save in that kernel.

    python bench/exp_locality.py G16 G4
"""
from __future__ import annotations

import os
import sys

import torch

import nsa_ops  # registers torch.ops.nsa

sys.path.insert(0, os.path.dirname(__file__))
from exp_backward import kernel_times, print_summary  # noqa: E402

SHAPES = {"G16": (64, 4), "G4": (32, 8), "G1": (16, 16)}


def hot(x):
    return x[:, :1].expand(x.shape)


def main():
    T = int(dict(a.split("=") for a in sys.argv[1:] if "=" in a).get("T", 16384))
    lines = []
    for name in [a for a in sys.argv[1:] if "=" not in a] or ["G16", "G4"]:
        HQ, H = SHAPES[name]
        g = torch.Generator(device="cuda").manual_seed(0)
        q, k, v, do = (torch.randn(1, T, n, 128, device="cuda", dtype=torch.bfloat16, generator=g)
                       for n in (HQ, H, H, HQ))
        bi = nsa_ops.selections.random_selection(1, T, H, 16, 64, device="cuda", generator=g)
        scale = 128 ** -0.5
        table = {}
        for variant in ("real", "kv_hot", "q_hot"):
            qq, kk, vv, dd = q, k, v, do
            if variant == "kv_hot":
                kk, vv = hot(k), hot(v)
            if variant == "q_hot":
                qq, dd = hot(q), hot(do)
            fwd = lambda: torch.ops.nsa.selection.default(qq, kk, vv, bi, None, 64, scale, None, None, "triton")
            out, lse = fwd()
            dlse = torch.zeros_like(lse)
            bwd = lambda: torch.ops.nsa.selection_backward.default(dd, qq, kk, vv, out, lse, dlse, bi, None, 64,
                                                                   scale, None, None, "triton")
            for kind, fn in (("fwd", fwd), ("bwd", bwd)):
                for key, (ms, _count) in kernel_times(fn, reps=5).items():
                    if ms >= 0.05:
                        table.setdefault((kind, key[:40]), {})[variant] = ms
        lines.append(f"\n== {name} T={T} random, per-kernel ms (real / kv_hot / q_hot)")
        for (kind, key), row in sorted(table.items(), key=lambda kv: (kv[0][0], -kv[1].get("real", 0))):
            cells = "  ".join(f"{row.get(v, float('nan')):7.3f}" for v in ("real", "kv_hot", "q_hot"))
            lines.append(f"  {kind:3s} {key:40s} {cells}")
        print("\n".join(lines[-len(table) - 1:]), flush=True)
    print_summary(lines)


if __name__ == "__main__":
    main()
