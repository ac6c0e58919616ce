"""Per-kernel CUDA time of one nsa_ops forward and fwd+bwd call (torch.profiler), for the
TARGETS.md shapes picked on the command line: where does the time go?

    python bench/profile_ops.py G1 G4 G16 D192       # T=16k, random selection
    python bench/profile_ops.py G16 T=65536 dist=local
    python bench/profile_ops.py G4 T=65536 kinds=fwd grad=0   # the inference forward (no gradients)
    python bench/profile_ops.py G16 sched=kv                   # forced forward schedule (configs.forward_schedule)
"""
from __future__ import annotations

import sys

import torch
from torch.profiler import ProfilerActivity, profile

import nsa_ops
from nsa_ops.selections import local_selection, random_selection

SHAPES = {"G16": (64, 4, 128), "G4": (32, 8, 128), "G1": (16, 16, 128), "D192": (64, 4, 192)}


def main():
    opts = dict(a.split("=") for a in sys.argv[1:] if "=" in a)
    if "sched" in opts:
        from nsa_ops.kernels import configs, forward

        forward.forward_schedule = configs.forward_schedule = lambda *a, s=opts["sched"]: s
    T = int(opts.get("T", 16384))
    select = {"random": random_selection, "local": local_selection}[opts.get("dist", "random")]
    for name in [a for a in sys.argv[1:] if "=" not in a] or list(SHAPES):
        HQ, H, D = SHAPES[name]
        g = torch.Generator(device="cuda").manual_seed(0)
        q, k, v = (torch.randn(1, T, n, d, device="cuda", dtype=torch.bfloat16, generator=g)
                   for n, d in ((HQ, D), (H, D), (H, 128)))
        bi = select(1, T, H, 16, 64, device="cuda", generator=g)
        if opts.get("grad", "1") == "1":
            q, k, v = (x.requires_grad_() for x in (q, k, v))
        for kind in opts.get("kinds", "fwd,fwd+bwd").split(","):
            def step():
                o = nsa_ops.selection_attention(q, k, v, bi)
                if kind != "fwd":
                    torch.autograd.grad(o, (q, k, v), torch.ones_like(o))
            for _ in range(3):
                step()
            torch.cuda.synchronize()
            with profile(activities=[ProfilerActivity.CUDA]) as prof:
                for _ in range(5):
                    step()
                torch.cuda.synchronize()
            evs = [e for e in prof.key_averages() if e.device_time_total > 0]
            evs.sort(key=lambda e: -e.device_time_total)
            total = sum(e.device_time_total for e in evs) / 5 / 1e3
            print(f"\n== {name} T={T} {opts.get('dist', 'random')} {kind}: GPU total {total:.3f} ms per call")
            for e in evs[:14]:
                print(f"  {e.device_time_total / 5 / 1e3:8.3f} ms  x{e.count // 5:<3d} {e.key[:90]}")


if __name__ == "__main__":
    main()
