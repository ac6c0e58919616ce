"""Warps and stages of the G16 token-centric forward and dQ kernels on the TMA path.

The tile table (``configs.forward_tile``) measured 4 and 8 warps with pointer loads and 2 or 3
stages with TMA loads. A 16-row tile on 4 warps splits each block's 64 keys over the warps, so
every softmax step reduces its row max and sum across warps through shared memory; fewer warps
keep a row inside one warp, more stages keep more TMA loads in flight. Measured here: the
forward and dQ kernels alone (no multi-token kernel), warps {1, 2, 4} x stages {2, 3, 4}, G16
bf16 D=128, random 16k / 64k and local 16k, outputs checked against the shipped tile.

    python bench/exp_warps.py
"""
from __future__ import annotations

import os
import sys

import torch

from nsa_ops import bench as B
from nsa_ops.kernels.configs import forward_tile

sys.path.insert(0, os.path.dirname(__file__))
from exp_backward import print_summary  # noqa: E402
from exp_token import backward_inputs, experiment, time_token_kernels, token_dq, token_fwd  # noqa: E402


def main():
    dev, l2, timer, cases, only = experiment()
    table = []
    base = forward_tile(16, 128, 128, 64, 2, tma=True)
    for name, dist in (("fwd G16 T=16k", "random"), ("fwd G16 T=16k", "local"), ("fwd G16 T=64k", "random")):
        if only and not any(o in f"{name} {dist}" for o in only):
            continue
        case = cases[name]
        copies = B.input_copies(case, dist, torch.bfloat16, dev, l2)
        extra = backward_inputs(copies)
        x, e = copies[0], extra[0]
        ref_out, _ = token_fwd(x)
        ref_dq = token_dq(x, e)
        variants = [("shipped", None)]
        for w in (1, 2, 4):
            for s in (2, 3, 4):
                variants.append((f"w{w} s{s}", base._replace(num_warps=w, num_stages=s)))
        for tag, tile in variants:
            time_token_kernels(table, f"{name:14s} {dist:6s} {tag:8s}", timer, copies, extra, ref_out, ref_dq,
                               tile=tile)
        copies = extra = x = e = None
        torch.cuda.empty_cache()
    print_summary(table)


if __name__ == "__main__":
    main()
