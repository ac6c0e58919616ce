"""The oracle: selection attention written as dense masked attention, as plainly as possible.

Independent of ``indices.py`` on purpose (it builds its own mask from the raw inputs), so the
tests compare every backend, index preparation included, against code that shares nothing with
them. Computes in float64 when given float64 (float32 otherwise), is differentiable by autograd,
and loops over packed sequences on the host: it is for testing, not for speed.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import torch


def _attend(q, k, v, block_indices, block_counts, block_size, scale):
    """One unpacked problem. q [B,Tq,HQ,D], k [B,Tk,H,D] -> out [B,Tq,HQ,Dv], lse [B,Tq,HQ]."""
    B, Tq, HQ, D = q.shape
    Tk, H = k.shape[1], k.shape[2]
    G = HQ // H
    S = block_indices.shape[-1]
    NB = (Tk + block_size - 1) // block_size
    compute = torch.promote_types(q.dtype, torch.float32)

    ids = block_indices.long()
    ok = (ids >= 0) & (ids < NB)
    if block_counts is not None:
        ok &= torch.arange(S, device=q.device) < block_counts.long()[..., None]
    chosen = torch.zeros(B, Tq, H, NB + 1, dtype=torch.bool, device=q.device)
    chosen.scatter_(-1, torch.where(ok, ids, NB), True)  # a set: duplicates collapse
    j = torch.arange(Tk, device=q.device)
    pos = torch.arange(Tq, device=q.device) + (Tk - Tq)
    mask = chosen[..., j // block_size] & (j <= pos[:, None, None])[None]  # [B,Tq,H,Tk]
    mask = mask.repeat_interleave(G, dim=2).permute(0, 2, 1, 3)  # [B,HQ,Tq,Tk]

    kx = k.to(compute).repeat_interleave(G, dim=2)
    vx = v.to(compute).repeat_interleave(G, dim=2)
    s = torch.einsum("bqhd,bkhd->bhqk", q.to(compute), kx) * scale
    s = s.masked_fill(~mask, float("-inf"))
    lse = torch.logsumexp(s, dim=-1)  # -inf on rows with no key
    lse_safe = torch.where(torch.isinf(lse), torch.zeros_like(lse), lse)
    p = torch.where(mask, torch.exp(s - lse_safe[..., None]), torch.zeros_like(s))
    out = torch.einsum("bhqk,bkhd->bqhd", p, vx)
    return out.to(q.dtype), lse.permute(0, 2, 1)


def reference_selection(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    block_indices: torch.Tensor,
    block_counts: Union[None, int, torch.Tensor] = None,
    block_size: int = 64,
    scale: Optional[float] = None,
    cu_seqlens: Union[None, torch.Tensor, Sequence[torch.Tensor]] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Returns (out [B,Tq,HQ,Dv] in q.dtype, lse [B,Tq,HQ] in float32 or float64)."""
    if scale is None:
        scale = q.shape[-1] ** -0.5
    if isinstance(block_counts, int):
        block_counts = torch.full(block_indices.shape[:-1], block_counts, device=q.device)
    if cu_seqlens is None:
        return _attend(q, k, v, block_indices, block_counts, block_size, scale)
    cu_q, cu_k = (cu_seqlens, cu_seqlens) if torch.is_tensor(cu_seqlens) else cu_seqlens
    cu_q, cu_k = cu_q.tolist(), cu_k.tolist()
    outs, lses = [], []
    for n in range(len(cu_q) - 1):
        qs, ks = slice(cu_q[n], cu_q[n + 1]), slice(cu_k[n], cu_k[n + 1])
        counts = None if block_counts is None else block_counts[:, qs]
        o, l = _attend(q[:, qs], k[:, ks], v[:, ks], block_indices[:, qs], counts, block_size, scale)
        outs.append(o)
        lses.append(l)
    return torch.cat(outs, 1), torch.cat(lses, 1)
