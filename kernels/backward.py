"""Backward kernels of selection attention: ``selection_backward`` -> (dq, dk, dv).

With P recomputed from the saved ``lse`` and ``delta = sum(do * out, -1) - dlse`` (from the
caller, or computed here), ``dS = P * (dP - delta)``.

- dQ (``configs.dq_schedule``): for G >= 16 token-centric, scheduled like the forward: one
  program per (query token, batch x kv head, head tile) walking that token's selected blocks,
  on the prepared index (packed sequences) or on the raw rows, cleaned in registers. On raw
  rows a multi-token kernel runs first, like the forward's: tiles of neighbouring tokens whose
  selections overlap walk the union of their blocks once for all their rows, and the token
  kernel skips them. These kernels also compute delta (each program holds its rows' dO), so
  they run before dK/dV. For smaller G the dK/dV kernel below also computes dS @ K for its
  gathered rows and stores it per (entry, head) (an entry is one (token, slot),
  ``kernels/csr.py``), in the input dtype for 16-bit inputs; a reduce kernel sums a query's kept
  slots in fp32 in slot order.
- dK/dV is KV-centric: a program owns one piece of one row of the entry CSR (the (token,
  slot) entries that selected global block g for kv head h), gathers (token, head) rows from it in
  chunks and accumulates the block's dk/dv in registers. A row's list is cut into pieces of at
  most ``dkv_piece_tokens`` tokens so that block 0 (selected by every query) does not serialise
  the tail; each piece writes an fp32 partial, and a second kernel sums a row's pieces in
  piece order and writes the block's tokens once. No atomics: the result is bitwise
  reproducible.

Ownership of tokens: in packed mode the last (partial) block of a sequence spans tokens of the
next sequence. Those keys are masked for every query that can select that block (their
``q_last`` lies before the next sequence), so the block owns only tokens
``[block_start[g], min(block_start[g] + block_size, block_start[g + 1], Tk))``; ``block_start``
is non-decreasing and the next sequence's first block starts exactly where the sequence ends,
so every token of k is owned by at most one block. Tokens no block owns keep the zero fill.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from .configs import (LOG2E, dkv_piece_tokens, dkv_tile, dot_precision, dq_reduce_shape, dq_schedule, dq_tile,
                      head_dim_blocks, next_pow2, shared_tile)
from .csr import full_view_prefix
from .forward_kv import addr32_fits
from .primitives import (as_fp32, chunk_ids, claim_shared_tile, dq_step, gather_chunk_q, gather_chunk_q_ids,
                         group_rows, load_block_kv, load_group_q, load_head_dim, piece_of_item, qk_scores,
                         shared_tile_rows, store_head_dim, token_block_kv, token_row_blocks, union_block_kv,
                         union_token_masks, wide_u32)
from .tma import kv_descriptors, launch_args

# The gathered loops decode their entries' query rows with one unsigned division
# (``primitives.entry_token``: 1080 -> 981 SASS instructions per dK/dV chunk at G4). H100 run
# 151 (bench/exp_csr_reduce.py --decode, whole op, interleaved, ms; off, forward only, both):
# G4 fwd+bwd 16k 5.596/5.554, 5.512, 5.424/5.448; 64k 23.616, 23.494, 23.284; G1 16k 3.269,
# 3.269, 3.232; G16 16k 10.924 -> 10.782 and D=192 15.601 -> 15.225 (off -> both).
FAST_DECODE = True
# The dK/dV pieces' q / dO row, lse / delta and dq partial offsets as unsigned 32-bit products
# widened once (``primitives.wide_u32``), as the forward gather's ``ADDR32``. None: per tile
# (``configs.KVTile.addr32``: head dims up to 128, H100 runs 158-159); True / False force it
# (experiments, tests). Taken only where ``dkv_addr32_fits``.
ADDR32 = None


def dkv_addr32_fits(entries, n_entries: int, G: int, q, do, lse, delta) -> bool:
    """Whether the dK/dV pieces may take ``ADDR32``: the forward gather's conditions
    (``forward_kv.addr32_fits``: int32 entry ids, ids * G below 2^32, q's row stride below
    2^31) and the row strides of dO, lse and delta below 2^31."""
    return addr32_fits(entries, n_entries, G, q) and max(do.stride(1), lse.stride(1), delta.stride(1)) < 2 ** 31


@triton.jit
def _rows_delta(do, delta_rows, row_ok, o_rows, stride_od, dlse_rows, DV, BLOCK_DV: tl.constexpr,
                FUSE_DELTA: tl.constexpr):
    """delta of a program's rows (pointers to each row's element: ``delta_rows``, ``o_rows``,
    ``dlse_rows``): with ``FUSE_DELTA`` computed here as rowsum(dO * O) - dlse in fp32 from the
    rows' dO already in registers, and stored for the dK/dV kernel launched after dQ (this saves
    ``_delta_kernel``'s pass over dO and O); else loaded."""
    if FUSE_DELTA:
        offs = tl.arange(0, BLOCK_DV)
        o = tl.load(o_rows[:, None] + offs[None, :] * stride_od, mask=row_ok[:, None] & (offs[None, :] < DV),
                    other=0.0)
        dlse = tl.load(dlse_rows, mask=row_ok, other=0.0)
        delta = tl.sum(do.to(tl.float32) * o.to(tl.float32), 1) - dlse
        tl.store(delta_rows, delta, mask=row_ok)
    else:
        delta = tl.load(delta_rows, mask=row_ok, other=0.0)
    return delta


@triton.jit
def _selection_dq_kernel(
    q_ptr, k_ptr, v_ptr, do_ptr, lse_ptr, delta_ptr, dq_ptr,
    sel_ptr, cnt_ptr, q_last_ptr, block_start_ptr,
    stride_qb, stride_qt, stride_qh, stride_qd,
    stride_kb, stride_kt, stride_kh, stride_kd,
    stride_vb, stride_vt, stride_vh, stride_vd,
    stride_dob, stride_dot, stride_doh, stride_dod,
    stride_lb, stride_lt, stride_lh,
    stride_db, stride_dt, stride_dh,
    stride_dqb, stride_dqt, stride_dqh,
    stride_sb, stride_st, stride_sh, stride_ss,
    stride_cb, stride_ct, stride_ch,
    out_ptr, stride_ob, stride_ot, stride_oh, stride_od,
    dlse_ptr, stride_xb, stride_xt, stride_xh,
    H, G, D, DV,
    scale, scale_log2e,
    Tq, Tk, NB, S,
    BLOCK_SIZE: tl.constexpr, BLOCK_G: tl.constexpr,
    BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr,
    PRECISION: tl.constexpr, BLOCK_D2: tl.constexpr = 0,
    RAW: tl.constexpr = False, HAS_COUNTS: tl.constexpr = False, BLOCK_S: tl.constexpr = 2,
    owned_ptr=None, SKIP_SHARED: tl.constexpr = False, TQ_SHARED: tl.constexpr = 1,
    FUSE_DELTA: tl.constexpr = False,
    k_desc=None, k2_desc=None, v_desc=None, TMA: tl.constexpr = False,
):
    """RAW=False: sel/cnt/q_last/block_start are the prepared index. RAW=True (no packing): sel
    is the user's block_indices and cnt the optional block_counts, each row cleaned in registers
    as in the forward (``primitives.clean_raw_row``); SKIP_SHARED: tiles the multi-token kernel
    (``_selection_dq_shared_kernel``, launched first) took are left alone. TMA: K/V blocks load
    through the descriptors of ``kernels/tma.py``, as in the forward."""
    scale = as_fp32(scale)
    scale_log2e = as_fp32(scale_log2e)
    t = tl.program_id(0)
    bh = tl.program_id(1)
    head_tile = tl.program_id(2)
    b = (bh // H).to(tl.int64)
    h = bh % H
    t64 = t.to(tl.int64)

    sel_base = sel_ptr + b * stride_sb + t64 * stride_st + h * stride_sh
    q, q2, heads, head_ok, hq = load_group_q(q_ptr, b, t64, h, head_tile, G, D, stride_qb, stride_qt, stride_qh,
                                             stride_qd, BLOCK_G, BLOCK_D, BLOCK_D2)
    ids, keep, rank, n_sel, last, head_ok = token_row_blocks(
        sel_base, stride_ss, cnt_ptr + b * stride_cb + t64 * stride_ct + h * stride_ch, q_last_ptr, owned_ptr, bh, t,
        Tq, Tk, S, NB, head_ok, RAW, HAS_COUNTS, SKIP_SHARED, TQ_SHARED, BLOCK_S, BLOCK_SIZE)
    offs_dv = tl.arange(0, BLOCK_DV)

    do = tl.load(do_ptr + b * stride_dob + t64 * stride_dot + hq[:, None] * stride_doh + offs_dv[None, :] * stride_dod,
                 mask=head_ok[:, None] & (offs_dv[None, :] < DV), other=0.0)
    lse = tl.load(lse_ptr + b * stride_lb + t64 * stride_lt + hq * stride_lh, mask=head_ok, other=0.0)
    delta = _rows_delta(do, delta_ptr + b * stride_db + t64 * stride_dt + hq * stride_dh, head_ok,
                        out_ptr + b * stride_ob + t64 * stride_ot + hq * stride_oh, stride_od,
                        dlse_ptr + b * stride_xb + t64 * stride_xt + hq * stride_xh, DV, BLOCK_DV, FUSE_DELTA)
    # lse = -inf (no visible key) -> +inf so that P = exp2(s - inf) = 0, never NaN.
    lse2 = tl.where(lse == float("-inf"), float("inf"), lse * 1.4426950408889634)

    dq = tl.zeros([BLOCK_G, BLOCK_D], tl.float32)
    if BLOCK_D2 > 0:
        dq2 = tl.zeros([BLOCK_G, BLOCK_D2], tl.float32)
    else:
        dq2 = dq  # placeholder (no second head-dim piece)
    for i in range(0, n_sel):
        k, k2, v, visible = token_block_kv(
            i, ids, keep, rank, sel_base, stride_ss, block_start_ptr, last, b, h, Tk, k_ptr, v_ptr, stride_kb,
            stride_kt, stride_kh, stride_kd, stride_vb, stride_vt, stride_vh, stride_vd, D, DV, k_desc, k2_desc,
            v_desc, RAW, TMA, BLOCK_SIZE, BLOCK_D, BLOCK_DV, BLOCK_D2)
        dq, dq2 = dq_step(q, q2, k, k2, v, do, lse2, delta, visible[None, :], dq, dq2, scale_log2e, PRECISION,
                          BLOCK_D2)

    store_head_dim(dq_ptr + b * stride_dqb + t64 * stride_dqt + hq * stride_dqh, head_ok, dq * scale, dq2 * scale,
                   1, D, BLOCK_D, BLOCK_D2)


@triton.jit
def _selection_dq_shared_kernel(
    q_ptr, k_ptr, v_ptr, do_ptr, lse_ptr, delta_ptr, dq_ptr, bi_ptr, cnt_ptr, owned_ptr,
    stride_qb, stride_qt, stride_qh, stride_qd,
    stride_kb, stride_kt, stride_kh, stride_kd,
    stride_vb, stride_vt, stride_vh, stride_vd,
    stride_dob, stride_dot, stride_doh, stride_dod,
    stride_lb, stride_lt, stride_lh,
    stride_db, stride_dt, stride_dh,
    stride_dqb, stride_dqt, stride_dqh,
    stride_sb, stride_st, stride_sh, stride_ss,
    stride_cb, stride_ct, stride_ch,
    out_ptr, stride_ob, stride_ot, stride_oh, stride_od,
    dlse_ptr, stride_xb, stride_xt, stride_xh,
    H, G, D, DV, scale, scale_log2e, Tq, Tk, NB, S, max_union,
    TQ: tl.constexpr, BLOCK_G: tl.constexpr, BLOCK_S: tl.constexpr, BLOCK_SIZE: tl.constexpr,
    BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr, PRECISION: tl.constexpr, HAS_COUNTS: tl.constexpr,
    BLOCK_D2: tl.constexpr = 0, FUSE_DELTA: tl.constexpr = False,
    k_desc=None, k2_desc=None, v_desc=None, TMA: tl.constexpr = False,
):
    """dQ with K/V shared across TQ neighbouring tokens, the backward twin of
    ``forward._selection_fwd_shared_kernel``: rows are (token, head) pairs of TQ tokens of one kv
    head, the program walks the union of their selected blocks, loading each once, and masks rows
    whose token did not select it. It takes only tiles whose union has at most ``max_union``
    blocks, and flags them; the token-centric dQ kernel (launched next) does the rest."""
    scale = as_fp32(scale)
    scale_log2e = as_fp32(scale_log2e)
    b, h, t0, ids, valid, first, rank, n_union, tok_local = claim_shared_tile(
        bi_ptr, cnt_ptr, owned_ptr, stride_sb, stride_st, stride_sh, stride_ss, stride_cb, stride_ct, stride_ch,
        H, Tq, Tk, NB, S, max_union, HAS_COUNTS, TQ, BLOCK_S, BLOCK_SIZE)

    if n_union <= max_union:
        r_tok, t_r, row_ok, hq, last_r = shared_tile_rows(t0, h, G, Tq, Tk, TQ, BLOCK_G)
        packed = union_token_masks(ids, valid, tok_local, TQ, BLOCK_S)
        offs_dv = tl.arange(0, BLOCK_DV)
        q, q2 = load_head_dim(q_ptr + b * stride_qb + t_r * stride_qt + hq * stride_qh, row_ok, stride_qd, D,
                              BLOCK_D, BLOCK_D2)
        do = tl.load(do_ptr + b * stride_dob + t_r[:, None] * stride_dot + hq[:, None] * stride_doh
                     + offs_dv[None, :] * stride_dod, mask=row_ok[:, None] & (offs_dv[None, :] < DV), other=0.0)
        lse = tl.load(lse_ptr + b * stride_lb + t_r * stride_lt + hq * stride_lh, mask=row_ok, other=0.0)
        delta = _rows_delta(do, delta_ptr + b * stride_db + t_r * stride_dt + hq * stride_dh, row_ok,
                            out_ptr + b * stride_ob + t_r * stride_ot + hq * stride_oh, stride_od,
                            dlse_ptr + b * stride_xb + t_r * stride_xt + hq * stride_xh, DV, BLOCK_DV, FUSE_DELTA)
        lse2 = tl.where(lse == float("-inf"), float("inf"), lse * 1.4426950408889634)

        dq = tl.zeros([TQ * BLOCK_G, BLOCK_D], tl.float32)
        if BLOCK_D2 > 0:
            dq2 = tl.zeros([TQ * BLOCK_G, BLOCK_D2], tl.float32)
        else:
            dq2 = dq  # placeholder (no second head-dim piece)
        for i in range(0, n_union):
            k, k2, v, visible = union_block_kv(
                i, packed, first, rank, r_tok, last_r, b, h, Tk, k_ptr, v_ptr, stride_kb, stride_kt, stride_kh,
                stride_kd, stride_vb, stride_vt, stride_vh, stride_vd, D, DV, k_desc, k2_desc, v_desc, TMA, TQ,
                BLOCK_SIZE, BLOCK_D, BLOCK_DV, BLOCK_D2)
            dq, dq2 = dq_step(q, q2, k, k2, v, do, lse2, delta, visible, dq, dq2, scale_log2e, PRECISION, BLOCK_D2)
        store_head_dim(dq_ptr + b * stride_dqb + t_r * stride_dqt + hq * stride_dqh, row_ok, dq * scale,
                       dq2 * scale, 1, D, BLOCK_D, BLOCK_D2)


@triton.jit
def _selection_dkv_piece_kernel(
    q_ptr, k_ptr, v_ptr, do_ptr, lse_ptr, delta_ptr,
    dk_part_ptr, dv_part_ptr, dq_part_ptr,
    q_last_ptr, block_start_ptr, inv_offsets_ptr, entries_ptr,
    item_row_ptr, row_first_item_ptr,
    Tq, S,
    stride_qb, stride_qt, stride_qh, stride_qd,
    stride_kb, stride_kt, stride_kh, stride_kd,
    stride_vb, stride_vt, stride_vh, stride_vd,
    stride_dob, stride_dot, stride_doh, stride_dod,
    stride_lb, stride_lt, stride_lh,
    stride_db, stride_dt, stride_dh,
    H, G, D, DV, NB, n_rows,
    group_tile, chunk_tokens, piece_tokens,
    scale, scale_log2e,
    BLOCK_SIZE: tl.constexpr, ROWS: tl.constexpr,
    BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr,
    PRECISION: tl.constexpr, DQ_PARTIAL: tl.constexpr, BLOCK_D2: tl.constexpr, PART_D: tl.constexpr,
    STREAM: tl.constexpr = False, PREFETCH_IDS: tl.constexpr = False, BLOCK_DV2: tl.constexpr = 0,
    dk_ptr=None, dv_ptr=None, stride_dkb=0, stride_dkt=0, stride_dkh=0, stride_dvb=0, stride_dvt=0, stride_dvh=0,
    Tk=0, DIRECT: tl.constexpr = False, PACKED: tl.constexpr = True,
    FULL_VIEW: tl.constexpr = False, FULL_STEPS: tl.constexpr = 0, DQ_SCALED: tl.constexpr = True,
    FAST_DECODE: tl.constexpr = False, ADDR32: tl.constexpr = False,
):
    """PACKED=False: the plain blocks of unpacked inputs (block g starts at g * BLOCK_SIZE, the
    query at row t sits at Tk - Tq + t), ``q_last`` / ``block_start`` unused. DIRECT: a program
    whose block row has one piece only writes dk / dv itself (the tokens
    the block owns, as ``_selection_dkv_reduce_kernel`` would) and no partial; the reduce skips
    those rows. dk and dq partials are rows of PART_D = BLOCK_D + BLOCK_D2 columns, column j holding
    head-dim column j (``kernels/configs.head_dim_blocks``); dv partials likewise, rows of
    BLOCK_DV + BLOCK_DV2 columns (``BLOCK_DV2``: dO, V and dv in two pieces). ``PREFETCH_IDS``:
    each chunk's entry ids are loaded one chunk ahead and carried, so the q / dO addresses of a
    chunk depend on no load of its own iteration. ``FULL_VIEW`` (unpacked): a list's entries
    whose query sees the whole block follow those whose query lies inside it
    (``csr.full_view_prefix``), and chunks past that point skip the causal mask (a branch per
    chunk; ``configs.KVTile.full_view``). ``DQ_SCALED=False``: the dq partials are stored
    unscaled and the reduce applies ``scale``. ``ADDR32``: the rows' offsets as unsigned 32-bit
    products (``ADDR32`` of this module; the launcher checked ``dkv_addr32_fits``)."""
    scale = as_fp32(scale)
    scale_log2e = as_fp32(scale_log2e)
    item = tl.program_id(0)
    item_ok, b, h, g, lo, hi = piece_of_item(item, item_row_ptr, row_first_item_ptr,
                                             inv_offsets_ptr, n_rows, H, NB, piece_tokens, 1)

    offs_n = tl.arange(0, BLOCK_SIZE)
    offs_r = tl.arange(0, ROWS)
    if PACKED:
        start = tl.load(block_start_ptr + g)
    else:
        start = g * BLOCK_SIZE
    tok = start + offs_n
    # Keys past the owning sequence are masked for every query below by tok <= q_last;
    # loading only tokens the row can reach keeps reads in bounds.
    # Entries ascend, so the piece's last one has its latest query (entry ids: kernels/csr.py).
    last_e = tl.load(entries_ptr + tl.maximum(hi - 1, lo), mask=hi > lo, other=0)
    last_tok = ((last_e // (H * S)) % Tq).to(tl.int32)
    if PACKED:
        max_last = tl.load(q_last_ptr + last_tok, mask=hi > lo, other=-1)
    else:
        max_last = tl.where(hi > lo, Tk - Tq + last_tok, -1)
    k, k2, v = load_block_kv(k_ptr, v_ptr, b, h, tok, tok <= max_last, stride_kb, stride_kt, stride_kh, stride_kd,
                             stride_vb, stride_vt, stride_vh, stride_vd, D, DV, BLOCK_D, BLOCK_DV, BLOCK_D2)
    if FULL_VIEW:
        full = full_view_prefix(entries_ptr, lo, hi, g, H, S, Tq, Tk, BLOCK_SIZE, FULL_STEPS)

    dk = tl.zeros([BLOCK_SIZE, BLOCK_D], tl.float32)
    if BLOCK_D2 > 0:
        dk2 = tl.zeros([BLOCK_SIZE, BLOCK_D2], tl.float32)
    else:
        dk2 = dk  # placeholder (no second head-dim piece)
    dv = tl.zeros([BLOCK_SIZE, BLOCK_DV], tl.float32)
    if BLOCK_DV2 > 0:
        offs_dv2 = BLOCK_DV + tl.arange(0, BLOCK_DV2)
        v2 = tl.load(v_ptr + b * stride_vb + h * stride_vh + tok.to(tl.int64)[:, None] * stride_vt
                     + offs_dv2[None, :] * stride_vd, mask=(tok <= max_last)[:, None] & (offs_dv2[None, :] < DV),
                     other=0.0)
        dv2 = tl.zeros([BLOCK_SIZE, BLOCK_DV2], tl.float32)
    else:
        v2 = v  # placeholders (no second piece)
        dv2 = dv
    for head0 in range(0, G, group_tile):
        if PREFETCH_IDS:
            e_next = chunk_ids(entries_ptr, lo, offs_r, group_tile, chunk_tokens, hi)
        for c in range(lo, hi, chunk_tokens):
            if PREFETCH_IDS:  # ids a chunk ahead: configs.KVTile.prefetch_ids
                e = e_next
                e_next = chunk_ids(entries_ptr, c + chunk_tokens, offs_r, group_tile, chunk_tokens, hi)
                r_ok, t_row, t64, head, hq, q, q2 = gather_chunk_q_ids(
                    e, c, offs_r, group_tile, head0, h, chunk_tokens, hi, G, H, S, Tq, q_ptr + b * stride_qb,
                    stride_qt, stride_qh, stride_qd, D, BLOCK_D, BLOCK_D2, b, FAST_DECODE, ADDR32)
            else:
                r_ok, e, t_row, t64, head, hq, q, q2 = gather_chunk_q(
                    entries_ptr, c, offs_r, group_tile, head0, h, chunk_tokens, hi, G, H, S, Tq,
                    q_ptr + b * stride_qb, stride_qt, stride_qh, stride_qd, D, BLOCK_D, BLOCK_D2, b, FAST_DECODE,
                    ADDR32)
            if PACKED:
                last = tl.load(q_last_ptr + t_row, mask=r_ok, other=-1)
            else:
                last = tl.where(r_ok, Tk - Tq + t_row, -1)
            if ADDR32:
                do_off = wide_u32(t_row, stride_dot)
                lse_off = wide_u32(t_row, stride_lt)
                delta_off = wide_u32(t_row, stride_dt)
            else:
                do_off = t64 * stride_dot
                lse_off = t64 * stride_lt
                delta_off = t64 * stride_dt
            do, do2 = load_head_dim(do_ptr + b * stride_dob + do_off + hq * stride_doh, r_ok, stride_dod,
                                    DV, BLOCK_DV, BLOCK_DV2)
            lse = tl.load(lse_ptr + b * stride_lb + lse_off + hq * stride_lh, mask=r_ok, other=0.0)
            delta = tl.load(delta_ptr + b * stride_db + delta_off + hq * stride_dh, mask=r_ok, other=0.0)
            if FULL_VIEW:
                # A kept entry's query sees a key, so its lse is finite; rows past the piece
                # load q = dO = 0 and lse = delta = 0 and add nothing.
                s = qk_scores(q, k, q2, k2, BLOCK_D2, PRECISION)
                p = tl.exp2(s * scale_log2e - (lse * 1.4426950408889634)[:, None])
                if c < full:  # a query inside the block: the causal mask
                    p = tl.where(r_ok[:, None] & (tok[None, :] <= last[:, None]), p, 0.0)
            else:
                lse2 = tl.where(lse == float("-inf"), float("inf"), lse * 1.4426950408889634)
                visible = r_ok[:, None] & (tok[None, :] <= last[:, None])
                s = qk_scores(q, k, q2, k2, BLOCK_D2, PRECISION) * scale_log2e
                p = tl.where(visible, tl.exp2(s - lse2[:, None]), 0.0)
            dv += tl.dot(tl.trans(p.to(do.dtype)), do, input_precision=PRECISION)
            if BLOCK_DV2 > 0:
                dv2 += tl.dot(tl.trans(p.to(do.dtype)), do2, input_precision=PRECISION)
            dp = qk_scores(do, v, do2, v2, BLOCK_DV2, PRECISION)
            ds = (p * (dp - delta[:, None])).to(q.dtype)
            dk += tl.dot(tl.trans(ds), q, input_precision=PRECISION)
            if BLOCK_D2 > 0:
                dk2 += tl.dot(tl.trans(ds), q2, input_precision=PRECISION)
            if DQ_PARTIAL:
                # dq of this (token, head) from block g, stored under its entry (token, slot)
                # and head; the reduce kernel sums a query's slots in slot order.
                dq_rows = tl.dot(ds, k, input_precision=PRECISION)
                if DQ_SCALED:
                    dq_rows = dq_rows * scale
                if BLOCK_D2 > 0:
                    dq_rows2 = tl.dot(ds, k2, input_precision=PRECISION)
                    if DQ_SCALED:
                        dq_rows2 = dq_rows2 * scale
                else:
                    dq_rows2 = dq_rows
                if ADDR32:  # e * G + head below 2^32 (checked by the launcher)
                    part_off = wide_u32(e.to(tl.uint32) * G + head, PART_D)
                else:
                    part_off = (e.to(tl.int64) * G + head) * PART_D
                store_head_dim(dq_part_ptr + part_off, r_ok, dq_rows, dq_rows2, 1, PART_D, BLOCK_D, BLOCK_D2,
                               STREAM)

    item64 = item.to(tl.int64)
    keep_partial = item_ok
    if DIRECT:
        row = tl.minimum(tl.load(item_row_ptr + item), n_rows - 1)
        single = item_ok & (tl.load(row_first_item_ptr + row + 1) - tl.load(row_first_item_ptr + row) == 1)
        keep_partial = item_ok & ~single
        if PACKED:
            next_start = tl.load(block_start_ptr + tl.minimum(g + 1, NB - 1))
        else:
            next_start = start + BLOCK_SIZE
        end = tl.minimum(start + BLOCK_SIZE, Tk)
        own = tok < tl.where(single, tl.where(g + 1 < NB, tl.minimum(end, next_start), end), -1)
        store_head_dim(dk_ptr + b * stride_dkb + h * stride_dkh + tok.to(tl.int64) * stride_dkt, own, dk * scale,
                       dk2 * scale, 1, D, BLOCK_D, BLOCK_D2)
        store_head_dim(dv_ptr + b * stride_dvb + h * stride_dvh + tok.to(tl.int64) * stride_dvt, own, dv, dv2, 1, DV,
                       BLOCK_DV, BLOCK_DV2)
    store_ok = offs_n < tl.where(keep_partial, BLOCK_SIZE, 0)
    store_head_dim(dk_part_ptr + item64 * (BLOCK_SIZE * PART_D) + offs_n * PART_D, store_ok, dk * scale,
                   dk2 * scale, 1, PART_D, BLOCK_D, BLOCK_D2)
    PART_DV = BLOCK_DV + BLOCK_DV2
    store_head_dim(dv_part_ptr + item64 * (BLOCK_SIZE * PART_DV) + offs_n * PART_DV, store_ok, dv, dv2, 1, PART_DV,
                   BLOCK_DV, BLOCK_DV2)


@triton.jit
def _selection_dkv_reduce_kernel(
    dk_part_ptr, dv_part_ptr, dk_ptr, dv_ptr,
    block_start_ptr, row_first_item_ptr,
    stride_dkb, stride_dkt, stride_dkh,
    stride_dvb, stride_dvt, stride_dvh,
    H, D, DV, NB, Tk,
    BLOCK_SIZE: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr, PART_D: tl.constexpr,
    DIRECT: tl.constexpr = False, PACKED: tl.constexpr = True,
):
    """dk partial rows are PART_D wide (<= BLOCK_D, a power of two), column j = head-dim j.
    DIRECT: rows of one piece were written by the pieces kernel and are left alone. PACKED=False:
    block g starts at g * BLOCK_SIZE (``block_start`` unused)."""
    row = tl.program_id(0)
    b = (row // (H * NB)).to(tl.int64)
    h = (row // NB) % H
    g = row % NB
    first = tl.load(row_first_item_ptr + row)
    last = tl.load(row_first_item_ptr + row + 1)
    if DIRECT:
        written = last - first == 1
    else:
        written = last < first  # never
    last = tl.where(written, first, last)
    if PACKED:
        start = tl.load(block_start_ptr + g)
        next_start = tl.load(block_start_ptr + tl.minimum(g + 1, NB - 1))
    else:
        start = g * BLOCK_SIZE
        next_start = start + BLOCK_SIZE
    end = tl.minimum(start + BLOCK_SIZE, Tk)
    end = tl.where(g + 1 < NB, tl.minimum(end, next_start), end)

    offs_d = tl.arange(0, BLOCK_D)
    offs_dv = tl.arange(0, BLOCK_DV)
    offs_n = tl.arange(0, BLOCK_SIZE)
    dk = tl.zeros([BLOCK_SIZE, BLOCK_D], tl.float32)
    dv = tl.zeros([BLOCK_SIZE, BLOCK_DV], tl.float32)
    first64 = first.to(tl.int64)
    dk_ptrs = dk_part_ptr + first64 * (BLOCK_SIZE * PART_D) + offs_n[:, None] * PART_D + offs_d[None, :]
    dv_ptrs = dv_part_ptr + first64 * (BLOCK_SIZE * BLOCK_DV) + offs_n[:, None] * BLOCK_DV + offs_dv[None, :]
    part_cols = (offs_n[:, None] >= 0) & (offs_d[None, :] < PART_D)
    for _ in range(first, last):  # fixed piece order: deterministic
        dk += tl.load(dk_ptrs, mask=part_cols, other=0.0)
        dv += tl.load(dv_ptrs)
        dk_ptrs += BLOCK_SIZE * PART_D
        dv_ptrs += BLOCK_SIZE * BLOCK_DV

    tok = start + offs_n
    own = tok < tl.where(written, start, end)  # none where the pieces kernel wrote the row
    tok64 = tok.to(tl.int64)
    tl.store(dk_ptr + b * stride_dkb + h * stride_dkh + tok64[:, None] * stride_dkt + offs_d[None, :],
             dk.to(dk_ptr.dtype.element_ty), mask=own[:, None] & (offs_d[None, :] < D))
    tl.store(dv_ptr + b * stride_dvb + h * stride_dvh + tok64[:, None] * stride_dvt + offs_dv[None, :],
             dv.to(dv_ptr.dtype.element_ty), mask=own[:, None] & (offs_dv[None, :] < DV))


@triton.jit
def _selection_dq_reduce_kernel(
    dq_part_ptr, keys_ptr, dq_ptr,
    n_groups, G, D, S, sentinel, scale,
    R: tl.constexpr, BLOCK_GP: tl.constexpr, SLOTS: tl.constexpr, D_CHUNK: tl.constexpr, PART_D: tl.constexpr,
):
    """dq of R / BLOCK_GP consecutive (b, t, kv head) groups, all G heads of each, D_CHUNK of its
    columns (program_id(1) picks which): ``scale`` times the sum of the kept slots' partials,
    SLOTS at a time in slot order (fixed shape: deterministic)."""
    scale = as_fp32(scale)
    grp64, head, r_ok = group_rows(n_groups, G, R, BLOCK_GP)
    offs_s = tl.arange(0, SLOTS)
    offs_d = tl.program_id(1) * D_CHUNK + tl.arange(0, D_CHUNK)
    dq = tl.zeros([R, D_CHUNK], tl.float32)
    for s0 in range(0, S, SLOTS):
        slot = s0 + offs_s
        e = grp64[:, None] * S + slot[None, :]
        ok = r_ok[:, None] & (slot[None, :] < S)
        ok = ok & (tl.load(keys_ptr + e, mask=ok, other=sentinel) != sentinel)
        part = e * G + head[:, None]
        dq += tl.sum(tl.load(dq_part_ptr + part[:, :, None] * PART_D + offs_d[None, None, :],
                             mask=ok[:, :, None] & (offs_d[None, None, :] < PART_D), other=0.0).to(tl.float32), 1)
    row = grp64 * G + head  # dq [B, Tq, HQ, D] is contiguous
    tl.store(dq_ptr + row[:, None] * D + offs_d[None, :], (dq * scale).to(dq_ptr.dtype.element_ty),
             mask=r_ok[:, None] & (offs_d[None, :] < D))


@triton.jit
def _delta_kernel(
    do_ptr, o_ptr, dlse_ptr, delta_ptr, n_rows, HQ, Tq, DV,
    stride_dob, stride_dot, stride_doh, stride_dod,
    stride_ob, stride_ot, stride_oh, stride_od,
    stride_lb, stride_lt, stride_lh,
    R: tl.constexpr, BLOCK_DV: tl.constexpr,
):
    """delta = rowsum(dO * O) - dlse in fp32 for R rows (b, t, head) of [B, Tq, HQ]."""
    rows = tl.program_id(0).to(tl.int64) * R + tl.arange(0, R)
    ok = rows < n_rows
    hq = rows % HQ
    t = (rows // HQ) % Tq
    b = rows // (HQ * Tq)
    offs = tl.arange(0, BLOCK_DV)
    m = ok[:, None] & (offs[None, :] < DV)
    do = tl.load(do_ptr + b[:, None] * stride_dob + t[:, None] * stride_dot + hq[:, None] * stride_doh
                 + offs[None, :] * stride_dod, mask=m, other=0.0).to(tl.float32)
    o = tl.load(o_ptr + b[:, None] * stride_ob + t[:, None] * stride_ot + hq[:, None] * stride_oh
                + offs[None, :] * stride_od, mask=m, other=0.0).to(tl.float32)
    dlse = tl.load(dlse_ptr + b * stride_lb + t * stride_lt + hq * stride_lh, mask=ok, other=0.0)
    tl.store(delta_ptr + rows, tl.sum(do * o, 1) - dlse, mask=ok)


def selection_delta(do, out, dlse):
    """delta = sum(do * out, -1) - dlse, fp32 [B, Tq, HQ], in one pass over do and out (the
    eager torch expression materialises two fp32 copies: 1.6 ms of 12.8 in the G16 T=16k
    backward on the H100, run 9)."""
    B, Tq, HQ, Dv = out.shape
    delta = torch.empty((B, Tq, HQ), device=out.device, dtype=torch.float32)
    dlse = dlse.to(torch.float32)
    block_dv = max(16, next_pow2(Dv))
    rows = max(1, 8192 // block_dv)
    n_rows = B * Tq * HQ
    torch.library.wrap_triton(_delta_kernel)[(triton.cdiv(n_rows, rows),)](
        do, out, dlse, delta, n_rows, HQ, Tq, Dv,
        do.stride(0), do.stride(1), do.stride(2), do.stride(3),
        out.stride(0), out.stride(1), out.stride(2), out.stride(3),
        dlse.stride(0), dlse.stride(1), dlse.stride(2),
        R=rows, BLOCK_DV=block_dv, num_warps=4,
    )
    return delta


# The pieces kernel writes dk / dv of block rows with one piece itself (no fp32 partial and no
# reduce for them); the bench's experiment switch (bench/exp_csr_reduce.py --direct).
DIRECT_DKV = True
# Experiment switches (bench/exp_csr_reduce.py --lean): FULL_VIEW None follows the tile
# (``configs.KVTile.full_view``), True / False force it; DQ_SCALE_IN_REDUCE: the dq partials'
# scale applied once in the reduce instead of per partial in the pieces kernel.
FULL_VIEW = None
DQ_SCALE_IN_REDUCE = True


def selection_backward(do, q, k, v, lse, delta, q_last, block_start, csr, block_size: int, scale: float,
                       sel=None, cnt=None, raw=None, use_shared=True, out=None, dlse=None, packed=True):
    """do [B,Tq,HQ,Dv]; lse, delta fp32 [B,Tq,HQ] with delta = sum(do * out, -1) - dlse. With
    ``delta=None`` pass ``out`` and ``dlse``: the token-centric dQ kernels then compute delta on
    the way (their programs hold each row's dO), else ``selection_delta`` runs first.
    ``csr``: the entry CSR of ``kernels/csr.py`` over the NB (global) blocks; q_last /
    block_start as in ``nsa_ops.indices`` (None with ``packed=False``). The token-centric dQ kernel
    (``dq_schedule``) reads either the prepared index (``sel``/``cnt``) or, for unpacked inputs,
    ``raw = (block_indices, block_counts or None)``, which also lets tiles of neighbouring tokens
    with overlapping selections take the multi-token kernel (``configs.shared_tile``;
    ``use_shared=False`` turns it off). ``packed=False`` promises the blocks are the plain
    ``block_start = arange(NB) * block_size`` of unpacked inputs, queries at Tk - Tq + t (then
    dk/dv need no zero fill, and the kernels compute both). Returns dq [B,Tq,HQ,D], dk [B,Tk,H,D], dv [B,Tk,H,Dv] in
    the input dtypes (accumulated in fp32)."""
    B, Tq, HQ, D = q.shape
    Tk, H = k.shape[1], k.shape[2]
    Dv = v.shape[-1]
    S = csr.keys.shape[-1]
    G = HQ // H
    if csr.windows != 1:
        raise ValueError("selection_backward: the entry CSR must have one query window per row")
    NB = csr.sentinel // (B * H)
    if not packed:  # plain blocks: the kernels compute both (pointers unused)
        q_last = block_start = csr.offsets
    precision = dot_precision(q.dtype)
    scale_log2e = scale * LOG2E

    dq = torch.empty((B, Tq, HQ, D), device=q.device, dtype=q.dtype)
    kv_dq = dq_schedule(G, D, Dv, block_size) == "kv"
    if delta is None and kv_dq:
        delta = selection_delta(do, out, dlse)
    if not kv_dq:
        # dQ first: with delta=None it writes delta for the dK/dV kernel below.
        delta = _launch_token_dq(do, q, k, v, lse, delta, dq, q_last, block_start, block_size, scale, sel, cnt,
                                 raw, use_shared, out, dlse)[1]

    # Pieces: row r's list is cut into ceil(len / piece) pieces; the grid is the static bound
    # rows + entries / piece, and surplus programs find item_row == n_rows and write nothing.
    kt = dkv_tile(G, D, Dv, block_size, q.element_size())
    piece = dkv_piece_tokens(G, packed)
    n_rows = B * H * NB
    from .csr import split_pieces

    row_first_item, item_row, n_items = split_pieces(csr.offsets, B * Tq * H * S, piece)
    part_d = kt.block_d + kt.block_d2  # partial rows: the head dim's pieces side by side
    dk_part = torch.empty((n_items, block_size, part_d), device=q.device, dtype=torch.float32)
    part_dv = kt.block_dv + kt.block_dv2
    assert part_dv == next_pow2(part_dv), "dv partial rows must be a power of two wide (the reduce reads whole rows)"
    dv_part = torch.empty((n_items, block_size, part_dv), device=q.device, dtype=torch.float32)
    group_tile = min(G, kt.rows)
    # dq partials in the input dtype for 16-bit inputs (half the traffic of fp32; a query sums
    # at most S of them in fp32), fp32 otherwise.
    part_dtype = q.dtype if q.element_size() == 2 else torch.float32
    dq_part = torch.empty((B * Tq * H * S * G if kv_dq else 1, part_d), device=q.device, dtype=part_dtype)
    # The reduce writes every token of every block row (zeros for rows nobody selected), and the
    # pieces kernel those of rows with one piece (DIRECT). Unpacked, the rows cover all Tk keys;
    # packed, keys past the last sequence belong to no row.
    # dq partials unscaled (the reduce scales their sum: DQ_SCALE_IN_REDUCE), except in fp16,
    # whose range the ~1 / scale larger values could leave.
    dq_scaled = q.dtype == torch.float16 or not DQ_SCALE_IN_REDUCE
    full_view = kt.full_view if FULL_VIEW is None else FULL_VIEW
    fresh = torch.zeros if packed else torch.empty
    dk = fresh((B, Tk, H, D), device=k.device, dtype=k.dtype)
    dv = fresh((B, Tk, H, Dv), device=v.device, dtype=v.dtype)
    torch.library.wrap_triton(_selection_dkv_piece_kernel)[(n_items,)](
        q, k, v, do, lse, delta,
        dk_part, dv_part, dq_part,
        q_last, block_start, csr.offsets, csr.entries,
        item_row, row_first_item,
        Tq, S,
        q.stride(0), q.stride(1), q.stride(2), q.stride(3),
        k.stride(0), k.stride(1), k.stride(2), k.stride(3),
        v.stride(0), v.stride(1), v.stride(2), v.stride(3),
        do.stride(0), do.stride(1), do.stride(2), do.stride(3),
        lse.stride(0), lse.stride(1), lse.stride(2),
        delta.stride(0), delta.stride(1), delta.stride(2),
        H, G, D, Dv, NB, n_rows,
        group_tile, kt.rows // group_tile, piece,
        scale, scale_log2e,
        BLOCK_SIZE=block_size, ROWS=kt.rows, BLOCK_D=kt.block_d, BLOCK_DV=kt.block_dv,
        PRECISION=precision, DQ_PARTIAL=kv_dq, BLOCK_D2=kt.block_d2, PART_D=part_d, STREAM=kt.stream_partials,
        PREFETCH_IDS=kt.prefetch_ids, BLOCK_DV2=kt.block_dv2,
        dk_ptr=dk, dv_ptr=dv, stride_dkb=dk.stride(0), stride_dkt=dk.stride(1), stride_dkh=dk.stride(2),
        stride_dvb=dv.stride(0), stride_dvt=dv.stride(1), stride_dvh=dv.stride(2), Tk=Tk, DIRECT=DIRECT_DKV,
        PACKED=packed, FULL_VIEW=full_view and not packed, FULL_STEPS=block_size.bit_length() + 1,
        DQ_SCALED=dq_scaled, FAST_DECODE=FAST_DECODE,
        ADDR32=(kt.addr32 if ADDR32 is None else ADDR32)
        and dkv_addr32_fits(csr.entries, B * Tq * H * S, G, q, do, lse, delta),
        num_warps=kt.num_warps, num_stages=kt.num_stages,
    )
    if kv_dq:
        block_gp = next_pow2(G)
        slots = min(16, max(2, next_pow2(S)))
        elems, cols = dq_reduce_shape(G)
        chunk = min(next_pow2(part_d), cols or next_pow2(part_d))
        rows = max(block_gp, next_pow2(max(1, elems // (slots * chunk))))
        n_groups = B * Tq * H
        grid = (triton.cdiv(n_groups, rows // block_gp), triton.cdiv(part_d, chunk))
        torch.library.wrap_triton(_selection_dq_reduce_kernel)[grid](
            dq_part, csr.keys, dq,
            n_groups, G, D, S, csr.sentinel, 1.0 if dq_scaled else scale,
            R=rows, BLOCK_GP=block_gp, SLOTS=slots, D_CHUNK=chunk, PART_D=part_d,
            num_warps=4,
        )

    torch.library.wrap_triton(_selection_dkv_reduce_kernel)[(n_rows,)](
        dk_part, dv_part, dk, dv,
        block_start, row_first_item,
        dk.stride(0), dk.stride(1), dk.stride(2),
        dv.stride(0), dv.stride(1), dv.stride(2),
        H, D, Dv, NB, Tk,
        BLOCK_SIZE=block_size, BLOCK_D=next_pow2(part_d), BLOCK_DV=part_dv, PART_D=part_d, DIRECT=DIRECT_DKV,
        PACKED=packed, num_warps=4,
    )
    return dq, dk, dv


def _launch_token_dq(do, q, k, v, lse, delta, dq, q_last, block_start, block_size, scale, sel, cnt, raw,
                     use_shared, out=None, dlse=None):
    """Writes dq with the token-centric kernel (after the multi-token one where it applies), and
    delta too when ``delta`` is None (from ``out`` and ``dlse``). Returns the multi-token
    kernel's per-tile flags (int8 [B*H*tiles], 1 = taken, or None) and delta."""
    B, Tq, HQ, D = q.shape
    Tk, H, Dv = k.shape[1], k.shape[2], v.shape[-1]
    G = HQ // H
    NB = (Tk + block_size - 1) // block_size
    descs = kv_descriptors(k, v, block_size, *head_dim_blocks(D), max(16, next_pow2(Dv)), packed=raw is None)
    qt = dq_tile(G, D, Dv, block_size, q.element_size(), tma=descs is not None)
    if descs is not None and (qt.block_d, qt.block_d2) != head_dim_blocks(D):  # a tile's own pieces
        descs = kv_descriptors(k, v, block_size, qt.block_d, qt.block_d2, max(16, next_pow2(Dv)), packed=raw is None)
    if raw is not None:
        sel, counts = raw
        has_counts = counts is not None
        cnt = counts if has_counts else sel  # unused pointer without counts
    elif sel is None:
        raise ValueError("the token-centric dQ kernel needs the prepared index (sel, cnt) or the raw indices")
    S = sel.shape[-1]
    shared = (shared_tile(G, D, Dv, block_size, S, q.element_size()) if raw is not None and use_shared else None)
    fuse_delta = delta is None
    if fuse_delta:
        delta = torch.empty((B, Tq, HQ), device=q.device, dtype=torch.float32)
        dlse = dlse.to(torch.float32)
    else:
        out = dlse = delta  # unused placeholders
    common = (
        q.stride(0), q.stride(1), q.stride(2), q.stride(3),
        k.stride(0), k.stride(1), k.stride(2), k.stride(3),
        v.stride(0), v.stride(1), v.stride(2), v.stride(3),
        do.stride(0), do.stride(1), do.stride(2), do.stride(3),
        lse.stride(0), lse.stride(1), lse.stride(2),
        delta.stride(0), delta.stride(1), delta.stride(2),
        dq.stride(0), dq.stride(1), dq.stride(2),
        sel.stride(0), sel.stride(1), sel.stride(2), sel.stride(3),
        cnt.stride(0), cnt.stride(1), cnt.stride(2),
        out, out.stride(0), out.stride(1), out.stride(2), out.stride(-1),
        dlse, dlse.stride(0), dlse.stride(1), dlse.stride(2),
    )
    owned = None
    if shared:
        owned = torch.empty((B * H * triton.cdiv(Tq, shared.tokens),), device=q.device, dtype=torch.int8)
        torch.library.wrap_triton(_selection_dq_shared_kernel)[(triton.cdiv(Tq, shared.tokens), B * H)](
            q, k, v, do, lse, delta, dq, sel, cnt, owned, *common,
            H, G, D, Dv, scale, scale * LOG2E, Tq, Tk, NB, S, shared.max_union,
            TQ=shared.tokens, BLOCK_G=qt.block_g, BLOCK_S=max(2, next_pow2(S)), BLOCK_SIZE=block_size,
            BLOCK_D=qt.block_d, BLOCK_DV=qt.block_dv, PRECISION=dot_precision(q.dtype), HAS_COUNTS=has_counts,
            BLOCK_D2=qt.block_d2, FUSE_DELTA=fuse_delta, num_warps=shared.num_warps,
            num_stages=shared.num_stages, **launch_args(descs, k, v),
        )
    torch.library.wrap_triton(_selection_dq_kernel)[(Tq, B * H, triton.cdiv(G, qt.block_g))](
        q, k, v, do, lse, delta, dq,
        sel, cnt, sel if raw is not None else q_last, sel if raw is not None else block_start, *common,
        H, G, D, Dv,
        scale, scale * LOG2E,
        Tq, Tk, NB, S,
        BLOCK_SIZE=block_size, BLOCK_G=qt.block_g, BLOCK_D=qt.block_d, BLOCK_DV=qt.block_dv,
        PRECISION=dot_precision(q.dtype), BLOCK_D2=qt.block_d2,
        RAW=raw is not None, HAS_COUNTS=raw is not None and has_counts, BLOCK_S=max(2, next_pow2(S)),
        owned_ptr=owned if shared else lse, SKIP_SHARED=bool(shared),  # lse: unused placeholder
        TQ_SHARED=shared.tokens if shared else 1, FUSE_DELTA=fuse_delta,
        num_warps=qt.num_warps, num_stages=qt.num_stages, **launch_args(descs, k, v),
    )
    return owned, delta


def needs_prepared_index(group_size: int, d: int, dv: int, block_size: int) -> bool:
    """Whether ``selection_backward`` on packed inputs needs ``sel``/``cnt`` (token-centric
    dQ); unpacked inputs pass the raw indices instead."""
    return dq_schedule(group_size, d, dv, block_size) != "kv"
