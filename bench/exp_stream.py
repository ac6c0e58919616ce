"""Partials marked evict_first (``KVForwardTile.stream_partials``, ``KVTile.stream_partials``):
the small-G KV forward writes (entry, head) partials that its combine reads once, and the
dK/dV pieces write fp32 dq partials that the dq reduce reads once; both streams are GBs at
T=16k and push the q / dO rows the gathers re-read out of L2. TARGETS.md G4 and G1 rows
(bf16, random; the bench's timing: do_bench median, inputs rotated past L2), off vs on, with
the row check against the float64 reference.

    python bench/exp_stream.py
"""
from __future__ import annotations

import os
import sys

import torch

from nsa_ops import bench as B
from nsa_ops.kernels import backward, configs, forward_kv

sys.path.insert(0, os.path.dirname(__file__))
from exp_backward import print_summary  # noqa: E402


def main():
    dev = torch.device("cuda")
    l2 = torch.cuda.get_device_properties(dev).L2_cache_size
    timer = B.make_timer(dev, quick=False)
    names = sys.argv[1:] or ["fwd G4 T=16k", "fwd+bwd G4 T=16k", "fwd G1 T=16k", "fwd+bwd G1 T=16k",
                             "fwd G4 T=64k", "fwd+bwd G4 T=64k"]
    table = []
    for case in [c for c in B.cuda_cases() if c.name in names]:
        copies = B.input_copies(case, "random", torch.bfloat16, dev, l2)
        fn = B._nsa_ops(case)
        for on in (False, True, False, True):  # twice each: run-to-run spread
            forward_kv.forward_kv_tile = lambda *a, _on=on: configs.forward_kv_tile(*a)._replace(stream_partials=_on)
            backward.dkv_tile = lambda *a, _on=on: configs.dkv_tile(*a)._replace(stream_partials=_on)
            err, fro = B.check_rows(case, copies[0], fn(copies[0]))
            ms = timer(B.cycling([B._runner(fn, case.kind, x) for x in copies]))
            table.append(f"{case.name:18s} stream {int(on)}: {ms:8.3f} ms  (target {case.target_ms})  "
                         f"err {err:.1e} fro {fro:.1e}")
            print(table[-1], flush=True)
        forward_kv.forward_kv_tile, backward.dkv_tile = configs.forward_kv_tile, configs.dkv_tile
        copies = None
        torch.cuda.empty_cache()
    print_summary(table)


if __name__ == "__main__":
    main()
