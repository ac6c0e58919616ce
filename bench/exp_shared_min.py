"""Which tiles the multi-token kernels should take: ``SharedTile.min_blocks`` (a tile is taken
only when its first token sees more than that many blocks; below, causality alone keeps the
union small) at 0 (every small-union tile, the former rule), max_union and 1.5 * max_union,
and the multi-token kernels off, interleaved twice in one process on the G16 random and local
rows. Outputs and gradients compared with the first variant (max-abs).

    python bench/exp_shared_min.py [filter ...]

Run 77 (H100, 2026-11-23): no effect on the random rows (fwd 16k 3.458 / 3.459 / 3.456, off
3.339), local slower (fwd 16k 2.05 / 2.16 / 2.21): the rule was dropped, and with it the
``min_blocks`` field this script patches, so it no longer runs as is (kept as the record).
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
    """mult None: multi-token kernels off; else min_blocks = mult * max_union."""
    def rule(real):
        def tile(*a, **k):
            t = real(*a, **k)
            if mult is None or t is None:
                return None
            return t._replace(min_blocks=int(mult * t.max_union))
        return tile
    fwd.shared_tile, bwd.shared_tile = rule(REAL[0]), rule(REAL[1])


def main():
    runs = [("fwd G16 T=16k", "random"), ("fwd G16 T=64k", "random"), ("fwd+bwd G16 T=16k", "random"),
            ("fwd G16 T=16k", "local"), ("fwd G16 T=64k", "local"), ("fwd+bwd G16 T=16k", "local"),
            ("fwd+bwd G16 T=64k", "random")]

    def apply(mult):
        set_rule(mult)
        return "off" if mult is None else f"min_blocks {mult} x max_union"

    print_summary(op_variants(runs, (0, 1, 1.5, None) * 2, apply, lambda: set_rule(0)))


if __name__ == "__main__":
    main()
