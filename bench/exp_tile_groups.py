"""Tiles per program of the multi-token kernels (``SharedTile.tiles_per_program``, decided
together by ``primitives.claim_tile_group``): 1 (one program per tile, the former grid), 4 and 8,
and the multi-token kernels off, interleaved twice in one process on the G16 random and local
rows. Outputs and gradients compared with the first variant (max-abs).

    python bench/exp_tile_groups.py [filter ...]

Run 78 (H100, 2026-11-23; ``results/h100_2026-11-23_run78_tile_groups.log``): more tiles per
program lost everywhere (fwd 16k random 3.48 / 3.55 / 3.59 for 1 / 4 / 8, off 3.35; local 2.19 /
2.46 / 2.48), and the grouped kernel with one tile per program was slower on local than the
former grid. The kernels were reverted (the code is in the commit before the revert), so the
``tiles_per_program`` field this script patches no longer exists; kept as the record.
"""
from __future__ import annotations

import os
import sys

import torch

from nsa_ops import bench as B
from nsa_ops.kernels import backward as bwd
from nsa_ops.kernels import forward as fwd

sys.path.insert(0, os.path.dirname(__file__))
from exp_backward import print_summary  # noqa: E402
from exp_token import experiment  # noqa: E402

REAL = fwd.shared_tile, bwd.shared_tile


def set_rule(mult) -> None:
    """mult None: multi-token kernels off; else mult tiles per program."""
    def rule(real):
        def tile(*a, **k):
            t = real(*a, **k)
            if mult is None or t is None:
                return None
            return t._replace(tiles_per_program=mult)
        return tile
    fwd.shared_tile, bwd.shared_tile = rule(REAL[0]), rule(REAL[1])


def main():
    dev, l2, timer, cases, only = experiment()
    table = []
    runs = [("fwd G16 T=16k", "random"), ("fwd G16 T=64k", "random"), ("fwd+bwd G16 T=16k", "random"),
            ("fwd G16 T=16k", "local"), ("fwd G16 T=64k", "local"), ("fwd+bwd G16 T=16k", "local"),
            ("fwd+bwd G16 T=64k", "random")]
    for name, dist in runs:
        if only and not any(o in f"{name} {dist}" for o in only):
            continue
        case = cases[name]
        copies = B.input_copies(case, dist, torch.bfloat16, dev, l2)
        fn = B._nsa_ops(case)
        ref = None
        for mult in (1, 4, 8, None) * 2:
            set_rule(mult)
            tag = "off" if mult is None else f"{mult} tiles per program"
            try:
                x = copies[0]
                q, k, v = (t.detach().clone().requires_grad_() for t in (x.q, x.k, x.v))
                out = fn(B.dataclasses.replace(x, q=q, k=k, v=v))
                got = (out.detach(),) + (torch.autograd.grad(out, (q, k, v), torch.ones_like(out))
                                         if case.kind == "fwd+bwd" else ())
                ref = got if ref is None else ref
                err = max((a.float() - b.float()).abs().max().item() for a, b in zip(got, ref))
                ref_err = B.check_rows(case, x, out.detach())[0]
                ms = timer(B.cycling([B._runner(fn, case.kind, c) for c in copies]))
                table.append(f"{name:20s} {dist:6s} {tag:26s}: {ms:8.3f} ms   max|diff| vs first {err:.2e}"
                             f"  out vs float64 {ref_err:.1e}")
            except Exception as ex:  # noqa: BLE001 -- an experiment: report and go on
                table.append(f"{name:20s} {dist:6s} {tag:26s}: FAILED {type(ex).__name__}: {str(ex)[:150]}")
            print(table[-1], flush=True)
        set_rule(4)
        del copies
        torch.cuda.empty_cache()
    print_summary(table)


if __name__ == "__main__":
    main()
