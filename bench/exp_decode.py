"""Decode schedule experiment (TARGETS.md decode rows: Tk=64k, bf16, random selection): slots
per program x fused combine x warps, each timed as a CUDA-graph replay (the bench's graph_ms
method: do_bench median, inputs rotated past L2) and checked against the float64 reference.

    python bench/exp_decode.py
"""
from __future__ import annotations

import itertools

import torch

from nsa_ops import bench as B
from nsa_ops.kernels import decode


def main():
    dev = torch.device("cuda")
    l2 = torch.cuda.get_device_properties(dev).L2_cache_size
    timer = B.make_timer(dev, quick=False)
    cases = [c for c in B.cuda_cases() if c.kind == "decode"]
    orig = decode.decode_tile
    table = []
    for case in cases:
        copies = B.input_copies(case, "random", torch.bfloat16, dev, l2)
        fn = B._nsa_ops(case)
        for slots, fused, warps in itertools.product((1, 2, 4), (False, True), (4, 8)):
            decode.decode_tile = (lambda *a, _s=slots, _f=fused, _w=warps:
                                  orig(*a)._replace(slots=_s, fused_combine=_f, num_warps=_w))
            label = f"{case.name:24s} slots {slots} fused {int(fused)} w{warps}"
            try:
                err, fro = B.check_rows(case, copies[0], fn(copies[0]))
                ms = timer(B.cycling([B._graphed(fn, x) for x in copies]))
                table.append(f"{label} graph {ms:.4f} ms  err {err:.1e} fro {fro:.1e}")
            except Exception as e:  # noqa: BLE001
                table.append(f"{label} FAILED {type(e).__name__}: {str(e)[:100]}")
            print(table[-1], flush=True)
        decode.decode_tile = orig
        copies = None
        torch.cuda.empty_cache()
    print("\n==== summary ====")
    for line in table:
        print(line)


if __name__ == "__main__":
    main()
