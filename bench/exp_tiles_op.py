"""The token kernels' warp and stage choices (``configs.forward_tile`` / ``dq_tile``) at op level.

``bench/exp_warps.py`` (run 66) measured the token forward and dQ kernels alone: on the TMA path
a 16-row tile ran fastest with one warp and two stages (forward) and two warps and three stages
(dQ), against four warps and three stages before. Here the whole op (with the multi-token
kernels, the CSR, dK/dV) runs with the former and the new choices in one process, on the G16
TARGETS.md rows, G8 and D=192 (whose tiles did not change: the control), and the pointer path
(compiled graphs) is swept for the same choices. Outputs and gradients are compared with the
first variant's (the former choice) and the output with the float64 reference
(``exp_token.run_op_variants``).

    python bench/exp_tiles_op.py [filter ...]
"""
from __future__ import annotations

import os
import sys

from nsa_ops import bench as B
from nsa_ops.kernels import backward as bwd
from nsa_ops.kernels import forward as fwd
from nsa_ops.kernels import tma

sys.path.insert(0, os.path.dirname(__file__))
from exp_token import run_op_variants  # noqa: E402

REAL_FWD, REAL_DQ = fwd.forward_tile, bwd.dq_tile


def patched(real, ws, only_tma):
    """``real`` with (warps, stages) = ws for 16-row tiles of one head-dim piece (G <= 16, D <= 128)."""
    def tile(*a, **kw):
        t = real(*a, **kw)
        if ws is None or t.block_g != 16 or t.block_d2 or (only_tma and not kw.get("tma")):
            return t
        return t._replace(num_warps=ws[0], num_stages=ws[1])
    return tile


VARIANTS = [("tma former w4s3/w4s3", True, (4, 3), (4, 3)), ("tma shipped", True, None, None),
            ("tma w2s3/w2s3", True, (2, 3), (2, 3)), ("ptr shipped", False, None, None),
            ("ptr w1s2/w2s2", False, (1, 2), (2, 2)), ("ptr w2s2/w2s3", False, (2, 2), (2, 3))]
"""(tag, USE_TMA, forward (warps, stages) or None = shipped, dQ likewise)."""


def reset() -> None:
    tma.USE_TMA = True
    fwd.forward_tile, bwd.dq_tile = REAL_FWD, REAL_DQ


def apply(variant) -> str:
    tag, use_tma, f_ws, d_ws = variant
    tma.USE_TMA = use_tma
    fwd.forward_tile = patched(REAL_FWD, f_ws, use_tma)
    bwd.dq_tile = patched(REAL_DQ, d_ws, use_tma)
    return tag


def main():
    # Run 67's G8 row: HQ 32 / H 4 (then on the token-centric forward; since session 15 G8 takes
    # the KV-centric forward and gathered dQ, so these tiles no longer reach it).
    base = B.cuda_cases
    g8 = B.Case("fwd+bwd G8 T=16k", "fwd+bwd", 1, 16384, 16384, 32, 4)
    B.cuda_cases = lambda: [c for c in base() if c.name != g8.name] + [g8]
    runs = [("fwd G16 T=16k", "random"), ("fwd G16 T=16k", "local"), ("fwd G16 T=64k", "random"),
            ("fwd+bwd G16 T=16k", "random"), ("fwd+bwd G16 T=16k", "local"), ("fwd+bwd G16 T=64k", "random"),
            ("fwd+bwd G16 T=64k", "local"), ("fwd+bwd G8 T=16k", "random"), ("fwd+bwd G8 T=16k", "local"),
            ("fwd+bwd G16 D=192 T=16k", "random")]
    # The forward-only rows skip the pointer variants (run 67 timed those on fwd+bwd only).
    run_op_variants([(run, [v for v in VARIANTS if not (run[0].startswith("fwd G16") and v[0].startswith("ptr"))])
                     for run in runs], apply, reset)


if __name__ == "__main__":
    main()
