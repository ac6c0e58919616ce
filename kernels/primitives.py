"""Triton building blocks shared by the forward, backward and decode kernels (inlined by the
compiler; no launch of their own).

Callers: never name an unused result ``_`` in a kernel that also assigns ``_`` inside a loop:
Triton (3.6, not the interpreter) treats it as one loop-carried variable whose shape changes.
"""
from __future__ import annotations

import triton
import triton.language as tl

LN2 = tl.constexpr(0.6931471805599453)  # a global read inside @jit must be a constexpr


@triton.jit
def as_fp32(x):
    """A float kernel argument as fp32: Triton types a Python float fp32, but Inductor (torch
    2.11) passes user kernels' float arguments as fp64, which would turn the scores and the
    loop-carried softmax state fp64 (a compile error in a loop, slow fp64 math elsewhere)."""
    return tl.cast(x, tl.float32)


@triton.jit
def qk_scores(q, k, q2, k2, BLOCK_D2: tl.constexpr, PRECISION: tl.constexpr):
    """q @ k^T over a head dim held in one or two pieces (``configs.head_dim_blocks``: D=192 is
    128 + 64 columns rather than 256 with 64 of padding). Without a second piece q2/k2 are
    placeholders and unused."""
    s = tl.dot(q, tl.trans(k), input_precision=PRECISION)
    if BLOCK_D2 > 0:
        s += tl.dot(q2, tl.trans(k2), input_precision=PRECISION)
    return s


@triton.jit
def load_head_dim(row_ptr, row_ok, stride_d, D, BLOCK_D: tl.constexpr, BLOCK_D2: tl.constexpr):
    """Rows [R] of a [.., D] tensor (``row_ptr`` points at each row's element 0) as the pieces
    (x [R, BLOCK_D], x2 [R, BLOCK_D2]) of the head dim, zero past D and on rows not ``row_ok``;
    without a second piece x2 is x (a placeholder, never used)."""
    offs = tl.arange(0, BLOCK_D)
    x = tl.load(row_ptr[:, None] + offs[None, :] * stride_d, mask=row_ok[:, None] & (offs[None, :] < D), other=0.0)
    if BLOCK_D2 > 0:
        offs2 = BLOCK_D + tl.arange(0, BLOCK_D2)
        x2 = tl.load(row_ptr[:, None] + offs2[None, :] * stride_d, mask=row_ok[:, None] & (offs2[None, :] < D),
                     other=0.0)
    else:
        x2 = x
    return x, x2


@triton.jit
def load_once(ptrs, mask, EVICT_FIRST: tl.constexpr):
    """``tl.load`` (0 where masked) of data read once: ``EVICT_FIRST`` marks it for early
    eviction from L2, so a large one-pass stream does not push out what is re-read."""
    if EVICT_FIRST:
        return tl.load(ptrs, mask=mask, other=0.0, eviction_policy="evict_first")
    else:
        return tl.load(ptrs, mask=mask, other=0.0)


@triton.jit
def store_once(ptrs, value, mask, EVICT_FIRST: tl.constexpr):
    """``tl.store`` of data the next kernel reads once (``load_once``)."""
    if EVICT_FIRST:
        tl.store(ptrs, value, mask=mask, eviction_policy="evict_first")
    else:
        tl.store(ptrs, value, mask=mask)


@triton.jit
def store_head_dim(row_ptr, row_ok, x, x2, stride_d, D, BLOCK_D: tl.constexpr, BLOCK_D2: tl.constexpr,
                   EVICT_FIRST: tl.constexpr = False):
    """The inverse of ``load_head_dim``: stores columns < D of the pieces (cast to the target);
    ``EVICT_FIRST``: see ``store_once``."""
    offs = tl.arange(0, BLOCK_D)
    store_once(row_ptr[:, None] + offs[None, :] * stride_d, x.to(row_ptr.dtype.element_ty),
               row_ok[:, None] & (offs[None, :] < D), EVICT_FIRST)
    if BLOCK_D2 > 0:
        offs2 = BLOCK_D + tl.arange(0, BLOCK_D2)
        store_once(row_ptr[:, None] + offs2[None, :] * stride_d, x2.to(row_ptr.dtype.element_ty),
                   row_ok[:, None] & (offs2[None, :] < D), EVICT_FIRST)


@triton.jit
def online_softmax_step(q, k, v, visible, m_i, l_i, acc, scale_log2e, PRECISION: tl.constexpr,
                        q2, k2, BLOCK_D2: tl.constexpr):
    """One K/V block of the base-2 online softmax. ``visible`` [rows, keys] masks scores; a row
    that has seen no visible key yet keeps m = -inf and subtracts 0, never -inf (no NaN).
    q2/k2: the second head-dim piece (``qk_scores``)."""
    s = qk_scores(q, k, q2, k2, BLOCK_D2, PRECISION) * scale_log2e
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
def piece_of_item(item, item_row_ptr, row_first_item_ptr, inv_offsets_ptr, n_rows, H, NB, piece_tokens, NW):
    """Which inverse-index row (b, h, global block g) a work item belongs to and its slice
    [lo, hi) of that row's query list; surplus items (the grid is an upper bound) get lo == hi.
    NW > 1: the rows are (b, h, query window, g) (``csr.build_entry_csr``'s ``windows``)."""
    row = tl.load(item_row_ptr + item)
    item_ok = row < n_rows
    row = tl.minimum(row, n_rows - 1)
    piece = item - tl.load(row_first_item_ptr + row)
    b = (row // (H * NW * NB)).to(tl.int64)
    h = (row // (NW * NB)) % H
    g = row % NB
    list_end = tl.load(inv_offsets_ptr + row + 1)
    lo = tl.load(inv_offsets_ptr + row) + piece * piece_tokens
    hi = tl.where(item_ok, tl.minimum(list_end, lo + piece_tokens), lo)
    return item_ok, b, h, g, lo, hi


@triton.jit
def load_block_kv(k_ptr, v_ptr, b, h, tok, kv_ok, stride_kb, stride_kt, stride_kh, stride_kd,
                  stride_vb, stride_vt, stride_vh, stride_vd, D, DV,
                  BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr, BLOCK_D2: tl.constexpr):
    """K [tokens, BLOCK_D] (+ its second head-dim piece k2 [tokens, BLOCK_D2], see
    ``load_head_dim``) and V [tokens, BLOCK_DV] of one block, zero where not ``kv_ok``."""
    offs_dv = tl.arange(0, BLOCK_DV)
    tok64 = tok.to(tl.int64)
    k, k2 = load_head_dim(k_ptr + b * stride_kb + h * stride_kh + tok64 * stride_kt, kv_ok, stride_kd, D,
                          BLOCK_D, BLOCK_D2)
    v = tl.load(v_ptr + b * stride_vb + h * stride_vh + tok64[:, None] * stride_vt + offs_dv[None, :] * stride_vd,
                mask=kv_ok[:, None] & (offs_dv[None, :] < DV), other=0.0)
    return k, k2, v


@triton.jit
def load_block_kv_tma(k_desc, k2_desc, v_desc, row, h, D, DV, BLOCK_D: tl.constexpr, BLOCK_D2: tl.constexpr):
    """``load_block_kv`` through TMA descriptors (``kernels/tma.py``: K and V as [B*Tk, H*D]
    matrices): the block's rows start at ``row`` (b*Tk + its first token), its columns at
    h*D. Rows past the tensor read 0; rows past a query's position are loaded as they are
    (callers mask the scores)."""
    row = row.to(tl.int32)
    k = k_desc.load([row, h * D])
    v = v_desc.load([row, h * DV])
    if BLOCK_D2 > 0:
        k2 = k2_desc.load([row, h * D + BLOCK_D])
    else:
        k2 = k
    return k, k2, v


@triton.jit
def token_row_blocks(sel_base, stride_ss, cnt_base, q_last_ptr, owned_ptr, bh, t, Tq, Tk, S, NB, head_ok,
                     RAW: tl.constexpr, HAS_COUNTS: tl.constexpr, SKIP_SHARED: tl.constexpr, TQ_SHARED: tl.constexpr,
                     BLOCK_S: tl.constexpr, BLOCK_SIZE: tl.constexpr):
    """The row a token-centric program (forward or dQ; token t, batch x kv head ``bh``) walks.
    RAW: the user's row at ``sel_base`` cleaned in registers (``clean_raw_row``; ``cnt_base``
    -> its block_counts entry) and, with SKIP_SHARED, emptied when the multi-token kernel took
    the tile (its heads then write nothing). Otherwise the prepared index: the count at
    ``cnt_base`` and the last visible key from ``q_last_ptr`` (ids, keep, rank are then unused
    placeholders). Returns ids, keep, rank, the count, the last visible key and head_ok."""
    if RAW:
        last = Tk - Tq + t
        ids, keep, rank, n_sel = clean_raw_row(sel_base, stride_ss, cnt_base, S, NB, last, HAS_COUNTS, BLOCK_S,
                                               BLOCK_SIZE)
        if SKIP_SHARED:
            owned_elsewhere = owned_by_shared(owned_ptr, bh, t, Tq, TQ_SHARED)
            n_sel = n_sel * (1 - owned_elsewhere)
            head_ok = head_ok & ((tl.zeros_like(head_ok.to(tl.int32)) + owned_elsewhere) == 0)
    else:
        ids = tl.zeros([BLOCK_S], tl.int64)
        keep = ids < 0
        rank = tl.zeros([BLOCK_S], tl.int32)
        n_sel = tl.load(cnt_base)
        last = tl.load(q_last_ptr + t)
    return ids, keep, rank, n_sel, last, head_ok


@triton.jit
def token_block_kv(i, ids, keep, rank, sel_base, stride_ss, block_start_ptr, last, b, h, Tk, k_ptr, v_ptr,
                   stride_kb, stride_kt, stride_kh, stride_kd, stride_vb, stride_vt, stride_vh, stride_vd, D, DV,
                   k_desc, k2_desc, v_desc, RAW: tl.constexpr, TMA: tl.constexpr, BLOCK_SIZE: tl.constexpr,
                   BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr, BLOCK_D2: tl.constexpr):
    """K (two pieces) and V of the i-th block of a token-centric row (``token_row_blocks``),
    through TMA descriptors or pointer tiles, and which of its keys the query sees."""
    if RAW:
        start = kept_block(ids, keep, rank, i) * BLOCK_SIZE
    else:
        start = tl.load(block_start_ptr + tl.load(sel_base + i * stride_ss))
    tok = start + tl.arange(0, BLOCK_SIZE)
    visible = tok <= last
    k, k2, v = block_kv(start, visible, b, h, Tk, k_ptr, v_ptr, stride_kb, stride_kt, stride_kh, stride_kd,
                        stride_vb, stride_vt, stride_vh, stride_vd, D, DV, k_desc, k2_desc, v_desc, TMA, BLOCK_SIZE,
                        BLOCK_D, BLOCK_DV, BLOCK_D2)
    return k, k2, v, visible


@triton.jit
def union_block_kv(i, packed, first, rank, r_tok, last_r, b, h, Tk, k_ptr, v_ptr, stride_kb, stride_kt, stride_kh,
                   stride_kd, stride_vb, stride_vt, stride_vh, stride_vd, D, DV, k_desc, k2_desc, v_desc,
                   TMA: tl.constexpr, TQ: tl.constexpr, BLOCK_SIZE: tl.constexpr, BLOCK_D: tl.constexpr,
                   BLOCK_DV: tl.constexpr, BLOCK_D2: tl.constexpr):
    """K (two pieces) and V of the i-th block of a multi-token tile's union and which (row, key)
    pairs see it: rows whose token selected the block (``union_token_masks``; valid entries
    only, causality is in ``valid``), keys up to each row's last visible one. One masked sum
    per block finds both the block and its tokens."""
    pk = kept_block(packed, first, rank, i)
    blk = pk >> TQ
    tok = blk * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    k, k2, v = block_kv(blk * BLOCK_SIZE, tok < Tk, b, h, Tk, k_ptr, v_ptr, stride_kb, stride_kt, stride_kh,
                        stride_kd, stride_vb, stride_vt, stride_vh, stride_vd, D, DV, k_desc, k2_desc, v_desc, TMA,
                        BLOCK_SIZE, BLOCK_D, BLOCK_DV, BLOCK_D2)
    row_sel = ((pk >> r_tok) & 1) != 0  # bit t of pk (t < TQ) = token t selected the block
    visible = row_sel[:, None] & (tok[None, :] <= last_r[:, None])
    return k, k2, v, visible


@triton.jit
def block_kv(start, mask, b, h, Tk, k_ptr, v_ptr, stride_kb, stride_kt, stride_kh, stride_kd, stride_vb, stride_vt,
             stride_vh, stride_vd, D, DV, k_desc, k2_desc, v_desc, TMA: tl.constexpr, BLOCK_SIZE: tl.constexpr,
             BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr, BLOCK_D2: tl.constexpr):
    """K (two pieces) and V of the block whose first key is ``start`` (batch b, kv head h):
    through TMA descriptors (``kernels/tma.py``; keys past the tensor read 0, the rest as they
    are) or pointer tiles (keys outside ``mask`` read 0). Callers mask the scores."""
    if TMA:
        k, k2, v = load_block_kv_tma(k_desc, k2_desc, v_desc, b * Tk + start, h, D, DV, BLOCK_D, BLOCK_D2)
    else:
        k, k2, v = load_block_kv(k_ptr, v_ptr, b, h, start + tl.arange(0, BLOCK_SIZE), mask, stride_kb, stride_kt,
                                 stride_kh, stride_kd, stride_vb, stride_vt, stride_vh, stride_vd, D, DV, BLOCK_D,
                                 BLOCK_DV, BLOCK_D2)
    return k, k2, v


@triton.jit
def load_group_q(q_ptr, b, t64, h, head_tile, G, D, stride_qb, stride_qt, stride_qh, stride_qd,
                 BLOCK_G: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_D2: tl.constexpr):
    """The query rows of one GQA group (a tile of BLOCK_G heads of kv head h) at token t:
    returns q [BLOCK_G, BLOCK_D] and its second head-dim piece q2 (zero-padded, see
    ``load_head_dim``), which rows are real heads, and their head ids."""
    heads = head_tile * BLOCK_G + tl.arange(0, BLOCK_G)
    head_ok = heads < G
    hq = (h * G + heads).to(tl.int64)
    q, q2 = load_head_dim(q_ptr + b * stride_qb + t64 * stride_qt + hq * stride_qh, head_ok, stride_qd, D,
                          BLOCK_D, BLOCK_D2)
    return q, q2, heads, head_ok, hq


@triton.jit
def wide_u32(a, b):
    """a * b as int64 for 0 <= a, b < 2^32 (a: an int32 tensor, b: a scalar): the product of
    two zero-extended 32-bit values, which the compiler makes one IMAD.WIDE.U32 where a signed
    64-bit product costs five instructions (sm_90a)."""
    return a.to(tl.uint32).to(tl.int64) * tl.cast(b, tl.uint32).to(tl.int64)


@triton.jit
def entry_token(e, b, H, S, Tq, FAST: tl.constexpr):
    """The query row t of entries e = ((b * Tq + t) * H + h) * S + s of batch b (int32). FAST:
    one unsigned division and a subtraction of b * Tq (b: the program's batch, every entry of
    a CSR row shares it) instead of a signed division and a modulo; on the G4 gather's sm_90a
    code that is about 70 of 774 instructions per 64-row chunk fewer (bench/asm_sm90.py --dump,
    session 22). Entry ids below 2^31 are decoded in int32, far cheaper than int64 division."""
    if FAST:
        if e.dtype == tl.int32:
            bt = (e.to(tl.uint32) // tl.cast(H * S, tl.uint32)).to(tl.int32)  # H * S may be a constant 1
        else:
            bt = e // (H * S)
        return bt - tl.cast(b, tl.int32) * Tq
    else:
        return ((e // (H * S)) % Tq).to(tl.int32)


@triton.jit
def chunk_entries(entries_ptr, c, tok_of_row, chunk_tokens, hi, head, G, H, S, Tq, b, FAST: tl.constexpr):
    """Rows of one gathered chunk of an entry-CSR piece (``kernels/csr.py``): which rows are
    real, their entry ids and their query tokens (``entry_token``)."""
    r_ok = (tok_of_row < chunk_tokens) & (c + tok_of_row < hi) & (head < G)
    e = tl.load(entries_ptr + c + tok_of_row, mask=r_ok, other=0)
    t = entry_token(e, b, H, S, Tq, FAST)
    return r_ok, e, t


@triton.jit
def gather_chunk_q(entries_ptr, c, offs_r, group_tile, head0, h, chunk_tokens, hi, G, H, S, Tq, q_base,
                   stride_qt, stride_qh, stride_qd, D, BLOCK_D: tl.constexpr, BLOCK_D2: tl.constexpr,
                   b, FAST: tl.constexpr, ADDR32: tl.constexpr):
    """One gathered chunk of an entry-CSR piece with its query rows: rows r = (entry r //
    group_tile of the chunk at ``c``, head ``head0 + r % group_tile``), ``chunk_entries`` plus
    their q rows (``q_base`` = q at batch b) as head-dim pieces. Returns the rows' validity,
    entry ids, tokens (int32 and int64), heads, query-head ids (int64) and q, q2. ``FAST``: see
    ``entry_token``; ``ADDR32``: the row offsets by ``wide_u32`` (the caller checked that the
    q row stride is below 2^31)."""
    head = head0 + offs_r % group_tile
    hq = (h * G + head).to(tl.int64)
    r_ok, e, t = chunk_entries(entries_ptr, c, offs_r // group_tile, chunk_tokens, hi, head, G, H, S, Tq, b, FAST)
    t64 = t.to(tl.int64)
    if ADDR32:
        q_rows = q_base + wide_u32(t, stride_qt) + hq * stride_qh
    else:
        q_rows = q_base + t64 * stride_qt + hq * stride_qh
    q, q2 = load_head_dim(q_rows, r_ok, stride_qd, D, BLOCK_D, BLOCK_D2)
    return r_ok, e, t, t64, head, hq, q, q2


@triton.jit
def chunk_ids(entries_ptr, c, offs_r, group_tile, chunk_tokens, hi):
    """The entry ids of the gathered chunk at ``c`` (row r: entry r // group_tile; 0 past the
    piece), for loops that load them a chunk ahead (``gather_chunk_q_ids``)."""
    tok = offs_r // group_tile
    return tl.load(entries_ptr + c + tok, mask=(tok < chunk_tokens) & (c + tok < hi), other=0)


@triton.jit
def gather_chunk_q_ids(e, c, offs_r, group_tile, head0, h, chunk_tokens, hi, G, H, S, Tq, q_base,
                       stride_qt, stride_qh, stride_qd, D, BLOCK_D: tl.constexpr, BLOCK_D2: tl.constexpr,
                       b, FAST: tl.constexpr, ADDR32: tl.constexpr):
    """``gather_chunk_q`` for entry ids ``e`` loaded beforehand (``chunk_ids``, a chunk ahead):
    then no load of the chunk's own iteration sits before its q addresses, and Triton 3.6
    pipelines the q copies at fewer stages. Returns the rows' validity, tokens (int32 and
    int64), heads, query-head ids (int64) and q, q2."""
    tok = offs_r // group_tile
    head = head0 + offs_r % group_tile
    hq = (h * G + head).to(tl.int64)
    r_ok = (tok < chunk_tokens) & (c + tok < hi) & (head < G)
    t = entry_token(e, b, H, S, Tq, FAST)
    t64 = t.to(tl.int64)
    if ADDR32:
        q_rows = q_base + wide_u32(t, stride_qt) + hq * stride_qh
    else:
        q_rows = q_base + t64 * stride_qt + hq * stride_qh
    q, q2 = load_head_dim(q_rows, r_ok, stride_qd, D, BLOCK_D, BLOCK_D2)
    return r_ok, t, t64, head, hq, q, q2


@triton.jit
def group_rows(n_groups, G, R: tl.constexpr, BLOCK_GP: tl.constexpr):
    """Rows r = (group, head) of a reduce program over R / BLOCK_GP consecutive (b, t, kv head)
    groups with all G heads of each (the forward combine, the dq reduce): the group (int64),
    the head and whether the row is real."""
    r = tl.arange(0, R)
    grp = tl.program_id(0) * (R // BLOCK_GP) + r // BLOCK_GP
    head = r % BLOCK_GP
    return grp.to(tl.int64), head, (grp < n_groups) & (head < G)


@triton.jit
def clean_raw_row(sel_base, stride_ss, cnt_base, S, NB, last, HAS_COUNTS: tl.constexpr, BLOCK_S: tl.constexpr,
                  BLOCK_SIZE: tl.constexpr):
    """One row of the user's raw ``block_indices`` (``sel_base`` -> slot 0), cleaned in registers
    as CONTRACT.md reads it: a slot is kept if it lies inside ``block_counts`` (``cnt_base``, when
    ``HAS_COUNTS``), its id is in range and causal for a query whose last visible key is ``last``,
    and no earlier kept slot holds the same id. Returns ids, keep, each kept slot's rank (by a
    prefix sum) and the kept count; ``kept_block`` reads the i-th kept id."""
    offs_s = tl.arange(0, BLOCK_S)
    ids = tl.load(sel_base + offs_s * stride_ss, mask=offs_s < S, other=-1).to(tl.int64)
    valid = (offs_s < S) & (ids >= 0) & (ids < NB) & (ids * BLOCK_SIZE <= last)
    if HAS_COUNTS:
        valid = valid & (offs_s < tl.load(cnt_base))
    same_earlier = (ids[:, None] == ids[None, :]) & valid[None, :] & (offs_s[None, :] < offs_s[:, None])
    keep = valid & (tl.sum(same_earlier.to(tl.int32), 1) == 0)
    rank = tl.cumsum(keep.to(tl.int32), 0) - 1
    return ids, keep, rank, tl.sum(keep.to(tl.int32), 0)


@triton.jit
def kept_block(ids, keep, rank, i):
    """The id of the i-th kept entry (``clean_raw_row``, ``shared_tile_union``)."""
    return tl.sum(tl.where(keep & (rank == i), ids, 0), 0)


@triton.jit
def owned_by_shared(owned_ptr, bh, t, Tq, TQ_SHARED: tl.constexpr):
    """1 if the multi-token (shared K/V) kernel, launched first, took the tile of token t (it
    writes one int8 flag per (b*H + h, tile)), else 0."""
    n_tiles = (Tq + TQ_SHARED - 1) // TQ_SHARED
    return tl.load(owned_ptr + bh * n_tiles + t // TQ_SHARED).to(tl.int32)


@triton.jit
def shared_tile_union(bi_base, cnt_base, stride_st, stride_ss, stride_ct, t0, Tq, Tk, NB, S, max_union,
                      HAS_COUNTS: tl.constexpr, TQ: tl.constexpr, BLOCK_S: tl.constexpr,
                      BLOCK_SIZE: tl.constexpr):
    """The raw selections of tokens t0 .. t0+TQ-1 (one kv head; ``bi_base`` -> token 0) as one
    vector of TQ*BLOCK_S entries: ids, which are valid for their token, which are the first
    occurrence of their id in the whole tile (ranked by a prefix sum), the size of the union and
    each entry's token within the tile. A tile is for the shared kernels when n_union <=
    max_union.

    Cheap pre-filter first: unless the tile's first and last tokens share at least half of their
    slots, the union is not built and n_union = max_union + 1 (H100: on random selections no tile qualifies and the union's cost
    was most of the shared kernel's 0.42 ms; runs 10-12)."""
    offs_s = tl.arange(0, BLOCK_S)
    offs = tl.arange(0, TQ * BLOCK_S)
    tok_local = offs // BLOCK_S
    t_end = tl.minimum(t0 + TQ - 1, Tq - 1).to(tl.int64)
    ids_a = tl.load(bi_base + t0.to(tl.int64) * stride_st + offs_s * stride_ss, mask=offs_s < S, other=-1)
    ids_b = tl.load(bi_base + t_end * stride_st + offs_s * stride_ss, mask=offs_s < S, other=-2)
    common = tl.sum((tl.sum(((ids_a[:, None] == ids_b[None, :]) & (ids_a[:, None] >= 0)).to(tl.int32), 1) > 0)
                    .to(tl.int32), 0)
    if 2 * common >= S:
        slot = offs % BLOCK_S
        t = t0 + tok_local
        ok_t = t < Tq
        ids = tl.load(bi_base + t.to(tl.int64) * stride_st + slot * stride_ss, mask=ok_t & (slot < S),
                      other=-1).to(tl.int64)
        valid = ok_t & (slot < S) & (ids >= 0) & (ids < NB) & (ids * BLOCK_SIZE <= Tk - Tq + t)
        if HAS_COUNTS:
            valid = valid & (slot < tl.load(cnt_base + t.to(tl.int64) * stride_ct, mask=ok_t, other=0))
        earlier = (ids[:, None] == ids[None, :]) & valid[None, :] & (offs[None, :] < offs[:, None])
        first = valid & (tl.sum(earlier.to(tl.int32), 1) == 0)
        rank = tl.cumsum(first.to(tl.int32), 0) - 1
        n_union = tl.sum(first.to(tl.int32), 0)
    else:
        ids = tl.zeros([TQ * BLOCK_S], tl.int64)
        valid = offs < 0
        first = offs < 0
        rank = tl.zeros([TQ * BLOCK_S], tl.int32)
        n_union = max_union + 1
    return ids, valid, first, rank, n_union, tok_local


@triton.jit
def claim_shared_tile(bi_ptr, cnt_ptr, owned_ptr, stride_sb, stride_st, stride_sh, stride_ss, stride_cb, stride_ct,
                      stride_ch, H, Tq, Tk, NB, S, max_union, HAS_COUNTS: tl.constexpr,
                      TQ: tl.constexpr, BLOCK_S: tl.constexpr, BLOCK_SIZE: tl.constexpr):
    """Start of a multi-token kernel's program (tile of TQ tokens, b*H + h): the tile's union
    (``shared_tile_union``), and its flag (1 = taken: n_union <= max_union) stored for the
    token-centric kernel launched next. Returns b (int64), h, the tile's first token and the
    union."""
    tile = tl.program_id(0)
    bh = tl.program_id(1)
    b = (bh // H).to(tl.int64)
    h = bh % H
    t0 = tile * TQ
    ids, valid, first, rank, n_union, tok_local = shared_tile_union(
        bi_ptr + b * stride_sb + h * stride_sh, cnt_ptr + b * stride_cb + h * stride_ch,
        stride_st, stride_ss, stride_ct, t0, Tq, Tk, NB, S, max_union, HAS_COUNTS, TQ, BLOCK_S, BLOCK_SIZE)
    tl.store(owned_ptr + bh * tl.num_programs(0) + tile, (n_union <= max_union).to(tl.int8))
    return b, h, t0, ids, valid, first, rank, n_union, tok_local


@triton.jit
def shared_tile_rows(t0, h, G, Tq, Tk, TQ: tl.constexpr, BLOCK_G: tl.constexpr):
    """Rows r = (token t0 + r // BLOCK_G, head r % BLOCK_G) of a shared-K/V tile: each row's
    token within the tile, its token (int64), whether it is real, its query-head id (int64) and
    its last visible key."""
    r = tl.arange(0, TQ * BLOCK_G)
    r_tok = r // BLOCK_G
    r_head = r % BLOCK_G
    row_ok = (t0 + r_tok < Tq) & (r_head < G)
    return r_tok, (t0 + r_tok).to(tl.int64), row_ok, (h * G + r_head).to(tl.int64), Tk - Tq + t0 + r_tok


@triton.jit
def union_token_masks(ids, valid, tok_local, TQ: tl.constexpr, BLOCK_S: tl.constexpr):
    """Per entry of a shared tile (``shared_tile_union``), its block id and the tokens that
    selected that block (valid entries only) as one int64: id << TQ | bit t for token t. Built
    once per tile, so the union walk (``union_block_kv``) finds a block's rows with one masked
    sum instead of comparing every row with every entry at each block."""
    offs = tl.arange(0, TQ * BLOCK_S)
    same = (ids[:, None] == ids[None, :]) & valid[None, :]
    # A token listing a block twice counts once: only its first entry of that id sets its bit.
    again = same & (tok_local[:, None] == tok_local[None, :]) & (offs[None, :] < offs[:, None])
    once = valid & (tl.sum(again.to(tl.int32), 1) == 0)
    bits = tl.where(same & once[None, :], (1 << tok_local[None, :]).to(tl.int64), 0)
    return (ids << TQ) | tl.sum(bits, 1)


@triton.jit
def dq_step(q, q2, k, k2, v, do, lse2, delta, visible, dq, dq2, scale_log2e, PRECISION: tl.constexpr,
            BLOCK_D2: tl.constexpr):
    """One K/V block of dQ: P from the saved base-2 lse (``lse2``, +inf for rows without keys,
    so P = 0, never NaN), dS = P * (dP - delta), dq += dS @ K (and its second head-dim piece)."""
    s = qk_scores(q, k, q2, k2, BLOCK_D2, PRECISION) * scale_log2e
    p = tl.where(visible, tl.exp2(s - lse2[:, None]), 0.0)
    dp = tl.dot(do, tl.trans(v), input_precision=PRECISION)
    ds = (p * (dp - delta[:, None])).to(k.dtype)
    dq += tl.dot(ds, k, input_precision=PRECISION)
    if BLOCK_D2 > 0:
        dq2 += tl.dot(ds, k2, input_precision=PRECISION)
    return dq, dq2
