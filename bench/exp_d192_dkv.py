"""Session 27: the G16 D=192 backward's tiles, searched jointly (whole op, fwd+bwd).

At D=192 the dK/dV pieces kernel takes its own tile (128 rows, 8 warps, 1 stage, D as 128 + 64,
Dv whole; ``configs._dkv_tile``), chosen in session 4 and re-checked one knob at a time since
(2 stages, run 120: noise; Dv split, runs 121-122: nothing). At D=128 the winning tile came
only from moving several knobs at once (session 17). Here: the D=192 dK/dV with Dv split and /
or the head dim as 64 + 128 (``load_head_dim`` takes the pieces in either order), at 1 or 2
stages; and the dQ on 8 warps. Variants interleave in one process; gradients are compared
with the shipped tile's (``exp_token.run_op_variants``).

    python bench/exp_d192_dkv.py [filter ...]
"""
from __future__ import annotations

import os
import sys

from nsa_ops.kernels import backward as bwd
from nsa_ops.kernels import forward as fwd

sys.path.insert(0, os.path.dirname(__file__))
from exp_token import run_op_variants  # noqa: E402

REAL_DKV, REAL_DQ, REAL_FWD = bwd.dkv_tile, bwd.dq_tile, fwd.forward_tile
VARIANTS = {
    "shipped": ({}, {}),
    "dv-split s1": (dict(block_dv=64, block_dv2=64), {}),
    "dv-split s2": (dict(block_dv=64, block_dv2=64, num_stages=2), {}),
    "d64+128 s1": (dict(block_d=64, block_d2=128), {}),
    "d64+128 dv-split s1": (dict(block_d=64, block_d2=128, block_dv=64, block_dv2=64), {}),
    "d64+128 dv-split s2": (dict(block_d=64, block_d2=128, block_dv=64, block_dv2=64, num_stages=2), {}),
    "64 rows dv-split s2": (dict(rows=64, block_dv=64, block_dv2=64, num_stages=2), {}),
    "dq w8": ({}, dict(num_warps=8)),
    "d64+128 s2": (dict(block_d=64, block_d2=128, num_stages=2), {}),
}


def reset() -> None:
    bwd.dkv_tile, bwd.dq_tile = REAL_DKV, REAL_DQ


def apply(name: str) -> str:
    reset()
    dkv, dq = VARIANTS[name]
    if dkv:
        bwd.dkv_tile = lambda *a, **k: REAL_DKV(*a, **k)._replace(**dkv)
    if dq:
        bwd.dq_tile = lambda *a, **k: REAL_DQ(*a, **k)._replace(**dq)
    return name


def swapped(real):
    """``real`` with a split head dim's pieces in the other order (D=192: 64 + 128)."""
    def tile(*a, **kw):
        t = real(*a, **kw)
        return t._replace(block_d=t.block_d2, block_d2=t.block_d) if t.block_d2 else t
    return tile


def apply_token(name: str) -> str:
    """Run 184: the token forward / dQ tiles with the pieces swapped (their TMA descriptors
    follow the tile's pieces)."""
    reset_token()
    if name in ("fwd 64+128", "both 64+128"):
        fwd.forward_tile = swapped(REAL_FWD)
    if name in ("dq 64+128", "both 64+128"):
        bwd.dq_tile = swapped(REAL_DQ)
    return name


def reset_token() -> None:
    fwd.forward_tile, bwd.dq_tile = REAL_FWD, REAL_DQ


def main():
    if "--token-pointer" in sys.argv:  # run 186: the same with pointer loads (compiled graphs' path)
        sys.argv.remove("--token-pointer")
        from nsa_ops.kernels import tma

        tma.USE_TMA = False
        a, b = "shipped", "both 64+128"
        run_op_variants([(("fwd+bwd G16 D=192 T=16k", "random"), [a, b, a, b]),
                         (("fwd G16 D=192 T=16k", "random"), [a, b])], apply_token, reset_token)
        return
    if "--token-confirm" in sys.argv:  # run 185: run 184's best, interleaved, and the forward row
        sys.argv.remove("--token-confirm")
        a, b = "shipped", "both 64+128"
        run_op_variants([(("fwd+bwd G16 D=192 T=16k", "random"), [a, b, a, b, a, b]),
                         (("fwd G16 D=192 T=16k", "random"), [a, b, a, b]),
                         (("fwd+bwd G16 D=192 T=16k", "local"), [a, b])], apply_token, reset_token)
        return
    if "--token-order" in sys.argv:
        sys.argv.remove("--token-order")
        a = "shipped"
        run_op_variants([(("fwd+bwd G16 D=192 T=16k", "random"),
                          [a, "fwd 64+128", "dq 64+128", "both 64+128", a, "dq 64+128"])], apply_token, reset_token)
        return
    if "--confirm" in sys.argv:  # run 182: run 181's one gain (the head dim as 64 + 128), interleaved
        sys.argv.remove("--confirm")
        a, b = "shipped", "d64+128 s1"
        run_op_variants([(("fwd+bwd G16 D=192 T=16k", "random"), [a, b, a, b, "d64+128 s2", a, b]),
                         (("fwd+bwd G16 D=192 T=16k", "local"), [a, b, a, b])], apply, reset)
        return
    names = list(VARIANTS)[:8]
    run_op_variants([(("fwd+bwd G16 D=192 T=16k", "random"), names + ["shipped"]),
                     (("fwd+bwd G16 D=192 T=16k", "local"), ["shipped", "dv-split s2", "d64+128 dv-split s2"])],
                    apply, reset)


if __name__ == "__main__":
    main()
