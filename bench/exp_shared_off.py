"""What the multi-token (shared K/V) kernels cost where they take no tile: the G16 op with and
without them (``configs.shared_tile`` patched to None in the forward and backward launchers),
interleaved twice in one process, on the random rows (where no tile qualifies) and the local
ones (where most do). Outputs and gradients compared with the first variant (max-abs).

    python bench/exp_shared_off.py [filter ...]
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


def set_shared(on: bool) -> None:
    fwd.shared_tile = REAL[0] if on else (lambda *a, **k: None)
    bwd.shared_tile = REAL[1] if on else (lambda *a, **k: None)


def main():
    runs = [("fwd G16 T=16k", "random"), ("fwd G16 T=64k", "random"), ("fwd+bwd G16 T=16k", "random"),
            ("fwd G16 T=16k", "local"), ("fwd+bwd G16 T=64k", "random"), ("fwd G16 T=64k", "local"),
            ("fwd+bwd G16 T=16k", "local"), ("fwd+bwd G16 T=64k", "local")]

    def apply(on):
        set_shared(on)
        return "shared on" if on else "shared off"

    print_summary(op_variants(runs, (True, False, True, False), apply, lambda: set_shared(True)))


if __name__ == "__main__":
    main()
