"""H100 sweep: token-centric forward (raw indices vs prepared index) and its warps/stages,
G16 and G8, D=128, S=16x64, T=16k, bf16. Prints ms (do_bench median)."""
import torch
from triton.testing import do_bench

from nsa_ops.indices import prepare_index
from nsa_ops.kernels import forward as fw
from nsa_ops.kernels.configs import forward_tile
from nsa_ops.selections import random_selection

T, D, S, bs = 16384, 128, 16, 64
rows = []
for HQ, H in ((64, 4), (32, 4)):
    g = torch.Generator(device="cuda").manual_seed(0)
    q = torch.randn(1, T, HQ, D, device="cuda", dtype=torch.bfloat16, generator=g)
    k = torch.randn(1, T, H, D, device="cuda", dtype=torch.bfloat16, generator=g)
    v = torch.randn(1, T, H, D, device="cuda", dtype=torch.bfloat16, generator=g)
    bi = random_selection(1, T, H, S, bs, device="cuda", generator=g)
    scale = D ** -0.5
    ref, _ = fw.selection_forward(q, k, v, *prepare_index(bi, None, bs, T, T), bs, scale)

    def prepared():
        idx = prepare_index(bi, None, bs, T, T)
        return fw.selection_forward(q, k, v, *idx, bs, scale)

    rows.append((f"G{HQ // H} prepared+kernel", do_bench(prepared, warmup=50, rep=300, return_mode="median")))
    rows.append((f"G{HQ // H} prepare_index only", do_bench(lambda: prepare_index(bi, None, bs, T, T), warmup=50, rep=300, return_mode="median")))
    base = forward_tile(HQ // H, D, D, bs)
    for warps in (4, 8):
        for stages in (1, 2, 3):
            tile = base._replace(num_warps=warps, num_stages=stages)
            fn = lambda: fw._launch_token_forward(q, k, v, bi, bi, bi, bi, bs, scale, raw=True, has_counts=False, tile=tile)
            try:
                out, _ = fn()
                err = (out.float() - ref.float()).abs().max().item()
                rows.append((f"G{HQ // H} raw w{warps} s{stages}{' (table)' if tile == base else ''} err={err:.1e}",
                             do_bench(fn, warmup=50, rep=300, return_mode="median")))
            except Exception as e:
                rows.append((f"G{HQ // H} raw w{warps} s{stages} failed {type(e).__name__}", float("nan")))
for name, ms in rows:
    print(f"{name:45s} {ms:8.3f} ms")
