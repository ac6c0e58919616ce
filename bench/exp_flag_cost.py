"""Where do the multi-token kernels' 0.13 ms (G16 fwd 16k random) go? Per-kernel CUDA times
(torch.profiler, 10 calls after warm-up) of the G16 op, forward and fwd+bwd, with the
multi-token kernels on and off (``configs.shared_tile`` patched as in exp_shared_off.py).
If the shared kernels' own time is the cost, a cheaper way to decide the tiles pays; if the
token kernels run slower with SKIP_SHARED (the flag load), it does not.

    python bench/exp_flag_cost.py [T=16384] [dist=random]
"""
from __future__ import annotations

import os
import sys

import torch
from torch.profiler import ProfilerActivity, profile

import nsa_ops
from nsa_ops.selections import local_selection, random_selection

sys.path.insert(0, os.path.dirname(__file__))
from exp_shared_off import set_shared  # noqa: E402

N = 10


def kernel_times(step):
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(N):
            step()
        torch.cuda.synchronize()
    evs = [e for e in prof.key_averages() if e.device_time_total > 0]
    return {e.key: (e.device_time_total / N / 1e3, e.count // N) for e in evs}


def main():
    cases = [("16384", "random"), ("65536", "random"), ("16384", "local")]
    opts = dict(a.split("=") for a in sys.argv[1:] if "=" in a)
    if opts:
        cases = [(opts.get("T", "16384"), opts.get("dist", "random"))]
    summary = []
    for T, dist in cases:
        T = int(T)
        select = {"random": random_selection, "local": local_selection}[dist]
        g = torch.Generator(device="cuda").manual_seed(0)
        q, k, v = (torch.randn(1, T, n, 128, device="cuda", dtype=torch.bfloat16, generator=g).requires_grad_()
                   for n in (64, 4, 4))
        bi = select(1, T, 4, 16, 64, device="cuda", generator=g)
        do = torch.randn(1, T, 64, 128, device="cuda", dtype=torch.bfloat16, generator=g)
        for kind in ("fwd", "fwd+bwd"):
            def step():
                if kind == "fwd":
                    with torch.no_grad():
                        nsa_ops.selection_attention(q, k, v, bi)
                else:
                    o = nsa_ops.selection_attention(q, k, v, bi)
                    torch.autograd.grad(o, (q, k, v), do)
            for on in (True, False, True, False):
                set_shared(on)
                times = kernel_times(step)
                total = sum(t for t, _ in times.values())
                tag = f"G16 T={T} {dist} {kind} shared {'on ' if on else 'off'}"
                print(f"\n== {tag}: GPU total {total:.3f} ms per call")
                for key, (t, c) in sorted(times.items(), key=lambda kv: -kv[1][0])[:10]:
                    print(f"  {t:8.3f} ms  x{c:<3d} {key[:90]}")
                summary.append(f"{tag}: total {total:.3f}; " + ", ".join(
                    f"{key.split('(')[0][-28:]} {t:.3f}" for key, (t, _) in
                    sorted(times.items(), key=lambda kv: -kv[1][0])[:4]))
            set_shared(True)
    print("\n==== summary ====")
    for line in summary:
        print(line)


if __name__ == "__main__":
    main()
