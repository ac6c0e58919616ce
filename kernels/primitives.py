"""Triton building blocks shared by the forward, backward and decode kernels (inlined by the
compiler; no launch of their own)."""
from __future__ import annotations

import triton
import triton.language as tl

LN2 = tl.constexpr(0.6931471805599453)  # a global read inside @jit must be a constexpr


@triton.jit
def online_softmax_step(q, k, v, visible, m_i, l_i, acc, scale_log2e, PRECISION: tl.constexpr):
    """One K/V block of the base-2 online softmax. ``visible`` [rows, keys] masks scores; a row
    that has seen no visible key yet keeps m = -inf and subtracts 0, never -inf (no NaN)."""
    s = tl.dot(q, tl.trans(k), input_precision=PRECISION) * scale_log2e
    s = tl.where(visible, s, float("-inf"))
    m_new = tl.maximum(m_i, tl.max(s, 1))
    m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
    p = tl.exp2(s - m_safe[:, None])
    alpha = tl.exp2(m_i - m_safe)
    l_i = l_i * alpha + tl.sum(p, 1)
    acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
    return m_new, l_i, acc


@triton.jit
def finish_softmax(acc, m_i, l_i):
    """(out, natural-log lse) from the running state; rows without keys give 0 and -inf."""
    has_key = l_i > 0.0
    out = acc / tl.where(has_key, l_i, 1.0)[:, None]
    lse = tl.where(has_key, (m_i + tl.log2(tl.where(has_key, l_i, 1.0))) * LN2, float("-inf"))
    return out, lse


@triton.jit
def piece_of_item(item, item_row_ptr, row_first_item_ptr, inv_offsets_ptr, n_rows, H, NB, piece_tokens):
    """Which inverse-index row (b, h, global block g) a work item belongs to and its slice
    [lo, hi) of that row's query list; surplus items (the grid is an upper bound) get lo == hi."""
    row = tl.load(item_row_ptr + item)
    item_ok = row < n_rows
    row = tl.minimum(row, n_rows - 1)
    piece = item - tl.load(row_first_item_ptr + row)
    b = (row // (H * NB)).to(tl.int64)
    h = (row // NB) % H
    g = row % NB
    list_end = tl.load(inv_offsets_ptr + row + 1)
    lo = tl.load(inv_offsets_ptr + row) + piece * piece_tokens
    hi = tl.where(item_ok, tl.minimum(list_end, lo + piece_tokens), lo)
    return item_ok, b, h, g, lo, hi


@triton.jit
def load_block_kv(k_ptr, v_ptr, b, h, tok, kv_ok, stride_kb, stride_kt, stride_kh, stride_kd,
                  stride_vb, stride_vt, stride_vh, stride_vd, D, DV,
                  BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr):
    """K [tokens, BLOCK_D] and V [tokens, BLOCK_DV] of one block, zero where not ``kv_ok``."""
    offs_d = tl.arange(0, BLOCK_D)
    offs_dv = tl.arange(0, BLOCK_DV)
    tok64 = tok.to(tl.int64)
    k = tl.load(k_ptr + b * stride_kb + h * stride_kh + tok64[:, None] * stride_kt + offs_d[None, :] * stride_kd,
                mask=kv_ok[:, None] & (offs_d[None, :] < D), other=0.0)
    v = tl.load(v_ptr + b * stride_vb + h * stride_vh + tok64[:, None] * stride_vt + offs_dv[None, :] * stride_vd,
                mask=kv_ok[:, None] & (offs_dv[None, :] < DV), other=0.0)
    return k, v


@triton.jit
def load_group_q(q_ptr, b, t64, h, head_tile, G, D, stride_qb, stride_qt, stride_qh, stride_qd,
                 BLOCK_G: tl.constexpr, BLOCK_D: tl.constexpr):
    """The query rows of one GQA group (a tile of BLOCK_G heads of kv head h) at token t:
    returns q [BLOCK_G, BLOCK_D] (zero-padded), which rows are real heads, and their head ids."""
    heads = head_tile * BLOCK_G + tl.arange(0, BLOCK_G)
    head_ok = heads < G
    hq = (h * G + heads).to(tl.int64)
    offs_d = tl.arange(0, BLOCK_D)
    q = tl.load(q_ptr + b * stride_qb + t64 * stride_qt + hq[:, None] * stride_qh + offs_d[None, :] * stride_qd,
                mask=head_ok[:, None] & (offs_d[None, :] < D), other=0.0)
    return q, heads, head_ok, hq


@triton.jit
def chunk_entries(entries_ptr, c, tok_of_row, chunk_tokens, hi, head, G, H, S, Tq):
    """Rows of one gathered chunk of an entry-CSR piece (``kernels/csr.py``): which rows are
    real, their entry ids and their query tokens (int32; entry ids below 2^31 are decoded in
    int32, far cheaper than int64 division)."""
    r_ok = (tok_of_row < chunk_tokens) & (c + tok_of_row < hi) & (head < G)
    e = tl.load(entries_ptr + c + tok_of_row, mask=r_ok, other=0)
    t = ((e // (H * S)) % Tq).to(tl.int32)
    return r_ok, e, t
