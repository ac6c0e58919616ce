"""Is the G16 token-centric forward at the roof of its own loads? Kernels with the shipped
forward's grid (one program per (token, kv head)) and its K/V traffic (16 blocks of 64 x 128
K and V per program), doing less and less math:

- ``loads``: the K/V loads only, reduced to one number per program (no tensor cores);
- ``qk``: the loads plus q @ k^T for the 16 heads (one MMA per block, no softmax, no P @ V);
- ``tma loads`` / ``tma qk``: the same through TMA descriptors on one warp (session 16), as the
  shipped token kernel loads since session 10 (the first two use pointer tiles on 4 warps);
- the shipped forward (``nsa_ops`` op, raw index: the shared-K/V kernel plus the token kernel).

If ``loads`` takes as long as the shipped forward, the forward is bound by moving K/V from L2
and only fewer bytes can make it faster. T=16k and 64k, random selection, bf16; the bench's
timing (do_bench median, inputs rotated past L2).

    python bench/exp_l2_floor.py
"""
from __future__ import annotations

import os
import sys

import torch
import triton
import triton.language as tl

from nsa_ops import bench as B

sys.path.insert(0, os.path.dirname(__file__))
from exp_backward import print_summary  # noqa: E402


@triton.jit
def _token_floor_kernel(q_ptr, k_ptr, v_ptr, bi_ptr, out_ptr,
                        stride_qt, stride_qh, stride_kt, stride_kh, stride_vt, stride_vh, stride_it, stride_ih,
                        Tq, Tk, H, G, S, NB, BLOCK_S: tl.constexpr, BLOCK_SIZE: tl.constexpr,
                        BLOCK_D: tl.constexpr, BLOCK_G: tl.constexpr, QK: tl.constexpr, TMA: tl.constexpr):
    """TMA (session 16): k_ptr / v_ptr are descriptors of K / V as [B*Tk, H*D] (B = 1) and each
    distinct block of a row is loaded once, as the shipped kernel walks them; the pointer
    variant (session 7) loads a block listed twice twice."""
    t = tl.program_id(0)
    h = tl.program_id(1)
    t64 = t.to(tl.int64)
    offs_s = tl.arange(0, BLOCK_S)
    offs_d = tl.arange(0, BLOCK_D)
    offs_n = tl.arange(0, BLOCK_SIZE)
    heads = tl.arange(0, BLOCK_G)
    ids = tl.load(bi_ptr + t64 * stride_it + h * stride_ih + offs_s, mask=offs_s < S, other=-1).to(tl.int64)
    valid = (ids >= 0) & (ids < NB) & (ids * BLOCK_SIZE <= Tk - Tq + t)
    if TMA:
        again = (ids[:, None] == ids[None, :]) & valid[None, :] & (offs_s[None, :] < offs_s[:, None])
        valid = valid & (tl.sum(again.to(tl.int32), 1) == 0)
    rank = tl.cumsum(valid.to(tl.int32), 0) - 1
    n = tl.sum(valid.to(tl.int32), 0)
    q = tl.load(q_ptr + t64 * stride_qt + (h * G + heads)[:, None] * stride_qh + offs_d[None, :],
                mask=(heads < G)[:, None], other=0.0)
    acc = tl.zeros([BLOCK_G, BLOCK_SIZE], tl.float32)
    for i in range(0, n):
        start = tl.sum(tl.where(valid & (rank == i), ids, 0), 0) * BLOCK_SIZE
        if TMA:
            k = k_ptr.load([start.to(tl.int32), h * BLOCK_D])
            v = v_ptr.load([start.to(tl.int32), h * BLOCK_D])
        else:
            tok = start + offs_n
            k = tl.load(k_ptr + tok[:, None] * stride_kt + h * stride_kh + offs_d[None, :])
            v = tl.load(v_ptr + tok[:, None] * stride_vt + h * stride_vh + offs_d[None, :])
        if QK:
            acc += tl.dot(q, tl.trans(k))
            acc += tl.dot(q, tl.trans(v))
        else:
            acc += tl.sum(k.to(tl.float32), 1)[None, :] + tl.sum(v.to(tl.float32), 1)[None, :]
    tl.store(out_ptr + (t64 * H + h) * BLOCK_G * BLOCK_SIZE + heads[:, None] * BLOCK_SIZE + offs_n[None, :], acc)


def floor_runner(qk: bool, tma: bool = False):
    """Pointer tiles on 4 warps (session 7), or TMA on one warp like the shipped token kernel."""
    def run(x):
        Bn, Tq, HQ, D = x.q.shape
        Tk, H = x.k.shape[1], x.k.shape[2]
        S = x.block_indices.shape[-1]
        out = torch.empty(Tq * H * 16 * 64, device=x.q.device, dtype=torch.float32)
        bi = x.block_indices
        k, v = x.k, x.v
        if tma:
            from triton.tools.tensor_descriptor import TensorDescriptor

            k, v = (TensorDescriptor(y, [Bn * Tk, H * D], [y.stride(1), 1], [64, D]) for y in (x.k, x.v))
        _token_floor_kernel[(Tq, H)](
            x.q, k, v, bi, out, x.q.stride(1), x.q.stride(2), x.k.stride(1), x.k.stride(2),
            x.v.stride(1), x.v.stride(2), bi.stride(1), bi.stride(2), Tq, Tk, H, HQ // H, S, triton.cdiv(Tk, 64),
            BLOCK_S=triton.next_power_of_2(S), BLOCK_SIZE=64, BLOCK_D=D, BLOCK_G=16, QK=qk, TMA=tma,
            num_warps=1 if tma else 4, num_stages=2)
        return out
    return run


def main():
    dev = torch.device("cuda")
    l2 = torch.cuda.get_device_properties(dev).L2_cache_size
    timer = B.make_timer(dev, quick=False)
    table = []
    for case in [c for c in B.cuda_cases() if c.name in ("fwd G16 T=16k", "fwd G16 T=64k")]:
        copies = B.input_copies(case, "random", torch.bfloat16, dev, l2)
        kv_bytes = 0
        for x in copies[:1]:
            NB = triton.cdiv(x.k.shape[1], 64)
            pos = torch.arange(x.q.shape[1], device=dev).view(1, -1, 1, 1)
            bi = x.block_indices.long()
            ok = (bi >= 0) & (bi < NB) & (bi * 64 <= pos)
            kv_bytes = int(ok.sum()) * 64 * (x.k.shape[-1] + x.v.shape[-1]) * x.k.element_size()
            srt = torch.where(ok, bi, -1).sort(-1).values
            distinct = ((srt[..., 1:] != srt[..., :-1]) & (srt[..., 1:] >= 0)).sum() + (srt[..., 0] >= 0).sum()
            print(f"{case.name}: K/V of all kept slots {kv_bytes / 1e9:.1f} GB, of distinct blocks "
                  f"{int(distinct) * 64 * (x.k.shape[-1] + x.v.shape[-1]) * x.k.element_size() / 1e9:.1f} GB")
        runners = (("loads", floor_runner(False)), ("qk", floor_runner(True)), ("tma loads", floor_runner(False, True)),
                   ("tma qk", floor_runner(True, True)), ("shipped", B._nsa_ops(case)))
        for name, fn in runners:
            ms = timer(B.cycling([B._runner(fn, case.kind, x) for x in copies]))
            table.append(f"{case.name:14s} {name:10s}: {ms:7.3f} ms  K/V {kv_bytes / 1e9:5.1f} GB -> "
                         f"{kv_bytes / ms / 1e9:6.2f} TB/s")
            print(table[-1], flush=True)
        copies = None
        torch.cuda.empty_cache()
    print_summary(table)


if __name__ == "__main__":
    main()
