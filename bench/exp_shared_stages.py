"""The multi-token kernels (forward and dQ) on 1 stage instead of 2: less shared memory per
program (forward ~82 -> ~50 KiB), so more of the empty programs that random selections start
fit on an SM at once (session 25, run 162: those programs are the cost on random), at the price
of the K/V pipelining that the local selection's taken tiles use. Whole op, interleaved twice,
G16 bf16; outputs and gradients compared with the first variant.

    python bench/exp_shared_stages.py [filter ...]
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


def set_stages(stages):
    for mod in (fwd, bwd):
        mod.shared_tile = (lambda *a, s=stages: None if shared_tile(*a) is None
                           else shared_tile(*a)._replace(num_stages=s or shared_tile(*a).num_stages))
    return f"stages {stages or 'shipped'}"


def main():
    runs = [("fwd G16 T=16k", "random"), ("fwd G16 T=16k", "local"), ("fwd+bwd G16 T=16k", "random"),
            ("fwd+bwd G16 T=16k", "local"), ("fwd G16 T=64k", "random"), ("fwd G16 T=64k", "local")]
    print_summary(op_variants(runs, [0, 1, 0, 1], set_stages, lambda: set_stages(0)))


if __name__ == "__main__":
    main()
