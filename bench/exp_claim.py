"""The multi-token tiles decided by a light claim kernel (``configs.SharedTile.group`` > 0:
one warp per tile, then each multi-token program walks the taken tiles of ``group``
neighbours) against the shipped launch (group 0: one heavy program per tile deciding it
itself). Session 25's profile (run 162, bench/exp_flag_cost.py) puts the shipped multi-token
kernels at 0.25 / 0.29 ms (fwd / dQ) of a G16 16k random call and 0.44 / 0.48 ms at 64k, of
which the token kernels get back only ~0.12 / ~0.1: the rest is one heavy program (82-98 KiB
of shared memory, two per SM) per tile that mostly reads two rows and exits.

Whole op, interleaved twice, G16 bf16 random and local, forward and fwd+bwd; outputs and
gradients compared with the first variant.

    python bench/exp_claim.py [filter ...]

Run 163 (H100, 2026-12-07): lost (local fwd 16k 2.07 -> 2.42 / 2.55 with groups of 4 / 16;
random fwd 16k 3.48 -> 3.55; 64k random fwd 16.39 -> 16.34, fwd+bwd 48.3-48.5 -> 48.06). The
kernels were reverted; the code this script needs is commit 8c6e568.
"""
from __future__ import annotations

import os
import sys

from nsa_ops.kernels import backward as bwd
from nsa_ops.kernels import forward as fwd
from nsa_ops.kernels.configs import shared_tile

sys.path.insert(0, os.path.dirname(__file__))
from exp_backward import print_summary  # noqa: E402
from exp_token import op_variants  # noqa: E402

GROUPS = [int(a.split("=")[1]) for a in sys.argv[1:] if a.startswith("groups=")]


def set_group(group):
    for mod in (fwd, bwd):
        mod.shared_tile = (lambda *a, g=group: None if shared_tile(*a) is None else shared_tile(*a)._replace(group=g))
    return f"group {group}"


def main():
    sys.argv[1:] = [a for a in sys.argv[1:] if not a.startswith("groups=")]
    runs = [("fwd G16 T=16k", "random"), ("fwd G16 T=16k", "local"), ("fwd+bwd G16 T=16k", "random"),
            ("fwd+bwd G16 T=16k", "local"), ("fwd G16 T=64k", "random"), ("fwd G16 T=64k", "local"),
            ("fwd+bwd G16 T=64k", "random")]
    groups = GROUPS or [0, 4, 16]
    print_summary(op_variants(runs, groups + groups, set_group, lambda: set_group(0)))


if __name__ == "__main__":
    main()
