"""What each compiled nsa_ops kernel became: registers, spills, shared memory, warps, stages,
and whether its dots are Hopper warp-group MMAs (wgmma) or mma.sync. Runs the TARGETS.md
fwd+bwd shapes named on the command line once (G16 G4 G1 D192; T=16k, random), then walks
Triton's compile caches.

    python bench/exp_inspect.py G16 G4 D192
"""
from __future__ import annotations

import sys

import torch

import nsa_ops
from nsa_ops import kernels
from nsa_ops.selections import random_selection

SHAPES = {"G16": (64, 4, 128), "G4": (32, 8, 128), "G1": (16, 16, 128), "D192": (64, 4, 192)}


def run_shape(name: str, T: int) -> None:
    HQ, H, D = SHAPES[name]
    g = torch.Generator(device="cuda").manual_seed(0)
    q = torch.randn(1, T, HQ, D, device="cuda", dtype=torch.bfloat16, generator=g).requires_grad_()
    k = torch.randn(1, T, H, D, device="cuda", dtype=torch.bfloat16, generator=g).requires_grad_()
    v = torch.randn(1, T, H, 128, device="cuda", dtype=torch.bfloat16, generator=g).requires_grad_()
    bi = random_selection(1, T, H, 16, 64, device="cuda", generator=g)
    o = nsa_ops.selection_attention(q, k, v, bi)
    torch.autograd.grad(o, (q, k, v), torch.randn_like(o))
    torch.cuda.synchronize()


def jit_functions():
    import importlib
    import pkgutil

    from triton.runtime.jit import JITFunction

    for mod_info in pkgutil.iter_modules(kernels.__path__):
        mod = importlib.import_module(f"{kernels.__name__}.{mod_info.name}")
        for attr, obj in vars(mod).items():
            if isinstance(obj, JITFunction):
                yield attr, obj


def main():
    T = 16384
    for name in [a for a in sys.argv[1:] if "=" not in a] or ["G16", "G4", "D192"]:
        run_shape(name, T)
    rows = []
    for attr, fn in jit_functions():
        for dev_cache in getattr(fn, "device_caches", {}).values():
            cache = dev_cache[0]
            for compiled in cache.values():
                md = compiled.metadata
                ttgir = compiled.asm.get("ttgir", "")
                wgmma = ttgir.count("warp_group_dot")
                mma = ttgir.count("tt.dot ")
                rows.append((attr, md.num_warps, md.num_stages, getattr(compiled, "n_regs", -1),
                             getattr(compiled, "n_spills", -1), md.shared, wgmma, mma))
    print(f"{'kernel':40s} {'warps':>5s} {'stages':>6s} {'regs':>5s} {'spills':>6s} {'smem':>7s} "
          f"{'wgmma':>5s} {'mma':>4s}")
    for r in sorted(rows):
        print(f"{r[0]:40s} {r[1]:5d} {r[2]:6d} {r[3]:5d} {r[4]:6d} {r[5]:7d} {r[6]:5d} {r[7]:4d}")


if __name__ == "__main__":
    main()
