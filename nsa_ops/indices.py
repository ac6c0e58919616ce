"""Index preparation: the clean form of the selections used by the torch path, by packed
sequences on every backend and by the token-centric dQ kernel (the other Triton kernels clean
raw rows themselves, see ``nsa_ops.kernels``).

Turns the user's ``block_indices`` (padding, duplicates, any order, future blocks, an optional
``block_counts``) and the optional packed-sequence layout into one clean form that kernels can
walk without branches:

``PreparedIndex``
    sel          int32 [B, Tq, H, S]  global block ids, ascending, distinct, the first ``cnt``
                                      slots valid; slots at and past ``cnt`` hold -1.
    cnt          int32 [B, Tq, H]     number of valid slots.
    q_last       int32 [Tq]           index (into k's token axis) of the last key query t may
                                      see: its causal position, plus the start of its
                                      sequence in packed mode.
    block_start  int32 [NB]           first token (into k's token axis) of each global block.
                                      Without cu_seqlens, block id == global id and
                                      block_start = id * block_size.

A block is kept only if it exists (``0 <= id < ceil(Tk / block_size)``), sits in the first
``block_counts`` slots and starts at or before the query's position; so only the block holding
the query's own position can be partly in the future, and every key a kernel must mask is
``token > q_last``. Everything here is tensor ops on the inputs' device: no host sync, traceable
by torch.compile.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import torch


class PreparedIndex(NamedTuple):
    sel: torch.Tensor
    cnt: torch.Tensor
    q_last: torch.Tensor
    block_start: torch.Tensor


def num_global_blocks(Tk: int, block_size: int, num_seqs: Optional[int]) -> int:
    """Size of the global block table: exact without packing, an upper bound with it (each
    packed sequence wastes at most one partial block)."""
    if num_seqs is None:
        return (Tk + block_size - 1) // block_size
    return Tk // block_size + num_seqs


def _sorted_unique_prefix(ids: torch.Tensor, valid: torch.Tensor, sentinel: int):
    """Sort valid ids ascending, drop repeats, push invalid ones to the end.

    Returns (ids int64 with invalid slots = sentinel, count int32)."""
    key = torch.where(valid, ids, torch.full_like(ids, sentinel))
    key = torch.sort(key, dim=-1).values
    repeat = torch.zeros_like(key, dtype=torch.bool)
    repeat[..., 1:] = key[..., 1:] == key[..., :-1]
    key = torch.where(repeat, torch.full_like(key, sentinel), key)
    key = torch.sort(key, dim=-1).values
    count = (key < sentinel).sum(-1, dtype=torch.int32)
    return key, count


def prepare_index(
    block_indices: torch.Tensor,
    block_counts: Optional[torch.Tensor],
    block_size: int,
    Tq: int,
    Tk: int,
    cu_seqlens_q: Optional[torch.Tensor] = None,
    cu_seqlens_k: Optional[torch.Tensor] = None,
) -> PreparedIndex:
    device = block_indices.device
    S = block_indices.shape[-1]
    ids = block_indices.to(torch.int64)
    slot = torch.arange(S, device=device)
    t = torch.arange(Tq, device=device)

    if cu_seqlens_q is None:
        NB = num_global_blocks(Tk, block_size, None)
        pos = t + (Tk - Tq)  # [Tq]
        q_last = pos
        num_blocks = NB  # per query, scalar
        block_offset = 0
        block_start = torch.arange(NB, device=device, dtype=torch.int64) * block_size
    else:
        cu_q = cu_seqlens_q.to(device=device, dtype=torch.int64)
        cu_k = cu_seqlens_k.to(device=device, dtype=torch.int64)
        N = cu_q.shape[0] - 1
        NB = num_global_blocks(Tk, block_size, N)
        # Sequence of each query: how many sequence ends lie at or before it. (A comparison,
        # not searchsorted: Inductor's searchsorted lowering fails on sliced inputs on CUDA.)
        seq = (t[:, None] >= cu_q[None, 1:]).sum(-1).clamp(max=N - 1)  # [Tq]
        len_q = (cu_q[1:] - cu_q[:-1])
        len_k = (cu_k[1:] - cu_k[:-1])
        nblk = (len_k + block_size - 1) // block_size  # [N]
        boff = torch.cumsum(nblk, 0) - nblk  # exclusive prefix sum [N]
        pos = len_k[seq] - len_q[seq] + (t - cu_q[seq])
        q_last = cu_k[seq] + pos
        num_blocks = nblk[seq][:, None, None]
        block_offset = boff[seq][:, None, None]
        g = torch.arange(NB, device=device, dtype=torch.int64)
        gseq = (g[:, None] >= (boff + nblk)[None, :]).sum(-1).clamp(max=N - 1)
        block_start = cu_k[gseq] + (g - boff[gseq]) * block_size

    pos_b = pos[:, None, None]  # broadcast over [B, Tq, H, S]
    valid = (ids >= 0) & (ids < num_blocks) & (ids * block_size <= pos_b)
    if block_counts is not None:
        valid = valid & (slot < block_counts.to(torch.int64)[..., None])
    key, cnt = _sorted_unique_prefix(ids + block_offset, valid, NB)
    sel = torch.where(key < NB, key, torch.full_like(key, -1)).to(torch.int32)
    return PreparedIndex(sel, cnt, q_last.to(torch.int32), block_start.to(torch.int32))


class Pieces(NamedTuple):
    """Work items over the rows of a CSR (``nsa_ops.kernels.csr``): row r's list is cut into ceil(len / piece) pieces, items
    of row r are ``row_first_item[r] : row_first_item[r+1]``. ``n_items`` is a static upper bound
    (rows + entries / piece); surplus items have ``item_row == n_rows`` and do nothing."""

    row_first_item: torch.Tensor  # int32 [n_rows + 1]
    item_row: torch.Tensor  # int32 [n_items]
    n_items: int


def split_into_pieces(offsets: torch.Tensor, num_entries: int, piece: int) -> Pieces:
    n_rows = offsets.shape[0] - 1
    device = offsets.device
    lengths = (offsets[1:] - offsets[:-1]).to(torch.int64)
    row_first_item = torch.zeros(n_rows + 1, device=device, dtype=torch.int64)
    row_first_item[1:] = torch.cumsum((lengths + (piece - 1)) // piece, 0)
    n_items = n_rows + (num_entries + piece - 1) // piece
    # item_row[i] = number of rows whose items end at or before i: a searchsorted of the row
    # ends, written as scatter-add + cumsum (Inductor's searchsorted lowering fails on a sliced
    # input on CUDA, torch 2.11).
    ends = torch.zeros(n_items + 1, device=device, dtype=torch.int64)
    ends.scatter_add_(0, row_first_item[1:].clamp(max=n_items), torch.ones_like(row_first_item[1:]))
    item_row = torch.cumsum(ends, 0)[:n_items].to(torch.int32)
    return Pieces(row_first_item.to(torch.int32), item_row, n_items)
