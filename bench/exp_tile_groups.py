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

from nsa_ops.kernels import backward as bwd
from nsa_ops.kernels import forward as fwd

sys.path.insert(0, os.path.dirname(__file__))
from exp_backward import print_summary  # noqa: E402
from exp_token import op_variants  # noqa: E402

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
    runs = [("fwd G16 T=16k", "random"), ("fwd G16 T=64k", "random"), ("fwd+bwd G16 T=16k", "random"),
            ("fwd G16 T=16k", "local"), ("fwd G16 T=64k", "local"), ("fwd+bwd G16 T=16k", "local"),
            ("fwd+bwd G16 T=64k", "random")]

    def apply(mult):
        set_rule(mult)
        return "off" if mult is None else f"{mult} tiles per program"

    print_summary(op_variants(runs, (1, 4, 8, None) * 2, apply, lambda: set_rule(4)))


if __name__ == "__main__":
    main()
