"""Decode split-kernel variants for the TARGETS.md decode rows (Tk=64k, bf16, random), session 6:

- ``PAIR=2``: two selected slots per program, the four K/V loads issued before any math, each
  slot still written as its own partial (so the combine is unchanged). Half the programs: at
  B16 G4 the split grid is 2048 programs, ~2.6 waves at the split kernel's occupancy, where the
  load-only floor (no shared memory) runs them in one;
- ``EVICT``: K/V loads marked ``evict_first`` (each block is read once);
- warps 4 / 8.

Prints the CUDA-graph time of split + combine (the bench's method), the per-kernel device time
(torch.profiler), registers and shared memory of the split kernel, and the max error against
the shipped decode.

    python bench/exp_decode_pair.py
"""
from __future__ import annotations

import os
import sys

import torch
import triton
import triton.language as tl

from nsa_ops import bench as B
from nsa_ops.kernels import decode
from nsa_ops.kernels.configs import LOG2E, dot_precision
from nsa_ops.kernels.primitives import load_group_q

sys.path.insert(0, os.path.dirname(__file__))
from exp_backward import kernel_times, print_summary  # noqa: E402


@triton.jit
def _slot_of(ids, valid, offs_s, slot):
    mine = offs_s == slot
    blk = tl.sum(tl.where(mine, ids, 0))
    mine_valid = tl.sum((mine & valid).to(tl.int32))
    earlier = tl.sum(((ids == blk) & valid & (offs_s < slot)).to(tl.int32))
    return blk, mine_valid - earlier


@triton.jit
def _load_kv(k_ptr, v_ptr, b, h, blk, use, pos, stride_kb, stride_kt, stride_kh, stride_kd,
             stride_vb, stride_vt, stride_vh, stride_vd, D, DV,
             BLOCK_SIZE: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr, EVICT: tl.constexpr):
    offs_d = tl.arange(0, BLOCK_D)
    offs_dv = tl.arange(0, BLOCK_DV)
    offs_n = tl.arange(0, BLOCK_SIZE)
    tok = blk * BLOCK_SIZE + offs_n
    visible = (tok <= pos) & ((tl.zeros_like(offs_n) + use) > 0)
    kp = k_ptr + b * stride_kb + h * stride_kh + tok[:, None] * stride_kt + offs_d[None, :] * stride_kd
    vp = v_ptr + b * stride_vb + h * stride_vh + tok[:, None] * stride_vt + offs_dv[None, :] * stride_vd
    if EVICT:
        k = tl.load(kp, mask=visible[:, None] & (offs_d[None, :] < D), other=0.0, eviction_policy="evict_first")
        v = tl.load(vp, mask=visible[:, None] & (offs_dv[None, :] < DV), other=0.0, eviction_policy="evict_first")
    else:
        k = tl.load(kp, mask=visible[:, None] & (offs_d[None, :] < D), other=0.0)
        v = tl.load(vp, mask=visible[:, None] & (offs_dv[None, :] < DV), other=0.0)
    return k, v, visible


@triton.jit
def _write_partial(q, k, v, visible, row, slot, heads, head_ok, lse_part_ptr, o_part_ptr, S, G, DV, scale_log2e,
                   BLOCK_DV: tl.constexpr, PRECISION: tl.constexpr):
    offs_dv = tl.arange(0, BLOCK_DV)
    s = tl.dot(q, tl.trans(k), input_precision=PRECISION) * scale_log2e
    s = tl.where(visible[None, :], s, float("-inf"))
    m = tl.max(s, 1)
    m_safe = tl.where(m == float("-inf"), 0.0, m)
    p = tl.exp2(s - m_safe[:, None])
    l = tl.sum(p, 1)
    acc = tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
    has_key = l > 0.0
    l_safe = tl.where(has_key, l, 1.0)
    part = (row.to(tl.int64) * S + slot) * G + heads
    ok = head_ok & ((tl.zeros_like(heads) + slot) < S)
    tl.store(lse_part_ptr + part, tl.where(has_key, m_safe + tl.log2(l_safe), float("-inf")), mask=ok)
    tl.store(o_part_ptr + part[:, None] * DV + offs_dv[None, :], (acc / l_safe[:, None]).to(o_part_ptr.dtype.element_ty),
             mask=ok[:, None] & (offs_dv[None, :] < DV))


@triton.jit
def _split_variant_kernel(
    q_ptr, k_ptr, v_ptr, bi_ptr, lse_part_ptr, o_part_ptr,
    stride_qb, stride_qt, stride_qh, stride_qd,
    stride_kb, stride_kt, stride_kh, stride_kd,
    stride_vb, stride_vt, stride_vh, stride_vd,
    stride_ib, stride_it, stride_ih, stride_is,
    Tq, Tk, H, G, D, DV, S, NB, scale_log2e,
    BLOCK_S: tl.constexpr, BLOCK_SIZE: tl.constexpr, BLOCK_G: tl.constexpr, BLOCK_D: tl.constexpr,
    BLOCK_DV: tl.constexpr, PRECISION: tl.constexpr, PAIR: tl.constexpr, EVICT: tl.constexpr,
):
    row = tl.program_id(0)
    slot0 = tl.program_id(1) * PAIR
    h = row % H
    t = (row // H) % Tq
    b = (row // (H * Tq)).to(tl.int64)
    t64 = t.to(tl.int64)
    pos = Tk - Tq + t
    offs_s = tl.arange(0, BLOCK_S)
    ids = tl.load(bi_ptr + b * stride_ib + t64 * stride_it + h * stride_ih + offs_s * stride_is,
                  mask=offs_s < S, other=-1).to(tl.int64)
    valid = (offs_s < S) & (ids >= 0) & (ids < NB) & (ids * BLOCK_SIZE <= pos)
    blk0, use0 = _slot_of(ids, valid, offs_s, slot0)
    k0, v0, vis0 = _load_kv(k_ptr, v_ptr, b, h, blk0, use0, pos, stride_kb, stride_kt, stride_kh, stride_kd,
                            stride_vb, stride_vt, stride_vh, stride_vd, D, DV, BLOCK_SIZE, BLOCK_D, BLOCK_DV, EVICT)
    if PAIR == 2:
        blk1, use1 = _slot_of(ids, valid, offs_s, slot0 + 1)
        k1, v1, vis1 = _load_kv(k_ptr, v_ptr, b, h, blk1, use1, pos, stride_kb, stride_kt, stride_kh, stride_kd,
                                stride_vb, stride_vt, stride_vh, stride_vd, D, DV, BLOCK_SIZE, BLOCK_D, BLOCK_DV,
                                EVICT)
    q, q_unused, heads, head_ok, hq = load_group_q(q_ptr, b, t64, h, 0, G, D, stride_qb, stride_qt, stride_qh,
                                                   stride_qd, BLOCK_G, BLOCK_D, 0)
    _write_partial(q, k0, v0, vis0, row, slot0, heads, head_ok, lse_part_ptr, o_part_ptr, S, G, DV, scale_log2e,
                   BLOCK_DV, PRECISION)
    if PAIR == 2:
        _write_partial(q, k1, v1, vis1, row, slot0 + 1, heads, head_ok, lse_part_ptr, o_part_ptr, S, G, DV,
                       scale_log2e, BLOCK_DV, PRECISION)


LAST = {}


def variant(pair, evict, warps):
    def run(x):
        q, k, v, bi = x.q, x.k, x.v, x.block_indices
        Bn, Tq, HQ, D = q.shape
        Tk, H, Dv = k.shape[1], k.shape[2], v.shape[-1]
        G, S = HQ // H, bi.shape[-1]
        tile = decode.decode_tile(G, D, Dv, 64, S)
        rows = Bn * Tq * H
        lse_part = torch.empty((rows * S * G,), device=q.device, dtype=torch.float32)
        o_part = torch.empty((rows * S * G, Dv), device=q.device, dtype=q.dtype)
        LAST["k"] = _split_variant_kernel[(rows, triton.cdiv(S, pair))](
            q, k, v, bi, lse_part, o_part, *q.stride(), *k.stride(), *v.stride(), *bi.stride(),
            Tq, Tk, H, G, D, Dv, S, (Tk + 63) // 64, q.shape[-1] ** -0.5 * LOG2E,
            BLOCK_S=tile.block_s, BLOCK_SIZE=64, BLOCK_G=tile.block_g, BLOCK_D=tile.block_d,
            BLOCK_DV=tile.block_dv, PRECISION=dot_precision(q.dtype), PAIR=pair, EVICT=evict,
            num_warps=warps, num_stages=1)
        return decode.decode_combine((lse_part, o_part), q, v, bi, tile)[0]
    return run


def main():
    dev = torch.device("cuda")
    l2 = torch.cuda.get_device_properties(dev).L2_cache_size
    timer = B.make_timer(dev, quick=False)
    table = []
    for case in [c for c in B.cuda_cases() if c.kind == "decode"]:
        copies = B.input_copies(case, "random", torch.bfloat16, dev, l2)
        ref = B._nsa_ops(case)
        want = ref(copies[0])
        want = want[0] if isinstance(want, tuple) else want
        ms = timer(B.cycling([B._graphed(ref, x) for x in copies]))
        table.append(f"{case.name:24s} shipped          : graph {ms * 1e3:6.1f} us")
        print(table[-1], flush=True)
        for pair, evict, warps in ((1, False, 4), (1, True, 4), (2, False, 4), (2, True, 4), (2, False, 8),
                                   (2, True, 8)):
            fn = variant(pair, evict, warps)
            got = fn(copies[0])
            err = (got.float() - want.float()).abs().max().item()
            k = LAST["k"]
            ms = timer(B.cycling([B._graphed(fn, x) for x in copies]))
            us = {n[:32]: t * 1e3 for n, (t, _c) in kernel_times(lambda: fn(copies[0]), reps=20).items()}
            split = sum(t for n, t in us.items() if "split" in n)
            comb = sum(t for n, t in us.items() if "combine" in n)
            table.append(f"{case.name:24s} pair {pair} evict {int(evict)} w{warps}: graph {ms * 1e3:6.1f} us  "
                         f"split {split:5.1f}  combine {comb:4.1f}  regs {k.n_regs} smem {k.metadata.shared}  "
                         f"diff {err:.1e}")
            print(table[-1], flush=True)
        copies = None
        torch.cuda.empty_cache()
    print_summary(table)


if __name__ == "__main__":
    main()
