"""KV-centric forward for small GQA groups: ``selection_forward_kv`` -> (out, lse).

Why: a token-centric program pads the G query heads of a group to 16 MMA rows, so at G=1
fifteen of every sixteen tensor-core rows are wasted, and each selected block is fetched once
per (token, kv head). Here one program owns a piece of one KV block's list in the entry CSR
(``kernels/csr.py``: the (token, slot) entries that selected block g of kv head h), loads the
block's K and V once and gathers (token, head) rows in chunks of 64, so every K/V tile feeds a
full MMA. Each (entry, head) gets a partial: the block-local log2-sum-exp (fp32) and the
normalised block-local output (q.dtype, |o| <= max|v|), stored under the entry id; with
``LSE_AT_POSITION`` the lse goes to the entry's place in the CSR list instead. Why: the lse
store wants the entry ids in a layout of their own, and Triton 3.6 then reloaded them
synchronously inside the loop, a full memory latency per chunk; the o store shares the q loads'
layout (H100 runs 82-84, ``bench/exp_pipeline.py``; ``configs.KVForwardTile``). The combine of
``kernels/combine.py`` (reading such lse through the CSR's positions) merges a query's slots by
log-sum-exp in slot order, so the result does not depend on scheduling.

The near pass (unpacked inputs, ``KVForwardTile.near_pass``): block 0, the query's own block
and the one before it, which NSA always selects, stay out of the CSR lists (``kernels/csr.py``
``near``). One program per 64-row token tile (16 tokens x 4 heads at G4) walks those blocks
once for all its rows, masks per row the ones the row did not keep, and writes one partial per
(token, head); the combine merges it before the slots. At G4 16k that leaves the gather 13 of
16 slots per row and the combine 14 partials to read (H100 runs 91-94, ms: fwd 2.66 -> 2.55).

Input: the raw ``block_indices`` / ``block_counts`` (cleaned by the entry-key kernel: no index
preparation), or, for packed sequences, the prepared index of ``nsa_ops.indices``.
"""
from __future__ import annotations

from typing import Optional

import torch
import triton
import triton.language as tl

from .combine import combine_slots
from .configs import LOG2E, dot_precision, forward_kv_tile, next_pow2
from . import csr as csr_mod
from .csr import build_entry_csr, key_dtype, near_prefix, split_pieces
from .primitives import (as_fp32, chunk_ids, gather_chunk_q, gather_chunk_q_ids, load_block_kv, load_head_dim,
                         online_softmax_step, piece_of_item, qk_scores, store_once, wide_u32)

# The gather's lean softmax on far-only pieces (``_fwd_kv_gather_kernel``'s ``FAR_ONLY``); a
# switch for bench/exp_csr_reduce.py.
FAR_ONLY = True
# The gather writes the CSR's positions (the list place of each entry it walks, in a short pass
# per piece before its chunk loop: 77 SASS instructions per 1024 entries, the loop unchanged at
# 774 per chunk) instead of a kernel of their own inverting the sort (0.037 ms of a G4 16k
# forward, H100 run 144); the combine then picks the slots it reads by their keys. Off: it
# loses. H100 run 152 (bench/exp_csr_reduce.py --gpos, whole op, interleaved, ms, off -> on):
# G4 fwd 16k 2.004/2.008 -> 2.039/2.041, 64k 8.252/8.236 -> 8.484/8.490; G8 16k 3.864 ->
# 3.927; G1 16k 1.273 -> 1.273; G4 fwd+bwd 16k 5.548/5.557 -> 5.611/5.612.
GATHER_POSITIONS = False
# The query windows capped where the CSR keys would leave int16 (``query_windows``). It kept the
# radix sort at 2 passes; since session 26 the inference CSR that takes windows is built by
# atomics (``csr.UNORDERED_CSR``), where the cap buys no sort pass. Lifting it changes only
# the large shapes (G8 64k: 3 -> 4 windows) and loses there on random selections. H100 run 176
# (bench/exp_csr_reduce.py --wincap, whole op, interleaved, fwd ms, on -> off): G8 64k random
# 15.145 / 15.126 -> 15.306 / 15.338, local 16.510 -> 16.347; G4 64k 7.764 -> 7.768. Kept on;
# the bench's experiment switch.
WINDOWS_INT16_CAP = True
# The gather decodes its entries' query rows with one unsigned division
# (``primitives.entry_token``: 774 -> 702 SASS instructions per chunk at G4). H100 run 151
# (bench/exp_csr_reduce.py --decode, whole op, interleaved, ms, off -> on): G4 fwd 16k
# 2.005/2.006 -> 1.962/1.958, 64k 8.262/8.269 -> 8.110/8.122; G8 16k 3.858 -> 3.813; G1 16k
# 1.269 -> 1.269 (equal). The backward's own switch: kernels/backward.py.
FAST_DECODE = True
# The gather's q row and partial offsets as unsigned 32-bit products widened once
# (``primitives.wide_u32``) instead of signed 64-bit arithmetic: sm_90a SASS per 64-row chunk
# at G4 702 -> 679, registers 241 -> 200 (bench/asm_sm90.py). H200 run 157, 2026-12-07
# (bench/exp_csr_reduce.py --addr32, gpu_call73.sh; whole op, interleaved, ms, off -> on):
# G4 fwd 16k 1.758/1.758 -> 1.741/1.740, 64k 7.236/7.290 -> 7.170/7.165; G8 16k 3.286/3.278
# -> 3.253/3.242; G1 16k 1.143/1.147 -> 1.138/1.137, 64k 4.772 -> 4.740; fwd+bwd G4 16k 4.999
# -> 4.991, 64k 21.06 -> 21.00. Outputs bitwise equal.
ADDR32 = True


def addr32_fits(entries: torch.Tensor, n_entries: int, G: int, q: torch.Tensor) -> bool:
    """Whether the gather may take ``ADDR32``: int32 entry ids, every id * G + head below
    2^32 and a q row stride below 2^31 (``primitives.wide_u32``'s operands)."""
    return entries.dtype == torch.int32 and n_entries * G < 2 ** 32 and q.stride(1) < 2 ** 31


@triton.jit
def _fwd_kv_near_kernel(
    q_ptr, k_ptr, v_ptr, near_ptr, lse_near_ptr, o_near_ptr,
    stride_qb, stride_qt, stride_qh, stride_qd,
    stride_kb, stride_kt, stride_kh, stride_kd,
    stride_vb, stride_vt, stride_vh, stride_vd,
    Tq, Tk, H, G, D, DV,
    scale_log2e,
    BLOCK_SIZE: tl.constexpr, ROWS: tl.constexpr, BLOCK_GP: tl.constexpr,
    BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr, PRECISION: tl.constexpr, STREAM: tl.constexpr,
    BLOCK_D2: tl.constexpr = 0,
):
    """The near blocks (``kernels/csr.py``: block 0, the query's own block and the one before)
    of ROWS // BLOCK_GP consecutive tokens, all G heads of kv head h: one program walks the
    blocks any of its tokens may call near, each loaded once for all its rows, and masks per row
    the blocks that row did not keep (its ``near`` bits) and keys past its query. Writes one
    partial per (token, head) like a gathered slot: base-2 lse (-inf if the row kept no near
    block) and the normalised output, both at row (b * Tq + t) * HQ + h * G + head."""
    scale_log2e = as_fp32(scale_log2e)
    TT: tl.constexpr = ROWS // BLOCK_GP
    t0 = tl.program_id(0) * TT
    bh = tl.program_id(1)
    b = (bh // H).to(tl.int64)
    h = bh % H
    offs_r = tl.arange(0, ROWS)
    t = t0 + offs_r // BLOCK_GP
    head = offs_r % BLOCK_GP
    r_ok = (t < Tq) & (head < G)
    t = tl.minimum(t, Tq - 1)
    t64 = t.to(tl.int64)
    bits = tl.load(near_ptr + (b * Tq + t64) * H + h, mask=r_ok, other=0).to(tl.int32)
    pos = Tk - Tq + t
    own = pos // BLOCK_SIZE
    hq = (h * G + head).to(tl.int64)
    q, q2 = load_head_dim(q_ptr + b * stride_qb + t64 * stride_qt + hq * stride_qh, r_ok, stride_qd, D,
                          BLOCK_D, BLOCK_D2)
    # The blocks walked: block 0 (unless the range below holds it), then the own blocks of the
    # tile's first to last token and the block before the first.
    own_lo = (Tk - Tq + t0) // BLOCK_SIZE
    own_hi = (Tk - Tq + tl.minimum(t0 + TT, Tq) - 1) // BLOCK_SIZE
    j_lo = tl.maximum(own_lo - 1, 0)
    extra0 = (j_lo > 0).to(tl.int32)
    max_pos = Tk - Tq + tl.minimum(t0 + TT, Tq) - 1
    m_i = tl.full([ROWS], float("-inf"), tl.float32)
    l_i = tl.zeros([ROWS], tl.float32)
    acc = tl.zeros([ROWS, BLOCK_DV], tl.float32)
    for i in range(0, own_hi - j_lo + 1 + extra0):
        j = tl.where(i < extra0, 0, j_lo + i - extra0)
        code = tl.where(j == own, 4, tl.where(j == own - 1, 2, tl.where(j == 0, 1, 0)))
        row_sel = r_ok & ((bits & code) != 0)
        tok = j * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
        k, k2, v = load_block_kv(k_ptr, v_ptr, b, h, tok, tok <= max_pos, stride_kb, stride_kt, stride_kh,
                                 stride_kd, stride_vb, stride_vt, stride_vh, stride_vd, D, DV, BLOCK_D,
                                 BLOCK_DV, BLOCK_D2)
        visible = row_sel[:, None] & (tok[None, :] <= pos[:, None])
        m_i, l_i, acc = online_softmax_step(q, k, v, visible, m_i, l_i, acc, scale_log2e, PRECISION, q2, k2,
                                            BLOCK_D2)
    has_key = l_i > 0.0
    l_safe = tl.where(has_key, l_i, 1.0)
    o = acc / l_safe[:, None]
    lse2 = tl.where(has_key, m_i + tl.log2(l_safe), float("-inf"))
    row = (b * Tq + t64) * (H * G) + hq
    offs_dv = tl.arange(0, BLOCK_DV)
    store_once(lse_near_ptr + row, lse2, r_ok, STREAM)
    store_once(o_near_ptr + row[:, None] * DV + offs_dv[None, :], o.to(o_near_ptr.dtype.element_ty),
               r_ok[:, None] & (offs_dv[None, :] < DV), STREAM)



@triton.jit
def _fwd_kv_gather_kernel(
    q_ptr, k_ptr, v_ptr, lse_part_ptr, o_part_ptr,
    inv_offsets_ptr, entries_ptr, item_row_ptr, row_first_item_ptr, q_last_ptr, block_start_ptr, positions_ptr,
    stride_qb, stride_qt, stride_qh, stride_qd,
    stride_kb, stride_kt, stride_kh, stride_kd,
    stride_vb, stride_vt, stride_vh, stride_vd,
    Tq, Tk, H, G, D, DV, S, NB, n_rows, NW,
    group_tile, chunk_tokens, piece_tokens,
    scale_log2e,
    BLOCK_SIZE: tl.constexpr, ROWS: tl.constexpr,
    BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr,
    PRECISION: tl.constexpr, PACKED: tl.constexpr, STREAM: tl.constexpr = False,
    LSE_AT_POSITION: tl.constexpr = False, PREFETCH_IDS: tl.constexpr = False,
    BLOCK_D2: tl.constexpr = 0, BLOCK_DV2: tl.constexpr = 0, NEAR_STEPS: tl.constexpr = 0,
    FAR_ONLY: tl.constexpr = False, WRITE_POSITIONS: tl.constexpr = False, POS_BLOCK: tl.constexpr = 1024,
    FAST_DECODE: tl.constexpr = False, ADDR32: tl.constexpr = False,
):
    """``BLOCK_D2``: q and K in two head-dim pieces (``configs.head_dim_blocks``); ``BLOCK_DV2``:
    V and the output in two pieces of BLOCK_DV and BLOCK_DV2 columns (``configs.KVForwardTile``).
    ``NEAR_STEPS`` > 0: the lists still hold the near entries (``csr.build_entry_csr``'s
    ``near_in_lists``), which lead each list; each piece skips them (``csr.near_prefix``).
    ``FAR_ONLY``: every entry the pieces walk is far (the near pass takes the near ones,
    unpacked inputs), so its query sees the whole block: no causal mask, the scale goes into
    the exponent's FMA and the probabilities are normalised before P @ V (a row's 64 values
    per row instead of its Dv outputs). Rows past the piece load q = 0: finite, never stored.
    ``WRITE_POSITIONS``: each entry walked gets its list place in ``positions`` (the CSR's
    inverse list, ``GATHER_POSITIONS``), POS_BLOCK entries at a time before the chunk loop.
    ``ADDR32``: the q rows' and the partials' offsets as products of unsigned 32-bit values
    (``primitives.wide_u32``), where the launcher found int32 entries, ids * G below 2^32 and
    a q row stride below 2^31 (``ADDR32`` of this module)."""
    scale_log2e = as_fp32(scale_log2e)
    item_ok, b, h, g, lo, hi = piece_of_item(tl.program_id(0), item_row_ptr, row_first_item_ptr,
                                             inv_offsets_ptr, n_rows, H, NB, piece_tokens, NW)
    if NEAR_STEPS > 0:
        lo = near_prefix(entries_ptr, lo, hi, g, H, S, Tq, Tk, BLOCK_SIZE, NEAR_STEPS)
    offs_dv = tl.arange(0, BLOCK_DV)
    offs_n = tl.arange(0, BLOCK_SIZE)
    offs_r = tl.arange(0, ROWS)
    # The entries are ascending, so the piece's last entry has its latest query: no key past
    # that query's position is loaded.
    # Entry ids below 2^31 are stored and decoded in int32 (a 64-bit division costs far more).
    last_e = tl.load(entries_ptr + tl.maximum(hi - 1, lo), mask=hi > lo, other=0)
    last_t = ((last_e // (H * S)) % Tq).to(tl.int32)
    if PACKED:
        tok = tl.load(block_start_ptr + g) + offs_n
        max_last = tl.load(q_last_ptr + last_t, mask=hi > lo, other=-1)
    else:
        tok = g * BLOCK_SIZE + offs_n
        max_last = tl.where(hi > lo, Tk - Tq + last_t, -1)
    k, k2, v = load_block_kv(k_ptr, v_ptr, b, h, tok, tok <= max_last, stride_kb, stride_kt, stride_kh, stride_kd,
                             stride_vb, stride_vt, stride_vh, stride_vd, D, DV, BLOCK_D, BLOCK_DV, BLOCK_D2)
    if WRITE_POSITIONS:  # before the chunk loop: under the K/V loads' latency, one pass per piece
        for p0 in range(lo, hi, POS_BLOCK):
            p = p0 + tl.arange(0, POS_BLOCK)
            e_all = tl.load(entries_ptr + p, mask=p < hi, other=0)
            tl.store(positions_ptr + e_all, p.to(positions_ptr.dtype.element_ty), mask=p < hi)
    if BLOCK_DV2 > 0:
        offs_dv2 = BLOCK_DV + tl.arange(0, BLOCK_DV2)
        v2 = tl.load(v_ptr + b * stride_vb + h * stride_vh + tok.to(tl.int64)[:, None] * stride_vt
                     + offs_dv2[None, :] * stride_vd, mask=(tok <= max_last)[:, None] & (offs_dv2[None, :] < DV),
                     other=0.0)
    else:
        offs_dv2 = offs_dv
        v2 = v  # placeholders (no second piece)

    for head0 in range(0, G, group_tile):
        if PREFETCH_IDS:
            e_next = chunk_ids(entries_ptr, lo, offs_r, group_tile, chunk_tokens, hi)
        for c in range(lo, hi, chunk_tokens):
            if PREFETCH_IDS:  # ids a chunk ahead: configs.KVForwardTile.prefetch_ids
                e = e_next
                e_next = chunk_ids(entries_ptr, c + chunk_tokens, offs_r, group_tile, chunk_tokens, hi)
                r_ok, t, t64_unused, head, hq_unused, q, q2 = gather_chunk_q_ids(
                    e, c, offs_r, group_tile, head0, h, chunk_tokens, hi, G, H, S, Tq, q_ptr + b * stride_qb,
                    stride_qt, stride_qh, stride_qd, D, BLOCK_D, BLOCK_D2, b, FAST_DECODE, ADDR32)
            else:
                r_ok, e, t, t64_unused, head, hq_unused, q, q2 = gather_chunk_q(
                    entries_ptr, c, offs_r, group_tile, head0, h, chunk_tokens, hi, G, H, S, Tq,
                    q_ptr + b * stride_qb, stride_qt, stride_qh, stride_qd, D, BLOCK_D, BLOCK_D2, b, FAST_DECODE,
                    ADDR32)
            if PACKED:
                last = tl.load(q_last_ptr + t, mask=r_ok, other=-1)
            else:
                last = tl.where(r_ok, Tk - Tq + t, -1)
            if FAR_ONLY:
                s = qk_scores(q, k, q2, k2, BLOCK_D2, PRECISION)
                m = tl.max(s, 1) * scale_log2e  # scale > 0
                p = tl.exp2(s * scale_log2e - m[:, None])
                l = tl.sum(p, 1)  # >= 1: the maximum's term is exp2(0)
                pn = (p * (1.0 / l)[:, None]).to(v.dtype)
                o = tl.dot(pn, v, input_precision=PRECISION)
                if BLOCK_DV2 > 0:
                    o2 = tl.dot(pn, v2, input_precision=PRECISION)
                lse2 = m + tl.log2(l)
            else:
                s = qk_scores(q, k, q2, k2, BLOCK_D2, PRECISION) * scale_log2e
                s = tl.where(r_ok[:, None] & (tok[None, :] <= last[:, None]), s, float("-inf"))
                # A kept entry's block starts at or before its query: every row has a visible key.
                m = tl.max(s, 1)
                m_safe = tl.where(m == float("-inf"), 0.0, m)
                p = tl.exp2(s - m_safe[:, None])
                l = tl.sum(p, 1)
                l_safe = tl.where(l > 0.0, l, 1.0)
                o = tl.dot(p.to(v.dtype), v, input_precision=PRECISION) / l_safe[:, None]
                if BLOCK_DV2 > 0:
                    o2 = tl.dot(p.to(v.dtype), v2, input_precision=PRECISION) / l_safe[:, None]
                lse2 = m_safe + tl.log2(l_safe)
            if ADDR32:  # e * G + head below 2^32 (checked by the launcher)
                part32 = e.to(tl.uint32) * G + head
                part = part32.to(tl.int64)
                o_rows = o_part_ptr + wide_u32(part32, DV)
            else:
                part = e.to(tl.int64) * G + head
                o_rows = o_part_ptr + part * DV
            if LSE_AT_POSITION:  # the lse at the entry's list position (module docstring)
                store_once(lse_part_ptr + (c + offs_r // group_tile).to(tl.int64) * G + head, lse2, r_ok, STREAM)
            else:
                store_once(lse_part_ptr + part, lse2, r_ok, STREAM)
            store_once(o_rows[:, None] + offs_dv[None, :], o.to(o_part_ptr.dtype.element_ty),
                       r_ok[:, None] & (offs_dv[None, :] < DV), STREAM)
            if BLOCK_DV2 > 0:
                store_once(o_rows[:, None] + offs_dv2[None, :], o2.to(o_part_ptr.dtype.element_ty),
                           r_ok[:, None] & (offs_dv2[None, :] < DV), STREAM)


def query_windows(B: int, Tq: int, Tk: int, H: int, NB: int, q_bytes_per_token: int, kv_bytes_per_token: int,
                  window_q_bytes: int) -> int:
    """How many query windows the gather's CSR takes (``csr.build_entry_csr``'s ``windows``): a
    kv head's q rows (``q_bytes_per_token`` each: its G heads) cut into windows of about
    ``window_q_bytes`` (0: one window), so that the programs running together re-read q rows
    from L2 rather than HBM. Each window re-reads its kv head's K and V rows
    (``kv_bytes_per_token`` each), so a window is never smaller than those: more windows than
    q bytes over K/V bytes cost more K/V than they save q (H100 runs 153-154,
    ``KVForwardTile.window_q_bytes``; 0: no such floor). Capped where the keys would leave
    int16 (``csr.key_dtype``)."""
    if window_q_bytes <= 0:
        return 1
    window = max(window_q_bytes, Tk * kv_bytes_per_token)
    nw = max(1, min(Tq, -(-Tq * q_bytes_per_token // window)))
    if WINDOWS_INT16_CAP and key_dtype(B * H * NB) == torch.int16:  # keep the 2-pass int16 sort
        nw = max(1, min(nw, (2 ** 15 - 1) // (B * H * NB)))
    return nw


def selection_forward_kv(q, k, v, block_indices, block_counts: Optional[torch.Tensor], block_size: int,
                         scale: float, prepared=None, tile=None, keep_csr: bool = False):
    """q [B,Tq,HQ,D], k [B,Tk,H,D], v [B,Tk,H,Dv] (any strides). Without ``prepared``:
    ``block_indices`` [B,Tq,H,S] raw (and optional ``block_counts``), no packing. With
    ``prepared`` (``nsa_ops.indices.PreparedIndex``, packed sequences): its ``sel`` is used and
    ``block_indices``/``block_counts`` are ignored. Returns out [B,Tq,HQ,Dv] (q.dtype) and lse
    [B,Tq,HQ] fp32 (natural log; -inf and out = 0 where a query sees no key). ``keep_csr``
    (unpacked inputs): the entry CSR is built with the near entries left in its lists, the
    plain CSR the backward walks, and returned third (``reuses_csr``)."""
    B, Tq, HQ, D = q.shape
    Tk, H, Dv = k.shape[1], k.shape[2], v.shape[-1]
    G = HQ // H
    tile = tile or forward_kv_tile(G, D, Dv, block_size, q.element_size())  # override: bench sweeps

    def launch_near(near_bits):
        lse_near = torch.empty(B * Tq * HQ, device=q.device, dtype=torch.float32)
        o_near = torch.empty((B * Tq * HQ, Dv), device=q.device, dtype=q.dtype)
        block_gp = next_pow2(G)
        torch.library.wrap_triton(_fwd_kv_near_kernel)[(triton.cdiv(Tq, tile.near_rows // block_gp), B * H)](
            q, k, v, near_bits, lse_near, o_near,
            q.stride(0), q.stride(1), q.stride(2), q.stride(3),
            k.stride(0), k.stride(1), k.stride(2), k.stride(3),
            v.stride(0), v.stride(1), v.stride(2), v.stride(3),
            Tq, Tk, H, G, D, Dv, scale * LOG2E,
            BLOCK_SIZE=block_size, ROWS=tile.near_rows, BLOCK_GP=block_gp,
            BLOCK_D=tile.block_d if tile.near_split else next_pow2(tile.block_d + tile.block_d2),
            BLOCK_DV=next_pow2(tile.block_dv + tile.block_dv2), PRECISION=dot_precision(q.dtype),
            STREAM=tile.stream_partials, BLOCK_D2=tile.block_d2 if tile.near_split else 0,
            num_warps=tile.near_warps, num_stages=tile.near_stages,
        )
        return lse_near, o_near

    # The positions, filled by the gather (GATHER_POSITIONS) or by their own kernel.
    positions = ("alloc" if GATHER_POSITIONS else True) if tile.lse_at_position else False
    if prepared is not None:
        sel, NB = prepared.sel, prepared.block_start.shape[0]
        csr = build_entry_csr(sel, None, block_size, Tk, NB, prepared=True, positions=positions)
        q_last, block_start = prepared.q_last, prepared.block_start
    else:
        sel, NB = block_indices, (Tk + block_size - 1) // block_size
        keep_csr = keep_csr and tile.near_pass
        windows = 1 if keep_csr else query_windows(B, Tq, Tk, H, NB, G * D * q.element_size(),
                                                   (D + Dv) * k.element_size() * tile.window_kv_floor,
                                                   tile.window_q_bytes)
        # The far-only gather computes one partial per entry, whatever the order of its lists.
        unordered = (csr_mod.UNORDERED_CSR and positions != "alloc" and tile.near_pass and not keep_csr
                     and FAR_ONLY and scale > 0)
        csr = build_entry_csr(sel, block_counts, block_size, Tk, NB, positions=positions,
                              near=tile.near_pass, near_in_lists=keep_csr, windows=windows, stable=not unordered)
        q_last = block_start = csr.offsets  # unused pointers
    S = sel.shape[-1]
    n_entries = B * Tq * H * S
    pieces = split_pieces(csr.offsets, n_entries, tile.piece_tokens)
    lse_part = torch.empty(n_entries * G, device=q.device, dtype=torch.float32)
    o_part = torch.empty((n_entries * G, Dv), device=q.device, dtype=q.dtype)
    group_tile = min(G, tile.rows)
    torch.library.wrap_triton(_fwd_kv_gather_kernel)[(pieces.n_items,)](
        q, k, v, lse_part, o_part,
        csr.offsets, csr.entries, pieces.item_row, pieces.row_first_item, q_last, block_start,
        csr.positions if csr.positions is not None else csr.entries,
        q.stride(0), q.stride(1), q.stride(2), q.stride(3),
        k.stride(0), k.stride(1), k.stride(2), k.stride(3),
        v.stride(0), v.stride(1), v.stride(2), v.stride(3),
        Tq, Tk, H, G, D, Dv, S, NB, csr.sentinel, csr.windows,
        group_tile, tile.rows // group_tile, tile.piece_tokens,
        scale * LOG2E,
        BLOCK_SIZE=block_size, ROWS=tile.rows, BLOCK_D=tile.block_d, BLOCK_DV=tile.block_dv,
        PRECISION=dot_precision(q.dtype), PACKED=prepared is not None, STREAM=tile.stream_partials,
        LSE_AT_POSITION=tile.lse_at_position, PREFETCH_IDS=tile.prefetch_ids,
        BLOCK_D2=tile.block_d2, BLOCK_DV2=tile.block_dv2,
        NEAR_STEPS=(2 * block_size).bit_length() + 1 if prepared is None and keep_csr else 0,
        FAR_ONLY=FAR_ONLY and csr.near is not None and scale > 0, WRITE_POSITIONS=positions == "alloc", POS_BLOCK=1024,
        FAST_DECODE=FAST_DECODE,
        ADDR32=ADDR32 and addr32_fits(csr.entries, n_entries, G, q),
        num_warps=tile.num_warps, num_stages=tile.num_stages,
    )
    near = None
    if csr.near is not None:
        near = launch_near(csr.near)
    out = torch.empty((B, Tq, HQ, Dv), device=q.device, dtype=q.dtype)
    lse = torch.empty((B, Tq, HQ), device=q.device, dtype=torch.float32)
    combine_slots(lse_part, o_part, out, lse, G, S, keys=csr.keys, sentinel=csr.sentinel,
                  csr=csr if tile.lse_at_position else None, positions_by_key=positions == "alloc",
                  num_warps=tile.combine_warps,
                  elems=tile.combine_elems, dv_chunk=tile.combine_cols or None, stream=tile.stream_partials,
                  near=near, near_in_lists=(NB, Tk, block_size) if prepared is None and keep_csr else None)
    return (out, lse, csr) if prepared is None and keep_csr else (out, lse)


def reuses_csr(q, k, v, block_size: int) -> bool:
    """Whether ``selection_forward_kv(..., keep_csr=True)`` on these (unpacked) inputs returns
    the entry CSR (``kernels/csr.py``) that the backward would build: the KV-centric forward
    with its near pass. Decided by shapes and dtypes alone (fake kernels call it too)."""
    from .configs import forward_schedule

    G, D, Dv = q.shape[2] // k.shape[2], q.shape[-1], v.shape[-1]
    return (forward_schedule(G, D, Dv, block_size) == "kv"
            and forward_kv_tile(G, D, Dv, block_size, q.element_size()).near_pass)
