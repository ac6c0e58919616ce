"""Does a union walk over 2 (or 4) neighbouring tokens beat the token-centric G16 kernels on
*random* selections?

On "random" every 64-token tile shares three blocks (block 0 and the two most recent), 3 of the
~14.3 distinct blocks a (token, kv head) keeps at T=16k. The multi-token kernels
(``_selection_fwd_shared_kernel`` / ``_selection_dq_shared_kernel``) walk the union of TQ
tokens' blocks once, with TQ x 16 rows and the rows of tokens that did not select a block
masked. With TQ=2 the union is ~25.5 blocks against 2 x 14.3 separate loads (-11% K/V bytes)
at twice the MMA rows per block; TQ=4: ~48 against 57 (-16%) at 4x. Session 7 measured the
token forward within ~3% of its L2 floor, so fewer bytes is the only way down.

Variants (G16 bf16 D=128 random, inputs rotated past L2): the token kernel alone (TMA and
pointer loads), and the multi-token kernel taking every tile (``max_union`` = TQ*S) for TQ in
{2, 4}, warps {4, 8}, stages {2, 3}; the same for dQ. Outputs checked against the token kernel.

    python bench/exp_union2.py [16k|64k]

``--tq2`` (session 24, prepared, not yet run): the 2-token tiles (32 rows, every tile taken) on
1 / 2 / 4 warps against the token kernel and the shipped pair. On 2 warps each warp would hold
one token's 16 rows (no cross-warp softmax reductions, the reason the token kernel runs on one
warp, session 10) while the two share each K/V tile: ~11% fewer K/V bytes at 16k random, ~7%
at 64k, for ~1.8x the MMA rows per warp. Run 64 tried 2 tokens on 4 / 8 warps only (-12%).
    python bench/exp_union2.py --tq2 "G16 T=16k random" "G16 T=64k random" "G16 T=16k local"
"""
from __future__ import annotations

import os
import sys

import torch

from nsa_ops import bench as B
from nsa_ops.kernels import tma
from nsa_ops.kernels.configs import SharedTile, shared_tile

sys.path.insert(0, os.path.dirname(__file__))
from exp_backward import print_summary  # noqa: E402
from exp_token import backward_inputs, experiment, time_token_kernels, token_dq, token_fwd  # noqa: E402


def main():
    dev, l2, timer, cases, only = experiment()
    table = []
    cases["fwd G8 T=16k"] = B.Case("fwd G8 T=16k", "fwd", 1, 16384, 16384, 32, 4)
    runs = [("fwd G16 T=16k", "random"), ("fwd G16 T=16k", "local"), ("fwd G16 T=64k", "random"),
            ("fwd G16 T=64k", "local"), ("fwd G8 T=16k", "random"), ("fwd G8 T=16k", "local")]
    for name, dist in runs:
        if only and not any(o in f"{name} {dist}" for o in only):
            continue
        case = cases[name]
        copies = B.input_copies(case, dist, torch.bfloat16, dev, l2)
        extra = backward_inputs(copies)
        x, e = copies[0], extra[0]
        ref_out, _ = token_fwd(x)
        ref_dq = token_dq(x, e)
        G = case.HQ // case.H
        tq = 64 // G
        variants = [("token tma", None, True), ("shipped", shared_tile(G, 128, 128, 64, 16, 2), True)]
        if "--tq2" in sys.argv:  # session 24: 2-token tiles on the token kernel's few warps
            if G == 16:
                variants += [(f"TQ2 max32 w{w} s{s}", SharedTile(2, 32, w, s), True)
                             for w, s in ((1, 2), (2, 2), (2, 3), (4, 2))]
                variants += variants[:2]  # the baselines again, for the spread
        else:
            for mu in ([24, 32, 40, 48, 64] if G == 16 else [24, 64, 96, 128]):
                for s in (2, 3):
                    variants.append((f"TQ{tq} max{mu} s{s}", SharedTile(tq, mu, 4, s), True))
            if G == 16 and dist == "random":
                variants.append(("TQ2 max32 s2", SharedTile(2, 32, 4, 2), True))
        for tag, shared, use_tma in variants:
            tma.USE_TMA = use_tma
            time_token_kernels(table, f"{name:14s} {dist:6s} {tag:16s}", timer, copies, extra, ref_out, ref_dq,
                               shared=shared)
            tma.USE_TMA = True
        copies = extra = x = e = None
        torch.cuda.empty_cache()
    print_summary(table)


if __name__ == "__main__":
    main()
