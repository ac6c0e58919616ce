"""Session 16: does the K/V memory layout limit the G16 token-centric kernels at 64k?

The user's K/V are [B, T, H, D]: one kv head's block is 64 rows of 256 B at a 1 KB stride (H=4),
and one head's keys span the whole tensor. At 64k one head's K/V is 33.5 MB, about the L2's
size, and the forward costs ~12% more per block than at 16k (notes/kernels.md, session 10). A
head-major copy [B, H, T, D] makes a block 16 KB contiguous (whole DRAM pages) and a head's
K/V a dense 33.5 MB. Pointer loads take any strides, so the copy is passed as a strided view;
TMA needs packed heads and stays on the token-major tensors.

Variants (whole forward op, G16 bf16 D=128 random/local, inputs rotated past L2; outputs
compared with the shipped variant): shipped (TMA), pointer loads, pointer loads on the
head-major copy (copy made outside the timing), and the same with the copy timed.

    python bench/exp_layout.py
"""
from __future__ import annotations

import dataclasses

import torch

from nsa_ops import bench as B
from nsa_ops.kernels import tma


def head_major(x):
    return x.transpose(1, 2).contiguous().transpose(1, 2)


def main():
    dev = torch.device("cuda")
    l2 = torch.cuda.get_device_properties(dev).L2_cache_size
    timer = B.make_timer(dev, quick=False)
    cases = {c.name: c for c in B.cuda_cases()}
    table = []
    for name, dist in [("fwd G16 T=64k", "random"), ("fwd G16 T=16k", "random"), ("fwd G16 T=64k", "local"),
                       ("fwd+bwd G16 T=16k", "random")]:
        case = cases[name]
        copies = B.input_copies(case, dist, torch.bfloat16, dev, l2)
        hm = [dataclasses.replace(x, k=head_major(x.k), v=head_major(x.v)) for x in copies]
        fn = B._nsa_ops(case)
        ref = fn(copies[0]).detach()

        def copy_then(x):
            return fn(dataclasses.replace(x, k=head_major(x.k), v=head_major(x.v)))

        variants = [("shipped (TMA)", True, copies, fn), ("pointer", False, copies, fn),
                    ("pointer head-major", False, hm, fn), ("pointer head-major+copy", False, copies, copy_then),
                    ("shipped (TMA)", True, copies, fn), ("pointer head-major", False, hm, fn)]
        for tag, use_tma, xs, f in variants:
            tma.USE_TMA = use_tma
            out = f(xs[0]).detach()
            diff = (out.float() - ref.float()).abs().max().item()
            ms = timer(B.cycling([B._runner(f, case.kind, x) for x in xs]))
            line = f"{name:18s} {dist:6s} {tag:26s}: {ms:8.3f} ms   max|diff| vs shipped {diff:.2e}"
            print(line, flush=True)
            table.append(line)
            tma.USE_TMA = True
        copies = hm = None
        torch.cuda.empty_cache()
    print("\n==== summary ====")
    print("\n".join(table))


if __name__ == "__main__":
    main()
