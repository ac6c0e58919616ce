"""Split-KV decode: ``selection_decode`` -> (out, lse) for few query tokens (decode, short
chunked prefill), without cu_seqlens.

The token-centric forward launches one program per (token, kv head) that walks its S blocks
serially: at B=1 that is H programs on 132 SMs. Here every *selected slot* gets its own program
(grid B*Tq*H x S), which loads one K/V block and writes a partial (block-local log-sum-exp and
normalised output); the combine of ``kernels/combine.py`` (shared with the KV-centric forward)
merges the S partials of each (token, head) by log-sum-exp in slot order (deterministic). Two launches in all and no index preparation: each program reads the raw
``block_indices`` row and decides in registers whether its slot counts (inside
``block_counts``, a real block, not in the future, not a repeat of an earlier slot), so the
call is CUDA-graph safe and needs no sort.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from .configs import LOG2E, decode_tile, dot_precision
from .combine import combine_slots
from .primitives import as_fp32, load_group_q, load_once



@triton.jit
def _decode_split_kernel(
    q_ptr, k_ptr, v_ptr, bi_ptr, cnt_ptr, lse_part_ptr, o_part_ptr,
    stride_qb, stride_qt, stride_qh, stride_qd,
    stride_kb, stride_kt, stride_kh, stride_kd,
    stride_vb, stride_vt, stride_vh, stride_vd,
    stride_ib, stride_it, stride_ih, stride_is,
    stride_cb, stride_ct, stride_ch,
    Tq, Tk, H, G, D, DV, S, NB,
    scale_log2e,
    HAS_COUNTS: tl.constexpr, BLOCK_S: tl.constexpr, BLOCK_SIZE: tl.constexpr,
    BLOCK_G: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr, PRECISION: tl.constexpr,
    READ_ONCE: tl.constexpr = False,
):
    scale_log2e = as_fp32(scale_log2e)
    row = tl.program_id(0)  # (b, t, h)
    slot = tl.program_id(1)
    head_tile = tl.program_id(2)
    h = row % H
    t = (row // H) % Tq
    b = (row // (H * Tq)).to(tl.int64)
    t64 = t.to(tl.int64)
    pos = Tk - Tq + t

    offs_s = tl.arange(0, BLOCK_S)
    ids = tl.load(bi_ptr + b * stride_ib + t64 * stride_it + h * stride_ih + offs_s * stride_is,
                  mask=offs_s < S, other=-1).to(tl.int64)
    valid = (offs_s < S) & (ids >= 0) & (ids < NB) & (ids * BLOCK_SIZE <= pos)
    if HAS_COUNTS:
        n = tl.load(cnt_ptr + b * stride_cb + t64 * stride_ct + h * stride_ch)
        valid = valid & (offs_s < n)
    mine = offs_s == slot
    blk = tl.sum(tl.where(mine, ids, 0))
    mine_valid = tl.sum((mine & valid).to(tl.int32))
    # A repeated id counts once: only its first valid slot uses it.
    earlier = tl.sum(((ids == blk) & valid & (offs_s < slot)).to(tl.int32))
    use = mine_valid - earlier  # 1 when this slot's block counts, else <= 0

    q, q_unused, heads, head_ok, hq = load_group_q(q_ptr, b, t64, h, head_tile, G, D, stride_qb, stride_qt, stride_qh,
                                            stride_qd, BLOCK_G, BLOCK_D, 0)
    offs_d = tl.arange(0, BLOCK_D)
    offs_dv = tl.arange(0, BLOCK_DV)
    offs_n = tl.arange(0, BLOCK_SIZE)
    tok = blk * BLOCK_SIZE + offs_n
    visible = (tok <= pos) & ((tl.zeros_like(offs_n) + use) > 0)
    # K and V issued together before any math (H100 run 11, CUDA graphs: 0.0313 / 0.0132 /
    # 0.0472 ms for B16 G16 / B1 G16 / B16 G4 against 0.0317 / 0.0133 / 0.0479 with V loaded
    # after the softmax: within noise, never worse).
    # READ_ONCE: each block is read by this program alone; evicting it from L2 first keeps the
    # K/V stream from pushing out what the next kernels need (the partials, the caller's
    # activations). H100 run 29 (CUDA graphs, us): B16 G4 42.2 -> 37.7, B16 G16 28.7 -> 27.6,
    # B1 G16 11.3 / 11.4 (bench/exp_decode_pair.py).
    k = load_once(k_ptr + b * stride_kb + h * stride_kh + tok[:, None] * stride_kt + offs_d[None, :] * stride_kd,
                  visible[:, None] & (offs_d[None, :] < D), READ_ONCE)
    v = load_once(v_ptr + b * stride_vb + h * stride_vh + tok[:, None] * stride_vt + offs_dv[None, :] * stride_vd,
                  visible[:, None] & (offs_dv[None, :] < DV), READ_ONCE)
    s = tl.dot(q, tl.trans(k), input_precision=PRECISION) * scale_log2e
    s = tl.where(visible[None, :], s, float("-inf"))
    m = tl.max(s, 1)
    m_safe = tl.where(m == float("-inf"), 0.0, m)
    p = tl.exp2(s - m_safe[:, None])
    l = tl.sum(p, 1)
    acc = tl.dot(p.to(v.dtype), v, input_precision=PRECISION)

    # Partial of (row, slot, head): block-local base-2 lse and normalised output, the layout of
    # ``kernels/combine.py``; only the group's real heads are written (G=4 pads to 16 MMA rows).
    has_key = l > 0.0
    l_safe = tl.where(has_key, l, 1.0)
    part = (row.to(tl.int64) * S + slot) * G + heads
    tl.store(lse_part_ptr + part, tl.where(has_key, m_safe + tl.log2(l_safe), float("-inf")), mask=head_ok)
    tl.store(o_part_ptr + part[:, None] * DV + offs_dv[None, :], (acc / l_safe[:, None]).to(o_part_ptr.dtype.element_ty),
             mask=head_ok[:, None] & (offs_dv[None, :] < DV))


def selection_decode(q, k, v, block_indices, block_counts, block_size: int, scale: float):
    """q [B,Tq,HQ,D], k [B,Tk,H,D], v [B,Tk,H,Dv] (any strides, e.g. a prefix view of a larger
    cache), raw ``block_indices`` [B,Tq,H,S] (int32/int64) and optional ``block_counts``
    [B,Tq,H]. Returns out [B,Tq,HQ,Dv] (q.dtype) and lse [B,Tq,HQ] fp32."""
    tile = decode_tile(q.shape[2] // k.shape[2], q.shape[-1], v.shape[-1], block_size, block_indices.shape[-1])
    parts = decode_partials(q, k, v, block_indices, block_counts, block_size, scale, tile)
    return decode_combine(parts, q, v, block_indices, tile)


def decode_partials(q, k, v, block_indices, block_counts, block_size: int, scale: float, tile):
    """The split kernel: one partial per (token, kv head, slot, query head), ``kernels/combine.py``
    layout; normalised outputs in the input dtype for 16-bit inputs (half the bytes of the former
    fp32 unnormalised partials; with the shared combine, H100 run 22, CUDA graphs: B16 G16
    31.5 -> 27.1 us, B16 G4 47.3 -> 40.9 us), fp32 otherwise."""
    B, Tq, HQ, D = q.shape
    Tk, H, Dv = k.shape[1], k.shape[2], v.shape[-1]
    G = HQ // H
    S = block_indices.shape[-1]
    n_head_tiles = triton.cdiv(G, tile.block_g)
    rows = B * Tq * H
    part_dtype = q.dtype if q.element_size() == 2 else torch.float32
    lse_part = torch.empty((rows * S * G,), device=q.device, dtype=torch.float32)
    o_part = torch.empty((rows * S * G, Dv), device=q.device, dtype=part_dtype)
    counts = block_counts if block_counts is not None else block_indices  # placeholder pointer
    cstr = (counts.stride(0), counts.stride(1), counts.stride(2)) if block_counts is not None else (0, 0, 0)
    NB = (Tk + block_size - 1) // block_size
    if S > 0:
        torch.library.wrap_triton(_decode_split_kernel)[(rows, S, n_head_tiles)](
            q, k, v, block_indices, counts, lse_part, o_part,
            q.stride(0), q.stride(1), q.stride(2), q.stride(3),
            k.stride(0), k.stride(1), k.stride(2), k.stride(3),
            v.stride(0), v.stride(1), v.stride(2), v.stride(3),
            block_indices.stride(0), block_indices.stride(1), block_indices.stride(2), block_indices.stride(3),
            *cstr,
            Tq, Tk, H, G, D, Dv, S, NB,
            scale * LOG2E,
            HAS_COUNTS=block_counts is not None, BLOCK_S=tile.block_s, BLOCK_SIZE=block_size,
            BLOCK_G=tile.block_g, BLOCK_D=tile.block_d, BLOCK_DV=tile.block_dv,
            PRECISION=dot_precision(q.dtype), READ_ONCE=bool(Tq == 1 and n_head_tiles == 1),
            num_warps=tile.num_warps, num_stages=1,
        )
    return lse_part, o_part


def decode_combine(parts, q, v, block_indices, tile):
    """Merges each (token, query head)'s S partials by log-sum-exp (``kernels/combine.py``)."""
    lse_part, o_part = parts
    B, Tq, HQ = q.shape[:3]
    out = torch.empty((B, Tq, HQ, v.shape[-1]), device=q.device, dtype=q.dtype)
    lse = torch.empty((B, Tq, HQ), device=q.device, dtype=torch.float32)
    combine_slots(lse_part, o_part, out, lse, HQ // v.shape[2], block_indices.shape[-1],
                  elems=tile.combine_elems, dv_chunk=tile.combine_cols)
    return out, lse
