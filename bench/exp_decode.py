"""Where does the split-KV decode spend its time? TARGETS.md decode rows (Tk=64k, bf16, random):

- ``graph``: the whole op replayed as a CUDA graph (the bench's method: do_bench median,
  inputs rotated past L2), for several combine shapes (partial elements per program x output
  columns per program; run 21 tried split kernels of 2, 4 and 8 warps: within 1 us);
- per-kernel device time (torch.profiler, eager calls) of the split and combine kernels;
- ``load-only``: a kernel with the split kernel's grid and K/V loads but no math and one float
  stored per program: the memory floor of this schedule and access pattern.

    python bench/exp_decode.py
"""
from __future__ import annotations

import os
import sys

import torch
import triton
import triton.language as tl

from nsa_ops import bench as B
from nsa_ops.kernels import decode

sys.path.insert(0, os.path.dirname(__file__))
from exp_backward import kernel_times, print_summary  # noqa: E402


@triton.jit
def _load_only_kernel(k_ptr, v_ptr, bi_ptr, out_ptr,
                      stride_kb, stride_kt, stride_kh, stride_vb, stride_vt, stride_vh,
                      stride_ib, stride_ih, Tk, H, S,
                      BLOCK_S: tl.constexpr, BLOCK_SIZE: tl.constexpr, BLOCK_D: tl.constexpr):
    row = tl.program_id(0)  # (b, h), one query token
    slot = tl.program_id(1)
    h = row % H
    b = (row // H).to(tl.int64)
    offs_s = tl.arange(0, BLOCK_S)
    ids = tl.load(bi_ptr + b * stride_ib + h * stride_ih + offs_s, mask=offs_s < S, other=-1).to(tl.int64)
    blk = tl.sum(tl.where(offs_s == slot, ids, 0))
    tok = blk * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    offs_d = tl.arange(0, BLOCK_D)
    ok = (tok < Tk)[:, None] & (blk >= 0)
    k = tl.load(k_ptr + b * stride_kb + h * stride_kh + tok[:, None] * stride_kt + offs_d[None, :], mask=ok, other=0.0)
    v = tl.load(v_ptr + b * stride_vb + h * stride_vh + tok[:, None] * stride_vt + offs_d[None, :], mask=ok, other=0.0)
    tl.store(out_ptr + row * S + slot, tl.sum(k.to(tl.float32)) + tl.sum(v.to(tl.float32)))


def load_only(x):
    Bn, Tk, H, D = x.k.shape
    S = x.block_indices.shape[-1]
    out = torch.empty(Bn * H * S, device=x.k.device, dtype=torch.float32)
    bi = x.block_indices
    _load_only_kernel[(Bn * H, S)](x.k, x.v, bi, out, x.k.stride(0), x.k.stride(1), x.k.stride(2),
                                   x.v.stride(0), x.v.stride(1), x.v.stride(2), bi.stride(0), bi.stride(2),
                                   Tk, H, S, BLOCK_S=triton.next_power_of_2(S), BLOCK_SIZE=64, BLOCK_D=D,
                                   num_warps=4)
    return out


def main():
    dev = torch.device("cuda")
    l2 = torch.cuda.get_device_properties(dev).L2_cache_size
    timer = B.make_timer(dev, quick=False)
    orig = decode.decode_tile
    table = []
    for case in [c for c in B.cuda_cases() if c.kind == "decode"]:
        copies = B.input_copies(case, "random", torch.bfloat16, dev, l2)
        fn = B._nsa_ops(case)
        kv_mb = B.distinct_kv_blocks(case, copies[0].block_indices) * 64 * 256 * 2 / 1e6
        for elems, cols in ((4096, 32), (2048, 16), (8192, 64), (8192, 128)):
            decode.decode_tile = lambda *a, _e=elems, _c=cols: orig(*a)._replace(combine_elems=_e, combine_cols=_c)
            err, fro = B.check_rows(case, copies[0], fn(copies[0]))
            ms = timer(B.cycling([B._graphed(fn, x) for x in copies]))
            us = {k[:32]: ms * 1e3 for k, (ms, _n) in kernel_times(lambda: fn(copies[0]), reps=20).items()}
            split = sum(t for k, t in us.items() if "split" in k)
            comb = sum(t for k, t in us.items() if "combine" in k)
            table.append(f"{case.name:24s} combine {elems}/{cols}: graph {ms * 1e3:6.1f} us  split {split:5.1f} us  "
                         f"combine {comb:5.1f} us  err {err:.1e}  ({kv_mb:.0f} MB K/V, "
                         f"{kv_mb / 1e3 / (split * 1e-6) / 1e3:.2f} TB/s in split)")
            print(table[-1], flush=True)
        decode.decode_tile = orig
        ms = timer(B.cycling([B._graphed(load_only, x) for x in copies]))
        us = {k[:32]: ms * 1e3 for k, (ms, _n) in kernel_times(lambda: load_only(copies[0]), reps=20).items()}
        lo = sum(us.values())
        table.append(f"{case.name:24s} load-only:  graph {ms * 1e3:6.1f} us  kernel {lo:5.1f} us  "
                     f"({kv_mb / 1e3 / (lo * 1e-6) / 1e3:.2f} TB/s)")
        print(table[-1], flush=True)
        copies = None
        torch.cuda.empty_cache()
    print_summary(table)


if __name__ == "__main__":
    main()
