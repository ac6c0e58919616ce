"""Merge per-slot partial results by log-sum-exp: the second kernel of the KV-centric forward
(``kernels/forward_kv.py``) and of the split-KV decode (``kernels/decode.py``).

A partial is one (query token, kv head, slot, query head) row: the slot's block-local base-2
log-sum-exp (fp32; -inf where the slot saw no key) and the block-local *normalised* output
(|o| <= max|v|, so it may be stored in the input dtype). Partial p of group ``grp = (b * Tq + t)
* H + h`` (all G query heads of kv head h at token t), slot s and head j is ``e * G + j`` with
the entry ``e = grp * S + s``, or ``positions[e] * G + j`` where the writer stored by the
entry's place in the CSR list (``kernels/csr.py``). Slots are merged in slot order with a
fixed-shape reduction, so the result does not depend on scheduling.
"""
from __future__ import annotations

from typing import Optional

import torch
import triton
import triton.language as tl

from .configs import next_pow2
from .csr import is_far
from .primitives import group_rows, load_once


@triton.jit
def _combine_slots_kernel(
    lse_part_ptr, o_part_ptr, keys_ptr, out_ptr, lse_ptr, positions_ptr, n_kept_ptr, lse_near_ptr, o_near_ptr,
    n_groups, G, DV, S, sentinel,
    R: tl.constexpr, BLOCK_GP: tl.constexpr, SLOTS: tl.constexpr, DV_CHUNK: tl.constexpr,
    HAS_KEYS: tl.constexpr, STREAM: tl.constexpr = False, BY_POSITION: tl.constexpr = False,
    HAS_NEAR: tl.constexpr = False, NEAR_IN_LISTS: tl.constexpr = False, H=1, NB=1, Tq=1, Tk=1,
    BLOCK_SIZE: tl.constexpr = 1, POSITIONS_BY_KEY: tl.constexpr = False,
):
    """R / BLOCK_GP consecutive groups per program, all G heads of each: rows r = (group,
    head); program_id(1) picks DV_CHUNK output columns. HAS_KEYS: slots whose entry key
    (``kernels/csr.py``) is the sentinel were never written and are skipped; BY_POSITION: the
    partials sit at the entries' list positions, and entries placed at or past ``n_kept`` (the
    CSR's last offset) were never written; otherwise every slot was written (-inf where it saw
    no key). NEAR_IN_LISTS (with BY_POSITION or HAS_KEYS): the lists also hold the near entries, which the
    near pass merged instead (``csr.is_far``); their slots are skipped by their key.
    POSITIONS_BY_KEY (with BY_POSITION and HAS_KEYS): only the kept (far) entries have a
    position (the gather wrote them), so the keys choose the slots first."""
    grp64, head, r_ok = group_rows(n_groups, G, R, BLOCK_GP)
    chunk = tl.program_id(1)
    offs_s = tl.arange(0, SLOTS)
    offs_dv = chunk * DV_CHUNK + tl.arange(0, DV_CHUNK)
    if HAS_NEAR:
        row_n = grp64 * G + head
        m_run = tl.load(lse_near_ptr + row_n, mask=r_ok, other=float("-inf"))
        w_run = tl.where(m_run == float("-inf"), 0.0, 1.0)
        acc = load_once(o_near_ptr + row_n[:, None] * DV + offs_dv[None, :], r_ok[:, None] & (offs_dv[None, :] < DV),
                        STREAM).to(tl.float32) * w_run[:, None]
    else:
        m_run = tl.full([R], float("-inf"), tl.float32)
        w_run = tl.zeros([R], tl.float32)
        acc = tl.zeros([R, DV_CHUNK], tl.float32)
    if BY_POSITION and not POSITIONS_BY_KEY:
        n_kept = tl.load(n_kept_ptr)
    for s0 in range(0, S, SLOTS):
        slot = s0 + offs_s
        e = grp64[:, None] * S + slot[None, :]  # [R, SLOTS]
        ok = r_ok[:, None] & (slot[None, :] < S)
        part = e * G + head[:, None]
        if BY_POSITION and POSITIONS_BY_KEY:
            key = tl.load(keys_ptr + e, mask=ok, other=sentinel).to(tl.int32)
            ok = ok & (key != sentinel)
            if NEAR_IN_LISTS:
                ok = ok & is_far(key % NB, ((grp64 // H) % Tq).to(tl.int32)[:, None], Tq, Tk, BLOCK_SIZE)
            at = tl.load(positions_ptr + e, mask=ok, other=0).to(tl.int64)
            lse2 = tl.load(lse_part_ptr + at * G + head[:, None], mask=ok, other=float("-inf"))
        elif BY_POSITION:
            at = tl.load(positions_ptr + e, mask=ok, other=0).to(tl.int64)
            ok = ok & (at < n_kept)
            if NEAR_IN_LISTS:
                g = tl.load(keys_ptr + e, mask=ok, other=0).to(tl.int32) % NB
                ok = ok & is_far(g, ((grp64 // H) % Tq).to(tl.int32)[:, None], Tq, Tk, BLOCK_SIZE)
            lse2 = tl.load(lse_part_ptr + at * G + head[:, None], mask=ok, other=float("-inf"))
        else:
            if HAS_KEYS:
                key = tl.load(keys_ptr + e, mask=ok, other=sentinel).to(tl.int32)
                ok = ok & (key != sentinel)
                if NEAR_IN_LISTS:
                    ok = ok & is_far(key % NB, ((grp64 // H) % Tq).to(tl.int32)[:, None], Tq, Tk, BLOCK_SIZE)
            lse2 = tl.load(lse_part_ptr + part, mask=ok, other=float("-inf"))
        o = load_once(o_part_ptr + part[:, :, None] * DV + offs_dv[None, None, :],
                      ok[:, :, None] & (offs_dv[None, None, :] < DV), STREAM).to(tl.float32)
        m_new = tl.maximum(m_run, tl.max(lse2, 1))
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
        w = tl.exp2(lse2 - m_safe[:, None])
        alpha = tl.exp2(m_run - m_safe)
        w_run = w_run * alpha + tl.sum(w, 1)
        acc = acc * alpha[:, None] + tl.sum(w[:, :, None] * o, 1)
        m_run = m_new
    has_key = w_run > 0.0
    out = acc / tl.where(has_key, w_run, 1.0)[:, None]
    lse = tl.where(has_key, (m_run + tl.log2(tl.where(has_key, w_run, 1.0))) * 0.6931471805599453,
                   float("-inf"))
    row = grp64 * G + head  # out [B, Tq, HQ, Dv] and lse [B, Tq, HQ] are contiguous
    tl.store(out_ptr + row[:, None] * DV + offs_dv[None, :], out.to(out_ptr.dtype.element_ty),
             mask=r_ok[:, None] & (offs_dv[None, :] < DV))
    tl.store(lse_ptr + row, lse, mask=r_ok & ((tl.zeros_like(head) + chunk) == 0))


def combine_slots(lse_part: torch.Tensor, o_part: torch.Tensor, out: torch.Tensor, lse: torch.Tensor, G: int, S: int,
                  keys: Optional[torch.Tensor] = None, sentinel: int = 0, elems: int = 8192,
                  dv_chunk: Optional[int] = None, stream: bool = False, csr=None,
                  near: Optional[tuple] = None, near_in_lists: Optional[tuple] = None,
                  positions_by_key: bool = False, num_warps: int = 4) -> None:
    """Fills ``out`` [B, Tq, HQ, Dv] and ``lse`` [B, Tq, HQ] (fresh, contiguous; natural-log lse,
    out = 0 and lse = -inf where no slot saw a key) from the partials (module docstring).
    ``elems``: partial elements one program holds per slot step; ``dv_chunk``: output columns
    per program (default: all); ``stream``: partial loads marked evict_first; ``csr``: an
    ``EntryCSR`` with positions, for partials stored by list position (``keys`` unused);
    ``near``: (lse [B*Tq*HQ] fp32, o [B*Tq*HQ, Dv]), one more partial per row, merged first;
    ``near_in_lists``: (NB, Tk, block_size) when the CSR's lists still hold the near entries;
    ``positions_by_key`` (with ``csr`` and ``keys``): only the kept entries' positions were
    written, so the keys choose the slots."""
    if positions_by_key and (csr is None or keys is None):
        raise ValueError("combine_slots: positions_by_key needs csr and keys")
    Dv = out.shape[-1]
    block_dv = max(16, next_pow2(Dv))
    chunk = min(block_dv, dv_chunk or block_dv)
    block_gp = next_pow2(G)
    slots = min(16, max(2, next_pow2(S)))
    rows = max(block_gp, next_pow2(max(1, elems // (slots * chunk))))
    n_groups = lse.numel() // G  # (b, t, kv head) groups
    torch.library.wrap_triton(_combine_slots_kernel)[(triton.cdiv(n_groups, rows // block_gp), block_dv // chunk)](
        lse_part, o_part, keys if keys is not None else lse_part, out, lse,
        csr.positions if csr is not None else lse_part, csr.offsets[-1:] if csr is not None else lse_part,
        near[0] if near is not None else lse_part, near[1] if near is not None else o_part,
        n_groups, G, Dv, S, sentinel,
        R=rows, BLOCK_GP=block_gp, SLOTS=slots, DV_CHUNK=chunk, HAS_KEYS=keys is not None, STREAM=stream,
        BY_POSITION=csr is not None, HAS_NEAR=near is not None,
        # Every argument passed, defaults too: Inductor's launcher (torch 2.11) takes no defaults.
        NEAR_IN_LISTS=near_in_lists is not None, H=lse.shape[2] // G, NB=near_in_lists[0] if near_in_lists else 1,
        Tq=lse.shape[1], Tk=near_in_lists[1] if near_in_lists else 1,
        BLOCK_SIZE=near_in_lists[2] if near_in_lists else 1, POSITIONS_BY_KEY=positions_by_key,
        num_warps=num_warps,
    )
