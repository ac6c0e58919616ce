"""The token kernels' warp and stage choices (``configs.forward_tile`` / ``dq_tile``) at op level.

``bench/exp_warps.py`` (run 66) measured the token forward and dQ kernels alone: on the TMA path
a 16-row tile ran fastest with one warp and two stages (forward) and two warps and three stages
(dQ), against four warps and three stages before. Here the whole op (with the multi-token
kernels, the CSR, dK/dV) runs with the former and the new choices in one process, on the G16
TARGETS.md rows, G8 and D=192 (whose tiles did not change: the control), and the pointer path
(compiled graphs) is swept for the same choices. Outputs and gradients are compared with the
float64-checked former choice (max-abs).

    python bench/exp_tiles_op.py [filter ...]
"""
from __future__ import annotations

import os
import sys

import torch

from nsa_ops import bench as B
from nsa_ops.kernels import backward as bwd
from nsa_ops.kernels import forward as fwd
from nsa_ops.kernels import tma

sys.path.insert(0, os.path.dirname(__file__))
from exp_backward import print_summary  # noqa: E402
from exp_token import experiment  # noqa: E402

REAL_FWD, REAL_DQ = fwd.forward_tile, bwd.dq_tile


def patched(real, ws, only_tma):
    """``real`` with (warps, stages) = ws for 16-row tiles of one head-dim piece (G <= 16, D <= 128)."""
    def tile(*a, **kw):
        t = real(*a, **kw)
        if ws is None or t.block_g != 16 or t.block_d2 or (only_tma and not kw.get("tma")):
            return t
        return t._replace(num_warps=ws[0], num_stages=ws[1])
    return tile


def main():
    dev, l2, timer, cases, only = experiment()
    table = []
    cases["fwd+bwd G8 T=16k"] = B.Case("fwd+bwd G8 T=16k", "fwd+bwd", 1, 16384, 16384, 32, 4)
    runs = [("fwd G16 T=16k", "random"), ("fwd G16 T=16k", "local"), ("fwd G16 T=64k", "random"),
            ("fwd+bwd G16 T=16k", "random"), ("fwd+bwd G16 T=16k", "local"), ("fwd+bwd G16 T=64k", "random"),
            ("fwd+bwd G16 T=64k", "local"), ("fwd+bwd G8 T=16k", "random"), ("fwd+bwd G8 T=16k", "local"),
            ("fwd+bwd G16 D=192 T=16k", "random")]
    # (tag, USE_TMA, forward (warps, stages) or None = shipped, dQ likewise)
    variants = [("tma former w4s3/w4s3", True, (4, 3), (4, 3)), ("tma shipped", True, None, None),
                ("tma w2s3/w2s3", True, (2, 3), (2, 3)), ("ptr shipped", False, None, None),
                ("ptr w1s2/w2s2", False, (1, 2), (2, 2)), ("ptr w2s2/w2s3", False, (2, 2), (2, 3))]
    for name, dist in runs:
        if only and not any(o in f"{name} {dist}" for o in only):
            continue
        case = cases[name]
        copies = B.input_copies(case, dist, torch.bfloat16, dev, l2)
        fn = B._nsa_ops(case)
        ref = None
        for tag, use_tma, f_ws, d_ws in variants:
            if name.startswith("fwd G16") and tag.startswith("ptr"):
                continue
            tma.USE_TMA = use_tma
            fwd.forward_tile = patched(REAL_FWD, f_ws, use_tma)
            bwd.dq_tile = patched(REAL_DQ, d_ws, use_tma)
            try:
                x = copies[0]
                q, k, v = (t.detach().clone().requires_grad_() for t in (x.q, x.k, x.v))
                out = fn(B.dataclasses.replace(x, q=q, k=k, v=v))
                got = (out.detach(),) + (torch.autograd.grad(out, (q, k, v), torch.ones_like(out))
                                         if case.kind == "fwd+bwd" else ())
                ref = got if ref is None else ref
                ref_err = B.check_rows(case, x, out.detach())[0]
                err = max((a.float() - b.float()).abs().max().item() for a, b in zip(got, ref))
                ms = timer(B.cycling([B._runner(fn, case.kind, c) for c in copies]))
                table.append(f"{name:24s} {dist:6s} {tag:22s}: {ms:8.3f} ms   max|diff| vs former {err:.2e}"
                             f"  out vs float64 {ref_err:.1e}")
            except Exception as ex:  # noqa: BLE001 -- an experiment: report and go on
                table.append(f"{name:24s} {dist:6s} {tag:22s}: FAILED {type(ex).__name__}: {str(ex)[:150]}")
            print(table[-1], flush=True)
        tma.USE_TMA = True
        fwd.forward_tile, bwd.dq_tile = REAL_FWD, REAL_DQ
        copies = ref = None
        torch.cuda.empty_cache()
    print_summary(table)


if __name__ == "__main__":
    main()
