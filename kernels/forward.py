"""Forward kernels of selection attention: ``selection_forward`` -> (out, lse).

Two schedules, picked from the group size by ``configs.forward_schedule`` (measured there):
the token-centric one below (G > 8) and the KV-centric gather + combine of
``kernels/forward_kv.py`` (G <= 8). Token-centric: one program per (query token, batch x kv head, head tile); its rows are
the query heads of one GQA group (padded to >= 16 rows so ``tl.dot`` can run). It walks the
``cnt`` selected blocks of its (token, kv head) in ascending order with an online softmax in
fp32 (base-2 exponent, scores pre-scaled by ``scale * log2(e)``). Only the block holding the
query's own position can reach past ``q_last``, and the ``token <= q_last`` mask also keeps every
load in bounds.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from .configs import (LOG2E, dot_precision, forward_schedule, forward_tile, head_dim_blocks, next_pow2,
                      shared_tile)
from .primitives import (as_fp32, claim_shared_tile, finish_softmax, load_group_q, load_head_dim,
                         online_softmax_step, shared_tile_rows, token_block_kv, token_row_blocks, union_block_kv,
                         union_token_masks)
from .tma import kv_descriptors, launch_args



@triton.jit
def _selection_fwd_shared_kernel(
    q_ptr, k_ptr, v_ptr, out_ptr, lse_ptr, bi_ptr, cnt_ptr, owned_ptr,
    stride_qb, stride_qt, stride_qh, stride_qd,
    stride_kb, stride_kt, stride_kh, stride_kd,
    stride_vb, stride_vt, stride_vh, stride_vd,
    stride_ob, stride_ot, stride_oh,
    stride_lb, stride_lt,
    stride_sb, stride_st, stride_sh, stride_ss,
    stride_cb, stride_ct, stride_ch,
    H, G, D, DV, scale_log2e, Tq, Tk, NB, S, max_union,
    TQ: tl.constexpr, BLOCK_G: tl.constexpr, BLOCK_S: tl.constexpr, BLOCK_SIZE: tl.constexpr,
    BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr, PRECISION: tl.constexpr, HAS_COUNTS: tl.constexpr,
    BLOCK_D2: tl.constexpr = 0,
    k_desc=None, k2_desc=None, v_desc=None, TMA: tl.constexpr = False,
):
    """K/V shared across TQ neighbouring tokens: rows are (token, head) pairs of TQ tokens of one
    kv head; the program walks the *union* of their selected blocks, loading each block once,
    and masks the rows whose token did not select it. Runs only for tiles whose union has at
    most ``max_union`` blocks (correlated selections); the token-centric kernel skips exactly
    those tiles and does the rest."""
    scale_log2e = as_fp32(scale_log2e)
    b, h, t0, ids, valid, first, rank, n_union, tok_local = claim_shared_tile(
        bi_ptr, cnt_ptr, owned_ptr, stride_sb, stride_st, stride_sh, stride_ss, stride_cb, stride_ct, stride_ch,
        H, Tq, Tk, NB, S, max_union, HAS_COUNTS, TQ, BLOCK_S, BLOCK_SIZE)

    # Only a taken tile does the attention work (a tile left to the token kernel ends here;
    # H100 run 12: this ``if`` cut the kernel from 0.42 to 0.27 ms on random G16 T=16k).
    if n_union <= max_union:
        r_tok, t_r, row_ok, hq, last_r = shared_tile_rows(t0, h, G, Tq, Tk, TQ, BLOCK_G)
        packed = union_token_masks(ids, valid, tok_local, TQ, BLOCK_S)
        offs_dv = tl.arange(0, BLOCK_DV)
        q, q2 = load_head_dim(q_ptr + b * stride_qb + t_r * stride_qt + hq * stride_qh, row_ok, stride_qd, D,
                              BLOCK_D, BLOCK_D2)

        m_i = tl.full([TQ * BLOCK_G], float("-inf"), tl.float32)
        l_i = tl.zeros([TQ * BLOCK_G], tl.float32)
        acc = tl.zeros([TQ * BLOCK_G, BLOCK_DV], tl.float32)
        for i in range(0, n_union):
            k, k2, v, visible = union_block_kv(
                i, packed, first, rank, r_tok, last_r, b, h, Tk, k_ptr, v_ptr, stride_kb, stride_kt, stride_kh,
                stride_kd, stride_vb, stride_vt, stride_vh, stride_vd, D, DV, k_desc, k2_desc, v_desc, TMA, TQ,
                BLOCK_SIZE, BLOCK_D, BLOCK_DV, BLOCK_D2)
            m_i, l_i, acc = online_softmax_step(q, k, v, visible, m_i, l_i, acc, scale_log2e, PRECISION,
                                                q2, k2, BLOCK_D2)

        out, lse = finish_softmax(acc, m_i, l_i)
        tl.store(out_ptr + b * stride_ob + t_r[:, None] * stride_ot + hq[:, None] * stride_oh + offs_dv[None, :],
                 out.to(out_ptr.dtype.element_ty), mask=row_ok[:, None] & (offs_dv[None, :] < DV))
        tl.store(lse_ptr + b * stride_lb + t_r * stride_lt + hq, lse, mask=row_ok)


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
    Tq, Tk, NB, S,
    BLOCK_SIZE: tl.constexpr, BLOCK_G: tl.constexpr,
    BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr,
    PRECISION: tl.constexpr,
    RAW: tl.constexpr, HAS_COUNTS: tl.constexpr, BLOCK_S: tl.constexpr,
    owned_ptr=None, SKIP_SHARED: tl.constexpr = False, TQ_SHARED: tl.constexpr = 1,
    BLOCK_D2: tl.constexpr = 0,
    k_desc=None, k2_desc=None, v_desc=None, TMA: tl.constexpr = False,
):
    """RAW=False: sel/cnt/q_last/block_start are the prepared index. RAW=True (no packing):
    sel is the user's block_indices and cnt the optional block_counts; the row is cleaned in
    registers (validity, causality, first occurrence of each id, compacted by a prefix sum),
    which saves the index-preparation kernels. TMA: K/V blocks load through the descriptors of
    ``kernels/tma.py`` (eager calls on Hopper) instead of pointer tiles."""
    scale_log2e = as_fp32(scale_log2e)
    t = tl.program_id(0)
    bh = tl.program_id(1)
    head_tile = tl.program_id(2)
    b = (bh // H).to(tl.int64)
    h = bh % H
    t64 = t.to(tl.int64)

    q, q2, heads, head_ok, hq = load_group_q(q_ptr, b, t64, h, head_tile, G, D, stride_qb, stride_qt, stride_qh,
                                             stride_qd, BLOCK_G, BLOCK_D, BLOCK_D2)
    offs_dv = tl.arange(0, BLOCK_DV)
    sel_base = sel_ptr + b * stride_sb + t64 * stride_st + h * stride_sh
    ids, keep, rank, n_sel, last, head_ok = token_row_blocks(
        sel_base, stride_ss, cnt_ptr + b * stride_cb + t64 * stride_ct + h * stride_ch, q_last_ptr, owned_ptr, bh, t,
        Tq, Tk, S, NB, head_ok, RAW, HAS_COUNTS, SKIP_SHARED, TQ_SHARED, BLOCK_S, BLOCK_SIZE)

    m_i = tl.full([BLOCK_G], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_G], tl.float32)
    acc = tl.zeros([BLOCK_G, BLOCK_DV], tl.float32)
    for i in range(0, n_sel):
        k, k2, v, visible = token_block_kv(
            i, ids, keep, rank, sel_base, stride_ss, block_start_ptr, last, b, h, Tk, k_ptr, v_ptr, stride_kb,
            stride_kt, stride_kh, stride_kd, stride_vb, stride_vt, stride_vh, stride_vd, D, DV, k_desc, k2_desc,
            v_desc, RAW, TMA, BLOCK_SIZE, BLOCK_D, BLOCK_DV, BLOCK_D2)
        m_i, l_i, acc = online_softmax_step(q, k, v, visible[None, :], m_i, l_i, acc, scale_log2e, PRECISION,
                                            q2, k2, BLOCK_D2)

    out, lse = finish_softmax(acc, m_i, l_i)
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
    if forward_schedule(G, D, Dv, block_size) == "kv":
        from nsa_ops.indices import PreparedIndex

        from .forward_kv import selection_forward_kv

        prepared = PreparedIndex(sel, cnt, q_last, block_start)
        return selection_forward_kv(q, k, v, sel, None, block_size, scale, prepared=prepared)
    return _launch_token_forward(q, k, v, sel, cnt, q_last, block_start, block_size, scale, raw=False)


def selection_forward_raw(q, k, v, block_indices, block_counts, block_size: int, scale: float):
    """Like ``selection_forward`` for unpacked inputs, but on the user's raw ``block_indices``
    [B,Tq,H,S] and optional ``block_counts`` [B,Tq,H]: the token-centric kernel cleans each row
    in registers, so no index preparation runs. Only for the token-centric schedule."""
    counts = block_counts if block_counts is not None else block_indices  # unused pointer
    return _launch_token_forward(q, k, v, block_indices, counts, block_indices, block_indices,
                                 block_size, scale, raw=True, has_counts=block_counts is not None)


def uses_raw_forward(group_size: int, d: int, dv: int, block_size: int) -> bool:
    return forward_schedule(group_size, d, dv, block_size) == "token"


def _launch_token_forward(q, k, v, sel, cnt, q_last, block_start, block_size, scale, raw, has_counts=True,
                          tile=None, use_shared=True):
    B, Tq, HQ, D = q.shape
    Tk, H, Dv = k.shape[1], k.shape[2], v.shape[-1]
    G = HQ // H
    S = sel.shape[-1]
    descs = kv_descriptors(k, v, block_size, *head_dim_blocks(D), max(16, next_pow2(Dv)), packed=not raw)
    # override: bench sweeps
    tile = tile or forward_tile(G, D, Dv, block_size, q.element_size(), tma=descs is not None)
    if descs is not None and (tile.block_d, tile.block_d2) != head_dim_blocks(D):  # a tile's own pieces
        descs = kv_descriptors(k, v, block_size, tile.block_d, tile.block_d2, max(16, next_pow2(Dv)), packed=not raw)
    shared = shared_tile(G, D, Dv, block_size, S, q.element_size()) if raw and use_shared else None
    out = torch.empty((B, Tq, HQ, Dv), device=q.device, dtype=q.dtype)
    lse = torch.empty((B, Tq, HQ), device=q.device, dtype=torch.float32)
    owned = None
    if shared:
        owned = torch.empty((B * H * triton.cdiv(Tq, shared.tokens),), device=q.device, dtype=torch.int8)
        torch.library.wrap_triton(_selection_fwd_shared_kernel)[(triton.cdiv(Tq, shared.tokens), B * H)](
            q, k, v, out, lse, sel, cnt, owned,
            q.stride(0), q.stride(1), q.stride(2), q.stride(3),
            k.stride(0), k.stride(1), k.stride(2), k.stride(3),
            v.stride(0), v.stride(1), v.stride(2), v.stride(3),
            out.stride(0), out.stride(1), out.stride(2),
            lse.stride(0), lse.stride(1),
            sel.stride(0), sel.stride(1), sel.stride(2), sel.stride(3),
            cnt.stride(0), cnt.stride(1), cnt.stride(2),
            H, G, D, Dv, scale * LOG2E, Tq, Tk, (Tk + block_size - 1) // block_size, S, shared.max_union,
            TQ=shared.tokens, BLOCK_G=tile.block_g, BLOCK_S=max(2, next_pow2(S)), BLOCK_SIZE=block_size,
            BLOCK_D=tile.block_d, BLOCK_DV=tile.block_dv, PRECISION=dot_precision(q.dtype),
            HAS_COUNTS=has_counts, BLOCK_D2=tile.block_d2, num_warps=shared.num_warps, num_stages=shared.num_stages,
            **launch_args(descs, k, v),
        )
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
        Tq, Tk, (Tk + block_size - 1) // block_size, S,
        BLOCK_SIZE=block_size, BLOCK_G=tile.block_g,
        BLOCK_D=tile.block_d, BLOCK_DV=tile.block_dv,
        PRECISION=dot_precision(q.dtype),
        RAW=raw, HAS_COUNTS=has_counts, BLOCK_S=max(2, next_pow2(S)),
        owned_ptr=owned if shared else lse, SKIP_SHARED=bool(shared),  # lse: unused placeholder
        TQ_SHARED=shared.tokens if shared else 1, BLOCK_D2=tile.block_d2,
        num_warps=tile.num_warps, num_stages=tile.num_stages, **launch_args(descs, k, v),
    )
    return out, lse
