"""Session 18: the token kernels' warps and stages at D=192 (split head 128 + 64), whole op.

At D=128 the 16-row token tiles run fastest on one warp (forward) and two warps (dQ) (runs 66,
67; ``configs._sixteen_row_tile``), but that choice was never measured for split heads: D=192
keeps 4 warps (forward 2 stages, dQ 3). Here the whole op (TMA path, eager) runs with the
shipped and the few-warp choices interleaved in one process; outputs and gradients are compared
with the first variant's and the output with the float64 reference (``exp_token.run_op_variants``).

    python bench/exp_d192.py [filter ...]
"""
from __future__ import annotations

import os
import sys

from nsa_ops.kernels import backward as bwd
from nsa_ops.kernels import forward as fwd

sys.path.insert(0, os.path.dirname(__file__))
from exp_token import run_op_variants  # noqa: E402

REAL_FWD, REAL_DQ = fwd.forward_tile, bwd.dq_tile


def patched(real, ws):
    """``real`` with (warps, stages) = ws for 16-row split-head tiles."""
    def tile(*a, **kw):
        t = real(*a, **kw)
        if ws is None or t.block_g != 16 or not t.block_d2:
            return t
        return t._replace(num_warps=ws[0], num_stages=ws[1])
    return tile


def reset() -> None:
    fwd.forward_tile, bwd.dq_tile = REAL_FWD, REAL_DQ


def apply(variant) -> str:
    f_ws, d_ws = variant
    fwd.forward_tile = patched(REAL_FWD, f_ws)
    bwd.dq_tile = patched(REAL_DQ, d_ws)
    name = lambda ws: "shipped" if ws is None else f"w{ws[0]}s{ws[1]}"  # noqa: E731
    return f"fwd {name(f_ws)} dq {name(d_ws)}"


def main():
    ship = (None, None)
    fwd_runs = [ship, ((1, 2), None), ((2, 2), None), ((1, 3), None), ((2, 3), None), ship, ((1, 2), None)]
    bwd_runs = [ship, (None, (2, 3)), (None, (2, 2)), (None, (2, 4)), (None, (1, 2)), ship, (None, (2, 3))]
    run_op_variants([(("fwd G16 D=192 T=16k", "random"), fwd_runs),
                     (("fwd+bwd G16 D=192 T=16k", "random"), bwd_runs),
                     (("fwd G16 D=192 T=16k", "local"), [ship, ((1, 2), None), ((2, 2), None)]),
                     (("fwd+bwd G16 D=192 T=16k", "local"), [ship, (None, (2, 3)), (None, (2, 2))])],
                    apply, reset)


if __name__ == "__main__":
    main()
