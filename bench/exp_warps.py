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
from exp_token import backward_inputs, token_dq, token_fwd  # noqa: E402


def run_fwd(x, tile):
    return token_fwd(x, tile=tile)


def run_dq(x, e, tile):
    return token_dq(x, e, tile=tile)


def main():
    dev = torch.device("cuda")
    l2 = torch.cuda.get_device_properties(dev).L2_cache_size
    timer = B.make_timer(dev, quick=False)
    table = []
    cases = {c.name: c for c in B.cuda_cases()}
    only = [a for a in sys.argv[1:] if not a.startswith("--")]
    base = forward_tile(16, 128, 128, 64, 2, tma=True)
    for name, dist in (("fwd G16 T=16k", "random"), ("fwd G16 T=16k", "local"), ("fwd G16 T=64k", "random")):
        if only and not any(o in f"{name} {dist}" for o in only):
            continue
        case = cases[name]
        copies = B.input_copies(case, dist, torch.bfloat16, dev, l2)
        extra = backward_inputs(copies)
        x, e = copies[0], extra[0]
        ref_out, _ = run_fwd(x, None)
        ref_dq = run_dq(x, e, None)
        variants = [("shipped", None)]
        for w in (1, 2, 4):
            for s in (2, 3, 4):
                variants.append((f"w{w} s{s}", base._replace(num_warps=w, num_stages=s)))
        for tag, tile in variants:
            for kind in ("fwd", "dq"):
                try:
                    if kind == "fwd":
                        err = (run_fwd(x, tile)[0].float() - ref_out.float()).abs().max().item()
                        calls = [lambda x=x: run_fwd(x, tile) for x in copies]
                    else:
                        err = (run_dq(x, e, tile).float() - ref_dq.float()).abs().max().item()
                        calls = [lambda x=x, e=e: run_dq(x, e, tile) for x, e in zip(copies, extra)]
                    ms = timer(B.cycling(calls))
                    table.append(f"{name:14s} {dist:6s} {kind:3s} {tag:8s}: {ms:8.3f} ms   max|diff| {err:.2e}")
                except Exception as ex:  # noqa: BLE001 -- an experiment: report and go on
                    table.append(f"{name:14s} {dist:6s} {kind:3s} {tag:8s}: FAILED {type(ex).__name__}: {str(ex)[:150]}")
                print(table[-1], flush=True)
        copies = extra = x = e = None
        torch.cuda.empty_cache()
    print_summary(table)


if __name__ == "__main__":
    main()
