"""The one-launch G16 forward (tile + token programs, ``_selection_fwd_fused_kernel``) against
the two-launch form (shared-K/V kernel, then the token-centric kernel) and the token-centric
kernel alone; tile programs started ahead 64 / 256 / 1024. T=16k and 64k, random and local
selections (bf16; the bench's timing: do_bench median, inputs rotated past L2), per-kernel
device times (torch.profiler), registers / spills of the kernels, and the row check against
the float64 reference.

    python bench/exp_one_launch.py ["fwd G16 T=16k" ...]
"""
from __future__ import annotations

import os
import sys

import torch

from nsa_ops import bench as B
from nsa_ops.kernels import configs, forward

sys.path.insert(0, os.path.dirname(__file__))
from exp_backward import kernel_times  # noqa: E402

VARIANTS = {
    "two launches": dict(fused=False),
    "token only": dict(use_shared=False),
    "one launch": dict(fused=True),
    "1L no ticket": dict(fused=True, ticket=False),
    "1L no common": dict(fused=True, common=False),
    "1L no tk no cm": dict(fused=True, ticket=False, common=False),
    "1L tq2 no ticket": dict(fused=True, tokens=2, ticket=False),
    "1L tq2 no tk no cm": dict(fused=True, tokens=2, ticket=False, common=False),
}
TILE_FIELDS = ("ahead", "num_warps", "num_stages", "tokens")


def registers():
    rows = []
    for kern in (forward._selection_fwd_fused_kernel, forward._selection_fwd_kernel,
                 forward._selection_fwd_shared_kernel):
        try:
            for cache in kern.device_caches.values():
                for compiled in cache[0].values():
                    rows.append(f"{kern.fn.__name__}: regs {compiled.n_regs} spills {compiled.n_spills} "
                                f"shared {compiled.metadata.shared}")
        except Exception as exc:  # noqa: BLE001 - informational only
            rows.append(f"{kern.fn.__name__}: ({exc!r})")
    return rows


def main():
    dev = torch.device("cuda")
    l2 = torch.cuda.get_device_properties(dev).L2_cache_size
    timer = B.make_timer(dev, quick=False)
    names = sys.argv[1:] or ["fwd G16 T=16k", "fwd G16 T=64k"]
    cases = [c for c in B.cuda_cases() if c.name in names]
    launch = forward._launch_token_forward
    table = []
    for dist in ("random", "local"):
        for case in cases:
            copies = B.input_copies(case, dist, torch.bfloat16, dev, l2)
            fn = B._nsa_ops(case)
            for variant, opts in VARIANTS.items():
                kw = {k: v for k, v in opts.items() if k not in TILE_FIELDS}
                forward._launch_token_forward = lambda *a, _kw=kw, **k: launch(*a, **{**k, **_kw})
                tile_kw = {k: v for k, v in opts.items() if k in TILE_FIELDS}
                forward.shared_tile = (configs.shared_tile if not tile_kw else
                                       lambda *a, _t=tile_kw: configs.shared_tile(*a) and
                                       configs.shared_tile(*a)._replace(**_t))
                err, fro = B.check_rows(case, copies[0], fn(copies[0]))
                ms = timer(B.cycling([B._runner(fn, case.kind, x) for x in copies]))
                us = {n[:40]: t for n, (t, _c) in kernel_times(lambda: fn(copies[0]), reps=5).items()}
                fwd = sum(t for n, t in us.items() if "_selection_fwd" in n)
                table.append(f"{dist:6s} {case.name:14s} {variant:17s}: {ms:7.3f} ms  (forward kernels "
                             f"{fwd:6.3f})  err {err:.1e} fro {fro:.1e}")
                print(table[-1], flush=True)
            forward._launch_token_forward = launch
            forward.shared_tile = configs.shared_tile
            copies = None
            torch.cuda.empty_cache()
    print("\n".join(registers()))
    print("\n==== summary ====")
    print("\n".join(table))


if __name__ == "__main__":
    main()
