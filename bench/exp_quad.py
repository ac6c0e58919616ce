"""Four-token forward experiment (kernels/forward.py ``_selection_fwd_quad_kernel``) against the
shipped token-centric pair (shared-K/V kernel + token kernel): G16 (HQ=64/H=4) and G8
(HQ=32/H=4), T=16k and 64k, bf16, random and local selections. Per row: forward ms (do_bench
median), the largest difference between the two (relative to the largest entry), and the
warps x stages of the four-token tile.

    python bench/exp_quad.py
"""
from __future__ import annotations

import itertools

import torch
from triton.testing import do_bench

import nsa_ops  # noqa: F401
from nsa_ops.kernels import configs
from nsa_ops.kernels import forward as fw
from nsa_ops.selections import local_selection, random_selection


def main():
    table = []
    orig = configs.quad_tile
    for (HQ, H), T, dist in itertools.product(((64, 4), (32, 4)), (16384, 65536), ("random", "local")):
        if HQ == 32 and T == 65536:
            continue
        g = torch.Generator(device="cuda").manual_seed(0)
        q = torch.randn(1, T, HQ, 128, device="cuda", dtype=torch.bfloat16, generator=g)
        k, v = (torch.randn(1, T, H, 128, device="cuda", dtype=torch.bfloat16, generator=g) for _ in range(2))
        pick = random_selection if dist == "random" else local_selection
        bi = pick(1, T, H, 16, 64, device="cuda", generator=g)

        def run():
            return torch.ops.nsa.selection(q, k, v, bi, None, 64, 128 ** -0.5, None, None, "triton")

        name = f"G{HQ // H} T={T // 1024}k {dist:6s}"
        configs.QUAD_FORWARD = False
        ref = run()[0].float()
        ms = do_bench(run, warmup=25, rep=200, return_mode="median")
        table.append(f"{name} token+shared        {ms:8.3f} ms")
        print(table[-1], flush=True)
        configs.QUAD_FORWARD = True
        for warps, stages in ((4, 2), (4, 3), (8, 2)):
            fw.quad_tile = lambda *a, _w=warps, _s=stages, **kw: (
                None if orig(*a, **kw) is None else orig(*a, **kw)._replace(num_warps=_w, num_stages=_s))
            try:
                out = run()[0].float()
                diff = ((out - ref).abs().max() / ref.abs().max()).item()
                ms = do_bench(run, warmup=25, rep=200, return_mode="median")
                table.append(f"{name} four-token w{warps} s{stages} {ms:8.3f} ms  diff {diff:.1e}")
            except Exception as e:  # noqa: BLE001
                table.append(f"{name} four-token w{warps} s{stages} FAILED {type(e).__name__}: {str(e)[:100]}")
            print(table[-1], flush=True)
        fw.quad_tile = orig
    print("\n==== summary ====")
    for line in table:
        print(line)


if __name__ == "__main__":
    main()
