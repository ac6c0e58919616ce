"""Session 16: the small-G dq partials from a second launch of the dK/dV pieces
(``configs.dq_split_tiles``), timed as whole fwd+bwd ops interleaved in one process
(``exp_token.run_op_variants``; gradients compared with the first variant's, the output with
the float64 reference).

Why: with the dq partials in the same launch, the G4 dK/dV kernel holds dk, dv and the
[rows, D] dq product at once: 8 warps, 255 registers, ~290 B of spills, one program per SM
(Nsight run 80b: 4.36 ms, 27% SM, latency-bound), while the G16 launch without dq partials
reaches ~280 TFLOP/s on 4 warps. Split, each launch carries one set of accumulators (G4: dq
alone 255 regs / 40 B spills on 4 warps; G1: 164 regs, none) at the price of recomputing
the scores and dP and gathering q / dO twice.

A variant is ``{"split": (dkv overrides, dq overrides)}`` of the shipped ``configs.dkv_tile``
(``KVTile`` fields); ``{}`` is the shipped single launch.

    python bench/exp_split_dq.py [filter ...]
"""
from __future__ import annotations

import os
import sys

from nsa_ops.kernels import backward as bwd

sys.path.insert(0, os.path.dirname(__file__))
from exp_token import run_op_variants  # noqa: E402

REAL = dict(dkv=bwd.dkv_tile, split=bwd.dq_split_tiles)


def reset() -> None:
    bwd.dkv_tile, bwd.dq_split_tiles = REAL["dkv"], REAL["split"]


def apply(variant: dict) -> str:
    reset()
    if "split" in variant:
        a, b = variant["split"]
        bwd.dq_split_tiles = lambda *x, **k: (REAL["dkv"](*x, **k)._replace(**a), REAL["dkv"](*x, **k)._replace(**b))
    return " ".join(f"{n}={v}" for n, v in variant.items()) or "shipped"


def t(rows, warps, stages, **more):
    return dict(rows=rows, num_warps=warps, num_stages=stages, **more)


def runs() -> list:
    new = {}
    g4 = [new,
          {"split": (t(64, 4, 2), t(64, 4, 2))},
          {"split": (t(64, 8, 3), t(64, 4, 2))},
          {"split": (t(64, 4, 2), t(128, 8, 2))},
          {"split": (t(64, 8, 3), t(128, 8, 2))},
          {"split": (t(64, 4, 2), t(64, 4, 3))},
          new]
    g1 = [new,
          {"split": (t(128, 8, 2, prefetch_ids=False), t(128, 8, 2, prefetch_ids=False))},
          {"split": (t(64, 4, 2, prefetch_ids=False), t(64, 4, 2, prefetch_ids=False))},
          {"split": (t(128, 8, 2), t(64, 4, 3, prefetch_ids=False))},
          new]
    return [(("fwd+bwd G4 T=16k", "random"), g4), (("fwd+bwd G1 T=16k", "random"), g1),
            (("fwd+bwd G8 T=16k", "random"), g4[:5]), (("fwd+bwd G4 T=64k", "random"), g4[:5]),
            (("fwd+bwd G1 T=64k", "random"), g1[:4])]


def main():
    run_op_variants(runs(), apply, reset)


if __name__ == "__main__":
    main()
