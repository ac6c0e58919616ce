"""Entry-level inverse index (CSR) for the KV-centric kernels, built straight from the user's
``block_indices`` on the GPU without host syncs.

An *entry* is one slot of one row of ``block_indices``: ``e = ((b * Tq + t) * H + h) * S + s``.
``entry_keys`` gives every entry a key: ``(b * H + h) * NB + id`` when the slot is kept
(in range, causal, inside ``block_counts``, first occurrence of its id in the row), else the
sentinel ``B * H * NB``. Sorting the keys (stable, one radix sort of int16 or int32) groups the kept
entries by KV block: ``entries[offsets[r]:offsets[r + 1]]`` are the entries that selected
block ``r = (b * H + h) * NB + g``, ascending (so ascending in query token); with
``stable=False`` the same lists in an order of the GPU's scheduling (``UNORDERED_CSR``). An entry id carries
its token, head and slot, so a kernel walking a block's list needs no other lookup: the slot
of a partial result is the entry's own slot, and ``e * G + head`` addresses per-(query head,
slot) scratch. ``positions`` (optional) inverts the list: ``positions[e]`` is entry e's place in
``entries`` (below ``offsets[-1]`` iff e is kept), so scratch may also be addressed by list
position (the KV forward does: its stores then need no entry id, see ``kernels/forward_kv.py``).

With ``near=True`` (unpacked inputs only) the *near* blocks of a row are left out of the lists:
block 0 and the two blocks holding and preceding the query's own position, the three that
NSA always selects (its sink and local blocks). A kept near slot gets the sentinel key, and
``near[b, t, h]`` records which near blocks the row kept (bits ``NEAR_OWN``, ``NEAR_PREV``,
``NEAR_ZERO``: the block of the query's position, the one before it, block 0; an id is named
by the first of these it matches). The KV forward then attends them in a token-tile pass
(``kernels/forward_kv.py``), with no gather and no per-slot partials.

With ``windows=NW > 1`` (unpacked) a row is (b, h, query window, block): the queries are cut
into NW windows of ``ceil(Tq / NW)`` rows and an entry's key is ``((b * H + h) * NW + t //
window) * NB + id``, so the lists come ordered by window before block. A kernel walking the
rows in order then has its concurrent programs on one window's queries (``kernels/forward_kv.py``
``query_windows``). The backward takes single-window CSRs only.

With ``prepared=True`` the input is already the prepared index of ``nsa_ops.indices`` (global
block ids, -1 for unused slots; packed sequences): a slot is kept iff its id is >= 0.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import torch
import triton
import triton.language as tl

from .configs import next_pow2


class EntryCSR(NamedTuple):
    keys: torch.Tensor  # int16 or int32 (``key_dtype``) [B, Tq, H, S]: block row of each entry, or ``sentinel``
    offsets: torch.Tensor  # int32 [B * H * NB + 1]
    entries: torch.Tensor  # int32 (int64 past 2^31 entries) [B * Tq * H * S]; kept ones first
    sentinel: int  # B * H * NB
    positions: Optional[torch.Tensor] = None  # entries' dtype [B * Tq * H * S]: place of entry e in ``entries``
    near: Optional[torch.Tensor] = None  # int8 [B, Tq, H]: near blocks kept per row (``NEAR_*`` bits), see below
    windows: int = 1  # query windows per (b, h): rows are (b, h, window, g), see below


@triton.jit
def _entry_keys_kernel(
    bi_ptr, cnt_ptr, keys_ptr, near_ptr,
    stride_bb, stride_bt, stride_bh, stride_bs,
    stride_cb, stride_ct, stride_ch,
    Tq, Tk, H, S, NB, n_groups, NW, window,
    BLOCK_SIZE: tl.constexpr, BLOCK_S: tl.constexpr, GROUPS: tl.constexpr,
    HAS_COUNTS: tl.constexpr, PREPARED: tl.constexpr, NEAR: tl.constexpr = False,
    NEAR_IN_LISTS: tl.constexpr = False, row_len_ptr=None, ranks_ptr=None, RANKS: tl.constexpr = False,
):
    """GROUPS rows (b, t, h) per program; keys written contiguously as [n_groups, S]. RANKS: each
    kept entry also takes its place in its block row's list from an int atomic on the row's
    length (``row_len[key + 1]``, zero-filled; a cumulative sum then gives the CSR offsets) and
    stores it in ``ranks`` (``build_entry_csr``'s ``stable=False``)."""
    # int32 arithmetic: group counts, block ids and keys all stay below 2^31.
    grp = tl.program_id(0) * GROUPS + tl.arange(0, GROUPS)
    g_ok = grp < n_groups
    grp = tl.minimum(grp, n_groups - 1)
    h = grp % H
    t = (grp // H) % Tq
    b = grp // (H * Tq)
    grp64 = grp.to(tl.int64)
    offs_s = tl.arange(0, BLOCK_S)
    s_ok = g_ok[:, None] & (offs_s[None, :] < S)
    ids = tl.load(bi_ptr + b.to(tl.int64)[:, None] * stride_bb + t.to(tl.int64)[:, None] * stride_bt
                  + h[:, None] * stride_bh + offs_s[None, :] * stride_bs, mask=s_ok, other=-1)
    # Range-check in the input's own dtype (int64 ids must not wrap), then go to int32.
    in_range = (ids >= 0) & (ids < NB)
    ids = tl.where(in_range, ids, -1).to(tl.int32)
    if PREPARED:
        keep = s_ok & in_range
    else:
        last = Tk - Tq + t
        valid = s_ok & in_range & (ids * BLOCK_SIZE <= last[:, None])
        if HAS_COUNTS:
            n = tl.load(cnt_ptr + b.to(tl.int64) * stride_cb + t.to(tl.int64) * stride_ct + h * stride_ch,
                        mask=g_ok, other=0)
            valid = valid & (offs_s[None, :] < n[:, None])
        # First occurrence of each id in its row: no equal valid id in an earlier slot.
        earlier = ((ids[:, :, None] == ids[:, None, :]) & valid[:, None, :]
                   & (offs_s[None, None, :] < offs_s[None, :, None]))
        keep = valid & (tl.sum(earlier.to(tl.int32), 2) == 0)
    sentinel = (n_groups // Tq) * NW * NB  # B * H * NW * NB
    if NEAR:  # near blocks leave the lists; their bits go to ``near`` (module docstring)
        own = ((Tk - Tq + t) // BLOCK_SIZE)[:, None]
        code = tl.where(ids == own, 4, tl.where(ids == own - 1, 2, tl.where(ids == 0, 1, 0)))
        near = keep & (code > 0)
        tl.store(near_ptr + grp64, tl.sum(tl.where(near, code, 0), 1).to(tl.int8), mask=g_ok)
        if not NEAR_IN_LISTS:
            keep = keep & ~near
    key = tl.where(keep, ((b * H + h) * NW + t // window)[:, None] * NB + ids, sentinel)
    tl.store(keys_ptr + grp64[:, None] * S + offs_s[None, :], key.to(keys_ptr.dtype.element_ty), mask=s_ok)
    if RANKS:  # integer atomics: the lengths are exact, only the order within a list varies
        rank = tl.atomic_add(row_len_ptr + key + 1, 1, mask=s_ok & keep, sem="relaxed")
        tl.store(ranks_ptr + grp64[:, None] * S + offs_s[None, :], rank, mask=s_ok & keep)


# Offsets per lower-bound program: each lane runs its own binary search (~21 dependent loads),
# so the kernel is latency-bound; 1024 gave a 16k G4 call 3 programs (30 us, Nsight Compute,
# run 80). 128: H100 run 84 (bench/exp_pipeline.py --after, whole op, ms, 1024 -> 128): fwd G4
# 16k 2.73 -> 2.72, 64k 11.02 -> 10.96, G1 16k 1.64 -> 1.62, fwd+bwd G4 16k within noise.
LOWER_BOUND_BLOCK = 128


@triton.jit
def _lower_bound_kernel(sorted_ptr, out_ptr, n, n_out, BLOCK: tl.constexpr):
    """out[r] = number of sorted keys < r, for r in [0, n_out): the CSR row offsets."""
    r = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    lo = tl.zeros([BLOCK], tl.int64)
    hi = tl.zeros([BLOCK], tl.int64) + n
    for _i in range(0, 33):  # 2^33 > any entry count: the search has converged by then
        active = lo < hi
        mid = (lo + hi) // 2
        val = tl.load(sorted_ptr + tl.minimum(mid, n - 1), mask=active, other=0)
        go_right = active & (val < r)
        lo = tl.where(go_right, mid + 1, lo)
        hi = tl.where(active & ~go_right, mid, hi)
    tl.store(out_ptr + r, lo.to(tl.int32), mask=r < n_out)


@triton.jit
def _place_entries_kernel(keys_ptr, ranks_ptr, offsets_ptr, entries_ptr, positions_ptr, n, sentinel,
                          BLOCK: tl.constexpr, POSITIONS: tl.constexpr):
    """The unordered CSR's lists: kept entry e goes to place offsets[key] + rank (its rank from
    the keys kernel's atomics), and positions[e] is that place; positions of entries that are
    not kept are n (never below the kept count, as in the sorted CSR)."""
    e = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    ok = e < n
    key = tl.load(keys_ptr + e, mask=ok, other=sentinel).to(tl.int32)
    kept = ok & (key != sentinel)
    rank = tl.load(ranks_ptr + e, mask=kept, other=0)
    at = tl.load(offsets_ptr + key, mask=kept, other=0).to(tl.int64) + rank
    tl.store(entries_ptr + at, e.to(entries_ptr.dtype.element_ty), mask=kept)
    if POSITIONS:
        tl.store(positions_ptr + e, tl.where(kept, at, n).to(positions_ptr.dtype.element_ty), mask=ok)


@triton.jit
def _positions_kernel(entries_ptr, positions_ptr, n, BLOCK: tl.constexpr):
    """positions[entries[p]] = p: the inverse of the sort's permutation."""
    p = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    ok = p < n
    e = tl.load(entries_ptr + p, mask=ok, other=0)
    tl.store(positions_ptr + e, p.to(positions_ptr.dtype.element_ty), mask=ok)


# Rows per program of the pieces kernel (each program also sums the piece counts of all rows
# before its own, so the last one reads every row once: n_rows / PIECES_BLOCK loads in a row).
PIECES_BLOCK = 1024
# The bench's experiment switch (bench/exp_csr_reduce.py --session19): False takes the torch ops.
FUSED_PIECES = True


@triton.jit
def _pieces_kernel(offsets_ptr, row_first_ptr, item_row_ptr, n_rows, n_items, piece, R: tl.constexpr):
    """The work items of ``split_pieces`` in one launch: rows [pid * R, pid * R + R) of the CSR.
    ``row_first[r]`` = the pieces of rows before r (ceil(len / piece) each), ``item_row[i]`` = the
    row owning item i, ``n_rows`` for the surplus items (filled by the last program)."""
    pid = tl.program_id(0)
    start = pid * R
    offs = tl.arange(0, R)
    before = tl.zeros([R], tl.int32)
    for c in range(0, start, R):  # the rows before this program's, R at a time
        lo = tl.load(offsets_ptr + c + offs)
        hi = tl.load(offsets_ptr + c + offs + 1)
        before += (hi - lo + piece - 1) // piece
    base = tl.sum(before, 0)
    r = start + offs
    ok = r < n_rows
    lo = tl.load(offsets_ptr + r, mask=ok, other=0)
    hi = tl.load(offsets_ptr + r + 1, mask=ok, other=0)
    cnt = tl.where(ok, (hi - lo + piece - 1) // piece, 0)
    first = base + tl.cumsum(cnt, 0) - cnt
    tl.store(row_first_ptr + r, first, mask=ok)
    for j in range(0, tl.max(cnt, 0)):
        tl.store(item_row_ptr + first + j, r, mask=j < cnt)
    if pid == tl.num_programs(0) - 1:
        total = base + tl.sum(cnt, 0)
        tl.store(row_first_ptr + n_rows + offs, total + offs * 0, mask=offs == 0)
        for i in range(total, n_items, R):
            tl.store(item_row_ptr + i + offs, n_rows + offs * 0, mask=i + offs < n_items)


def split_pieces(offsets: torch.Tensor, num_entries: int, piece: int):
    """``nsa_ops.indices.Pieces`` of a CSR whose rows are cut into ``piece``-entry pieces, built
    by one kernel (``_pieces_kernel``) instead of a dozen torch ops; the same integers as
    ``nsa_ops.indices.split_into_pieces``. ``num_entries`` bounds the rows' total length."""
    from nsa_ops.indices import Pieces, split_into_pieces

    if not FUSED_PIECES:
        return split_into_pieces(offsets, num_entries, piece)
    n_rows = offsets.shape[0] - 1
    n_items = n_rows + (num_entries + piece - 1) // piece
    row_first = torch.empty(n_rows + 1, device=offsets.device, dtype=torch.int32)
    item_row = torch.empty(n_items, device=offsets.device, dtype=torch.int32)
    torch.library.wrap_triton(_pieces_kernel)[(max(1, triton.cdiv(n_rows, PIECES_BLOCK)),)](
        offsets, row_first, item_row, n_rows, n_items, piece, R=PIECES_BLOCK, num_warps=4,
    )
    return Pieces(row_first, item_row, n_items)


# Sort keys in int16 when every key and the sentinel fit (B * H * NB < 2^15): the radix sort
# then makes 2 passes over the keys instead of 4. H100 run 86 (bench/exp_csr_reduce.py, whole
# op, interleaved, ms, int32 -> int16): fwd G4 16k 2.74 -> 2.67, G1 16k 1.57 -> 1.45, G4 64k
# 10.97 -> 10.76; fwd+bwd G4 16k (two CSRs) 8.19 -> 8.01. The bench's experiment switch.
INT16_KEYS = True


def key_dtype(sentinel: int) -> torch.dtype:
    """int16 where the sentinel (the largest key) fits, else int32 (``INT16_KEYS``)."""
    return torch.int16 if INT16_KEYS and sentinel < 2 ** 15 else torch.int32


# The inference forward's CSR by a counting sort on int atomics (``build_entry_csr``'s
# ``stable=False``): the keys kernel takes each kept entry's place in its list from an atomic on
# the list's length, a cumulative sum gives the offsets, one more kernel places the entries and
# writes their positions. It replaces the radix sort, the int32 cast of its order, the offsets'
# binary searches and the positions' scatter. Taken only where the order within a list cannot
# change a result (``forward_kv``); the training CSR, which the dK/dV sums walk in list order,
# stays sorted. H100 run 166 (bench/exp_csr_reduce.py --unordered, whole op, interleaved, ms,
# radix sort -> atomics; outputs bitwise equal): fwd G4 64k 7.957 / 7.942 -> 7.769 / 7.755, 16k
# 1.902 / 1.901 -> 1.887 / 1.879, G1 64k 5.328 -> 5.240, G1 16k 1.268 -> 1.263, G8 16k 3.580 ->
# 3.526; local G4 16k 2.077 -> 2.083 (noise). The bench's experiment switch.
UNORDERED_CSR = True


# The entry-key kernel's shape: slots per program (rows x padded S) and warps. The duplicate
# test as a loop over the slots instead of the [rows, S, S] comparison (commit c18f465, since
# removed) was within noise: H100 run 167 (exp_csr_reduce.py --keys, whole op, interleaved, ms,
# shipped / loop / loop with 512 slots): fwd G4 64k 7.781 / 7.748 / 7.808, again 7.781 / 7.797 /
# 7.786; 16k 1.882 / 1.874 / 1.872, again 1.875 / 1.874 / 1.871; G1 16k equal within 0.003.
ENTRY_KEYS_ELEMS = 256
ENTRY_KEYS_WARPS = 4


# Bits of ``EntryCSR.near`` (kernels/forward_kv.py reads them as literals 4, 2, 1).
NEAR_OWN, NEAR_PREV, NEAR_ZERO = 4, 2, 1


@triton.jit
def is_far(g, t, Tq, Tk, BLOCK_SIZE: tl.constexpr):
    """Block g is not near for the query at row t (unpacked inputs): not block 0, and before
    the block preceding the query's own (ids are causal, so id >= own - 1 means own or prev)."""
    return (g > 0) & (Tk - Tq + t >= (g + 2) * BLOCK_SIZE)


@triton.jit
def token_prefix(entries_ptr, lo, hi, first_tok, window, H, S, Tq, STEPS: tl.constexpr):
    """The first place in [lo, hi) of a block row's list (ascending in query token) whose
    entry's query row is >= ``first_tok``, for lists whose entries below it all lie in [lo,
    lo + window): a binary search of STEPS >= log2(window) + 1 steps."""
    a = lo
    z = tl.minimum(hi, lo + window)
    for _ in tl.static_range(STEPS):
        active = a < z
        mid = (a + z) // 2
        e = tl.load(entries_ptr + mid, mask=active, other=0)
        go = active & (((e // (H * S)) % Tq).to(tl.int32) < first_tok)
        a = tl.where(go, mid + 1, a)
        z = tl.where(active & ~go, mid, z)
    return a


@triton.jit
def near_prefix(entries_ptr, lo, hi, g, H, S, Tq, Tk, BLOCK_SIZE: tl.constexpr, STEPS: tl.constexpr):
    """The first place in [lo, hi) of a block row's list (plain CSR, unpacked) whose entry is
    far (``is_far``). A list ascends in query token and a near entry's token is below
    (g + 2) * BLOCK_SIZE - (Tk - Tq): the near entries lead the list, at most 2 * BLOCK_SIZE of
    them (one per token), and all of block 0's. STEPS >= log2(2 * BLOCK_SIZE) + 1."""
    a = token_prefix(entries_ptr, lo, hi, (g + 2) * BLOCK_SIZE - (Tk - Tq), 2 * BLOCK_SIZE, H, S, Tq, STEPS)
    return tl.where(g == 0, hi, a)


@triton.jit
def full_view_prefix(entries_ptr, lo, hi, g, H, S, Tq, Tk, BLOCK_SIZE: tl.constexpr, STEPS: tl.constexpr):
    """The first place in [lo, hi) of a block row's list (plain CSR, unpacked) from which every
    query sees all of block g: its position Tk - Tq + t is at or past the block's last key
    (g + 1) * BLOCK_SIZE - 1. Kept entries are causal, so the ones before it have their query
    inside the block: at most BLOCK_SIZE - 1 of them. STEPS >= log2(BLOCK_SIZE) + 1."""
    return token_prefix(entries_ptr, lo, hi, (g + 1) * BLOCK_SIZE - 1 - (Tk - Tq), BLOCK_SIZE, H, S, Tq, STEPS)


def entry_keys(block_indices: torch.Tensor, block_counts: Optional[torch.Tensor], block_size: int, Tk: int,
               num_blocks: int, prepared: bool = False, near: Optional[torch.Tensor] = None,
               near_in_lists: bool = False, windows: int = 1, ranks: Optional[tuple] = None) -> torch.Tensor:
    """The entries' keys (module docstring); ``near``: an int8 [B, Tq, H] tensor to fill with the
    rows' near bits, whose near slots then get the sentinel unless ``near_in_lists`` (unpacked
    inputs only); ``windows``: query windows per (b, h) (module docstring); ``ranks``: (row_len
    int32 [sentinel + 1] zero-filled, ranks int32 [B * Tq * H * S]) to fill as the keys kernel's
    ``RANKS`` says."""
    B, Tq, H, S = block_indices.shape
    if near is not None and prepared:
        raise ValueError("entry_keys: near blocks are defined for unpacked inputs only")
    if windows < 1 or B * H * windows * num_blocks >= 2 ** 31:
        raise ValueError(f"entry_keys: windows={windows} must be >= 1 with B * H * windows * NB < 2^31")
    keys = torch.empty((B, Tq, H, S), device=block_indices.device,
                       dtype=key_dtype(B * H * windows * num_blocks))
    n_groups = B * Tq * H
    block_s = max(2, next_pow2(S))
    groups = max(1, ENTRY_KEYS_ELEMS // block_s)
    cnt = block_counts if block_counts is not None else block_indices  # unused pointer
    torch.library.wrap_triton(_entry_keys_kernel)[(triton.cdiv(n_groups, groups),)](
        block_indices, cnt, keys, near if near is not None else keys,
        block_indices.stride(0), block_indices.stride(1), block_indices.stride(2), block_indices.stride(3),
        cnt.stride(0), cnt.stride(1), cnt.stride(2),
        Tq, Tk, H, S, num_blocks, n_groups, windows, (Tq + windows - 1) // windows,
        BLOCK_SIZE=block_size, BLOCK_S=block_s, GROUPS=groups,
        HAS_COUNTS=block_counts is not None, PREPARED=prepared, NEAR=near is not None, NEAR_IN_LISTS=near_in_lists,
        row_len_ptr=ranks[0] if ranks is not None else keys, ranks_ptr=ranks[1] if ranks is not None else keys,
        RANKS=ranks is not None, num_warps=ENTRY_KEYS_WARPS,
    )
    return keys


def empty_csr_like(block_indices: torch.Tensor, num_blocks: int) -> tuple:
    """Uninitialised (keys, offsets, entries) with the dtypes and shapes ``build_entry_csr``
    gives these inputs (fake kernels)."""
    B, Tq, H, S = block_indices.shape
    n, dev = B * Tq * H * S, block_indices.device
    return (torch.empty((B, Tq, H, S), device=dev, dtype=key_dtype(B * H * num_blocks)),
            torch.empty(B * H * num_blocks + 1, device=dev, dtype=torch.int32),
            torch.empty(n, device=dev, dtype=torch.int32 if n < 2 ** 31 else torch.int64))


def build_entry_csr(block_indices: torch.Tensor, block_counts: Optional[torch.Tensor], block_size: int, Tk: int,
                    num_blocks: int, prepared: bool = False, positions=False,
                    near: bool = False, near_in_lists: bool = False, windows: int = 1,
                    stable: bool = True) -> EntryCSR:
    """See the module docstring. ``num_blocks``: NB, the (global) block count; ``positions``:
    also build the inverse list (``"alloc"``: only allocate it, for a kernel walking the lists
    to fill at the entries it walks; the others stay uninitialised); ``near``: record the near bits and leave the near blocks out of
    the lists (unpacked inputs), or with ``near_in_lists`` keep them there: the lists are then
    those of the plain CSR, which the backward reuses (``near_prefix`` finds them); ``windows``:
    rows per (b, h, query window, block) (module docstring); ``stable=False``: each list holds
    the same entries in an order set by the GPU's scheduling (a counting sort by int atomics,
    ``UNORDERED_CSR``); only for kernels whose results do not depend on the
    order within a list (the far-only forward gather: one partial per entry)."""
    if windows != 1 and (prepared or near_in_lists):
        raise ValueError("build_entry_csr: query windows are for unpacked inputs without near_in_lists")
    if not stable and positions not in (True, False):
        raise ValueError("build_entry_csr: an unordered CSR (stable=False) builds its positions or none")
    B, Tq, H, S = block_indices.shape
    near_bits = torch.empty((B, Tq, H), device=block_indices.device, dtype=torch.int8) if near else None
    sentinel = B * H * windows * num_blocks
    n = B * Tq * H * S
    if not stable:
        row_len = torch.zeros(sentinel + 1, device=block_indices.device, dtype=torch.int32)
        ranks = torch.empty(n, device=block_indices.device, dtype=torch.int32)
        keys = entry_keys(block_indices, block_counts, block_size, Tk, num_blocks, prepared, near_bits,
                          near_in_lists, windows, ranks=(row_len, ranks))
        offsets = torch.cumsum(row_len, 0, dtype=torch.int32)
        entries = torch.empty(n, device=keys.device, dtype=torch.int32 if n < 2 ** 31 else torch.int64)
        pos = torch.empty_like(entries) if positions else None
        torch.library.wrap_triton(_place_entries_kernel)[(triton.cdiv(n, 1024),)](
            keys, ranks, offsets, entries, pos if positions else entries, n, sentinel, BLOCK=1024,
            POSITIONS=bool(positions), num_warps=4,
        )
        return EntryCSR(keys, offsets, entries, sentinel, pos, near_bits, windows)
    keys = entry_keys(block_indices, block_counts, block_size, Tk, num_blocks, prepared, near_bits, near_in_lists,
                      windows)
    srt, order = torch.sort(keys.view(-1), stable=True)
    offsets = torch.empty(sentinel + 1, device=keys.device, dtype=torch.int32)
    torch.library.wrap_triton(_lower_bound_kernel)[(triton.cdiv(sentinel + 1, LOWER_BOUND_BLOCK),)](
        srt, offsets, n, sentinel + 1, BLOCK=LOWER_BOUND_BLOCK, num_warps=4,
    )
    entries = order.to(torch.int32) if n < 2 ** 31 else order
    pos = None
    if positions:
        pos = torch.empty_like(entries)
    if positions is True:
        torch.library.wrap_triton(_positions_kernel)[(triton.cdiv(n, 1024),)](entries, pos, n, BLOCK=1024, num_warps=4)
    return EntryCSR(keys, offsets, entries, sentinel, pos, near_bits, windows)
