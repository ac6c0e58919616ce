"""Forward kernel of selection attention: ``selection_forward`` -> (out, lse).

Schedule: token-centric. One program per (query token, batch x kv head, head tile); its rows are
the query heads of one GQA group (padded to >= 16 rows so ``tl.dot`` can run). It walks the
``cnt`` selected blocks of its (token, kv head) in ascending order with an online softmax in
fp32 (base-2 exponent, scores pre-scaled by ``scale * log2(e)``). Only the block holding the
query's own position can reach past ``q_last``, and the ``token <= q_last`` mask also keeps every
load in bounds.
"""
from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from .configs import dot_precision, forward_tile

LOG2E = 1.4426950408889634
LN2 = 0.6931471805599453


@triton.jit
def _selection_fwd_kernel(
    q_ptr, k_ptr, v_ptr, out_ptr, lse_ptr,
    sel_ptr, cnt_ptr, q_last_ptr, block_start_ptr,
    stride_qb, stride_qt, stride_qh, stride_qd,
    stride_kb, stride_kt, stride_kh, stride_kd,
    stride_vb, stride_vt, stride_vh, stride_vd,
    stride_ob, stride_ot, stride_oh,
    stride_lb, stride_lt,
    stride_sb, stride_st, stride_sh, stride_ss,
    stride_cb, stride_ct, stride_ch,
    H, G, D, DV,
    scale_log2e,
    BLOCK_SIZE: tl.constexpr, BLOCK_G: tl.constexpr,
    BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr,
    PRECISION: tl.constexpr,
):
    t = tl.program_id(0)
    bh = tl.program_id(1)
    head_tile = tl.program_id(2)
    b = (bh // H).to(tl.int64)
    h = bh % H
    t64 = t.to(tl.int64)

    heads = head_tile * BLOCK_G + tl.arange(0, BLOCK_G)
    head_ok = heads < G
    hq = (h * G + heads).to(tl.int64)
    offs_d = tl.arange(0, BLOCK_D)
    offs_dv = tl.arange(0, BLOCK_DV)
    offs_n = tl.arange(0, BLOCK_SIZE)

    q_ptrs = q_ptr + b * stride_qb + t64 * stride_qt + hq[:, None] * stride_qh + offs_d[None, :] * stride_qd
    q = tl.load(q_ptrs, mask=head_ok[:, None] & (offs_d[None, :] < D), other=0.0)

    n_sel = tl.load(cnt_ptr + b * stride_cb + t64 * stride_ct + h * stride_ch)
    last = tl.load(q_last_ptr + t)
    sel_base = sel_ptr + b * stride_sb + t64 * stride_st + h * stride_sh
    k_base = k_ptr + b * stride_kb + h * stride_kh
    v_base = v_ptr + b * stride_vb + h * stride_vh

    m_i = tl.full([BLOCK_G], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_G], tl.float32)
    acc = tl.zeros([BLOCK_G, BLOCK_DV], tl.float32)
    for i in range(0, n_sel):
        g = tl.load(sel_base + i * stride_ss)
        tok = tl.load(block_start_ptr + g) + offs_n
        visible = tok <= last
        tok64 = tok.to(tl.int64)
        k = tl.load(k_base + tok64[:, None] * stride_kt + offs_d[None, :] * stride_kd,
                    mask=visible[:, None] & (offs_d[None, :] < D), other=0.0)
        s = tl.dot(q, tl.trans(k), input_precision=PRECISION) * scale_log2e
        s = tl.where(visible[None, :], s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        # A row that has seen no visible key yet keeps m = -inf; subtract 0 there, not -inf.
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
        p = tl.exp2(s - m_safe[:, None])
        alpha = tl.exp2(m_i - m_safe)
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(v_base + tok64[:, None] * stride_vt + offs_dv[None, :] * stride_vd,
                    mask=visible[:, None] & (offs_dv[None, :] < DV), other=0.0)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
        m_i = m_new

    has_key = l_i > 0.0
    out = acc / tl.where(has_key, l_i, 1.0)[:, None]
    lse = tl.where(has_key, (m_i + tl.log2(tl.where(has_key, l_i, 1.0))) * 0.6931471805599453,
                   float("-inf"))
    o_ptrs = out_ptr + b * stride_ob + t64 * stride_ot + hq[:, None] * stride_oh + offs_dv[None, :]
    tl.store(o_ptrs, out.to(out_ptr.dtype.element_ty), mask=head_ok[:, None] & (offs_dv[None, :] < DV))
    tl.store(lse_ptr + b * stride_lb + t64 * stride_lt + hq, lse, mask=head_ok)


def selection_forward(q, k, v, sel, cnt, q_last, block_start, block_size: int, scale: float):
    """q [B,Tq,HQ,D], k [B,Tk,H,D], v [B,Tk,H,Dv] (any strides), fp16/bf16/fp32, plus the prepared
    index of ``nsa_ops.indices``. Returns out [B,Tq,HQ,Dv] (q.dtype, contiguous) and lse
    [B,Tq,HQ] fp32 (natural log; -inf and out = 0 where a query sees no key)."""
    B, Tq, HQ, D = q.shape
    H = k.shape[2]
    Dv = v.shape[-1]
    G = HQ // H
    tile = forward_tile(G, D, Dv, block_size)
    out = torch.empty((B, Tq, HQ, Dv), device=q.device, dtype=q.dtype)
    lse = torch.empty((B, Tq, HQ), device=q.device, dtype=torch.float32)
    grid = (Tq, B * H, triton.cdiv(G, tile.block_g))
    torch.library.wrap_triton(_selection_fwd_kernel)[grid](
        q, k, v, out, lse,
        sel, cnt, q_last, block_start,
        q.stride(0), q.stride(1), q.stride(2), q.stride(3),
        k.stride(0), k.stride(1), k.stride(2), k.stride(3),
        v.stride(0), v.stride(1), v.stride(2), v.stride(3),
        out.stride(0), out.stride(1), out.stride(2),
        lse.stride(0), lse.stride(1),
        sel.stride(0), sel.stride(1), sel.stride(2), sel.stride(3),
        cnt.stride(0), cnt.stride(1), cnt.stride(2),
        H, G, D, Dv,
        scale * LOG2E,
        BLOCK_SIZE=block_size, BLOCK_G=tile.block_g,
        BLOCK_D=tile.block_d, BLOCK_DV=tile.block_dv,
        PRECISION=dot_precision(q.dtype),
        num_warps=tile.num_warps, num_stages=tile.num_stages,
    )
    return out, lse
