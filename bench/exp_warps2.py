"""Follow-ups of run 66/67 (16-row token tiles on fewer warps):

- ``d192``: the G16 D=192 (128 + 64 split) token forward and dQ kernels alone, warps {1, 2, 4}
  x stages {2, 3} (their tiles were left at 4 warps: not measured in run 66);
- ``kv``: the small-G KV forward (gather + combine) with fewer warps: G4 64 rows and G1 128
  rows, warps {1, 2, 4} x stages {2, 3};
- ``g8dq``: G8 fwd+bwd with and without the multi-token dQ kernel (run 65 measured the G8
  multi-token dQ slower than the token dQ on both selections: 4.79 vs 4.01 ms local).

    python bench/exp_warps2.py [d192] [kv] [g8dq]
"""
from __future__ import annotations

import os
import sys

import torch

from nsa_ops import bench as B
from nsa_ops.kernels import backward as bwd
from nsa_ops.kernels.configs import forward_kv_tile, forward_tile
from nsa_ops.kernels.forward_kv import selection_forward_kv

sys.path.insert(0, os.path.dirname(__file__))
from exp_backward import print_summary  # noqa: E402
from exp_token import backward_inputs, experiment, time_token_kernels, token_dq, token_fwd  # noqa: E402


def timed(timer, calls):
    return timer(B.cycling(calls))


def d192(dev, l2, timer, table):
    case = B.Case("fwd G16 D=192 T=16k", "fwd", 1, 16384, 16384, 64, 4, D=192)
    copies = B.input_copies(case, "random", torch.bfloat16, dev, l2)
    extra = backward_inputs(copies)
    x, e = copies[0], extra[0]
    ref_out, ref_dq = token_fwd(x)[0], token_dq(x, e)
    base = forward_tile(16, 192, 128, 64, 2, tma=True)
    for tag, tile in [("shipped", None)] + [(f"w{w} s{s}", base._replace(num_warps=w, num_stages=s))
                                            for w in (1, 2, 4) for s in (2, 3)]:
        time_token_kernels(table, f"D=192 G16 16k random {tag:8s}", timer, copies, extra, ref_out, ref_dq, tile=tile)


def kv(dev, l2, timer, table):
    for G, HQ, H in ((4, 32, 8), (1, 16, 16)):
        case = B.Case(f"fwd G{G} T=16k", "fwd", 1, 16384, 16384, HQ, H)
        copies = B.input_copies(case, "random", torch.bfloat16, dev, l2)
        base = forward_kv_tile(G, 128, 128, 64, 2)

        def run(x, tile):
            return selection_forward_kv(x.q, x.k, x.v, x.block_indices, None, 64, 128 ** -0.5, tile=tile)

        ref = run(copies[0], None)[0]
        for tag, tile in [("shipped", None)] + [(f"rows{base.rows} w{w} s{s}", base._replace(num_warps=w, num_stages=s))
                                                for w in (1, 2, 4) for s in (2, 3)]:
            try:
                err = (run(copies[0], tile)[0].float() - ref.float()).abs().max().item()
                ms = timed(timer, [lambda x=x: run(x, tile) for x in copies])
                table.append(f"KV fwd G{G} 16k random {tag:16s}: {ms:8.3f} ms   max|diff| {err:.2e}")
            except Exception as ex:  # noqa: BLE001
                table.append(f"KV fwd G{G} 16k random {tag:16s}: FAILED {type(ex).__name__}: {str(ex)[:150]}")
            print(table[-1], flush=True)


def g8dq(dev, l2, timer, table):
    real = bwd.shared_tile
    case = B.Case("fwd+bwd G8 T=16k", "fwd+bwd", 1, 16384, 16384, 32, 4)
    for dist in ("random", "local"):
        copies = B.input_copies(case, dist, torch.bfloat16, dev, l2)
        fn = B._nsa_ops(case)
        for tag, tile_fn in (("multi-token dQ on", real), ("multi-token dQ off", lambda *a, **k: None)):
            bwd.shared_tile = tile_fn
            ms = timed(timer, [B._runner(fn, case.kind, c) for c in copies])
            table.append(f"fwd+bwd G8 16k {dist:6s} {tag:18s}: {ms:8.3f} ms")
            print(table[-1], flush=True)
        bwd.shared_tile = real


def main():
    dev, l2, timer, _, _ = experiment()
    table = []
    parts = [a for a in sys.argv[1:] if not a.startswith("--")] or ["d192", "kv", "g8dq"]
    for part in parts:
        globals()[part](dev, l2, timer, table)
        torch.cuda.empty_cache()
    print_summary(table)


if __name__ == "__main__":
    main()
