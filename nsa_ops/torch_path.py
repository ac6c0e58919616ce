"""The production torch path (CPU, and CUDA wherever the Triton kernels do not apply).

Works on the prepared index. For a chunk of query tokens it gathers the selected keys and values
(``[B, Tc, H, S * block_size, D]``), builds an explicit boolean mask (slot valid and
``token <= q_last``; never ``is_causal``, which on one query row would see only the first key) and
runs attention over them. Chunks keep the gathered K/V under ``GATHER_BUDGET_BYTES``, so memory
stays bounded for long sequences. While tracing with symbolic sizes (torch.compile with dynamic
shapes) the chunk loop would specialise on the length, so there it runs as one chunk.
"""
from __future__ import annotations

from typing import Tuple

import torch

from .indices import PreparedIndex

# Gathered K+V bytes per chunk (the backward's fp32 gathers and their dK/dV contributions get
# twice this). Every large per-chunk tensor is then ~128 MiB, above glibc's mmap threshold
# (32 MiB at most), so it is returned to the OS when freed. Smaller chunks put such tensors on
# the heap, where they fragmented it: 2-core dev box, 2026-11-22, T=8192 HQ=16 H=4 S=16 D=128
# fp32 fwd+bwd peaked at 15.7 GB RSS with 32 MiB chunks and 0.9-5.2 GB with 128 MiB (dK/dV
# contributions of 21 MB); 256 MiB kept it at 1.2 GB.
GATHER_BUDGET_BYTES = 256 << 20


def _chunks(Tq, per_token_bytes, budget=None):
    if not isinstance(Tq, int):
        return [(0, Tq)]
    step = max(1, (budget or GATHER_BUDGET_BYTES) // max(1, per_token_bytes))
    return [(t0, min(Tq, t0 + step)) for t0 in range(0, Tq, step)]


def _gather(k, v, idx: PreparedIndex, t0, t1, block_size):
    """Keys/values of the selected blocks for query tokens [t0, t1) and their mask."""
    B, _, H, _ = k.shape
    sel = idx.sel[:, t0:t1]  # [B, Tc, H, S]
    S = sel.shape[-1]
    slot_ok = torch.arange(S, device=k.device) < idx.cnt[:, t0:t1, :, None]
    start = idx.block_start[sel.clamp(min=0).long()]  # [B, Tc, H, S]
    tok = (start[..., None] + torch.arange(block_size, device=k.device)).flatten(-2)  # [B,Tc,H,L]
    visible = slot_ok.repeat_interleave(block_size, dim=-1) & (
        tok <= idx.q_last[t0:t1, None, None].to(tok.dtype)
    )
    tok = torch.where(visible, tok, torch.zeros_like(tok)).long()
    b = torch.arange(B, device=k.device).view(B, 1, 1, 1)
    h = torch.arange(H, device=k.device).view(1, 1, H, 1)
    # Row of (b, tok, h) in k viewed as [B * Tk * H, D]: one index_select per tensor is several
    # times faster on CPU than advanced indexing with three index tensors.
    flat = ((b * k.shape[1] + tok) * H + h).reshape(-1)
    shape = tuple(tok.shape)
    kg = k.reshape(-1, k.shape[-1]).index_select(0, flat).view(*shape, k.shape[-1])
    vg = v.reshape(-1, v.shape[-1]).index_select(0, flat).view(*shape, v.shape[-1])
    return kg, vg, visible, (b, tok, h)


def _attention_with_lse(q, k, v, visible, scale):
    """q [N, G, D], k [N, L, D], v [N, L, Dv], visible [N, L] -> out [N, G, Dv], lse fp32 [N, G]."""
    any_key = visible.any(-1)
    acc = torch.promote_types(q.dtype, torch.float32)
    if q.device.type == "cpu" and q.shape[-1] == v.shape[-1]:
        # The fused CPU kernel behind F.scaled_dot_product_attention, called directly because
        # the public function does not return the log-sum-exp (it needs D == Dv).
        bias = torch.zeros(visible.shape, dtype=q.dtype, device=q.device)
        bias = bias.masked_fill(~visible, float("-inf"))[:, None, None, :]
        out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
            q[:, None], k[:, None], v[:, None], 0.0, False, attn_mask=bias, scale=scale
        )
        out, lse = out[:, 0], lse[:, 0].to(acc)
    else:
        s = torch.einsum("ngd,nld->ngl", q.to(acc), k.to(acc)) * scale
        s = s.masked_fill(~visible[:, None, :], float("-inf"))
        lse = torch.logsumexp(s, dim=-1)
        lse_safe = torch.where(any_key[:, None], lse, torch.zeros_like(lse))
        p = torch.exp(s - lse_safe[..., None])
        out = torch.einsum("ngl,nld->ngd", p, v.to(acc)).to(q.dtype)
    lse = torch.where(any_key[:, None], lse, torch.full_like(lse, float("-inf")))
    out = torch.where(any_key[:, None, None], out, torch.zeros_like(out))
    return out, lse


def forward(q, k, v, idx: PreparedIndex, block_size: int, scale: float) -> Tuple[torch.Tensor, torch.Tensor]:
    B, Tq, HQ, D = q.shape
    H, Dv = k.shape[2], v.shape[-1]
    G = HQ // H
    L = idx.sel.shape[-1] * block_size
    acc = torch.promote_types(q.dtype, torch.float32)
    if L == 0 or Tq == 0:  # no slots (block_counts=0) or no queries: every row is empty
        return q.new_zeros(B, Tq, HQ, Dv), torch.full((B, Tq, HQ), float("-inf"), dtype=acc, device=q.device)
    outs, lses = [], []
    for t0, t1 in _chunks(Tq, B * H * L * (D + Dv) * k.element_size()):
        kg, vg, visible, _ = _gather(k, v, idx, t0, t1, block_size)
        Tc = kg.shape[1]
        N = B * Tc * H
        qc = q[:, t0:t1].reshape(N, G, D)
        o, l = _attention_with_lse(
            qc, kg.reshape(N, L, D), vg.reshape(N, L, Dv), visible.reshape(N, L), scale
        )
        outs.append(o.reshape(B, Tc, HQ, Dv))
        lses.append(l.reshape(B, Tc, HQ))
    if len(outs) == 1:
        return outs[0], lses[0]
    return torch.cat(outs, 1), torch.cat(lses, 1)


def backward(do, q, k, v, lse, delta, idx: PreparedIndex, block_size: int, scale: float):
    """Gradients by recomputation, chunk by chunk. dK/dV are accumulated with index_put_
    (accumulate=True) in fp32 (float64 for float64 inputs)."""
    B, Tq, HQ, D = q.shape
    Tk, H, Dv = k.shape[1], k.shape[2], v.shape[-1]
    G = HQ // H
    L = idx.sel.shape[-1] * block_size
    acc = torch.promote_types(q.dtype, torch.float32)
    if L == 0 or Tq == 0:
        return torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)
    dq_parts = []
    dk = torch.zeros(B, Tk, H, D, dtype=acc, device=q.device)
    dv = torch.zeros(B, Tk, H, Dv, dtype=acc, device=q.device)
    # kg, vg, their dK/dV contributions: four fp32 tensors of ~GATHER_BUDGET_BYTES / 2 each.
    for t0, t1 in _chunks(Tq, B * H * L * (D + Dv) * acc.itemsize * 2, 2 * GATHER_BUDGET_BYTES):
        kg, vg, visible, where = _gather(k, v, idx, t0, t1, block_size)
        Tc = kg.shape[1]
        kg, vg = kg.to(acc), vg.to(acc)  # [B, Tc, H, L, D]
        qc = q[:, t0:t1].to(acc).reshape(B, Tc, H, G, D)
        doc = do[:, t0:t1].to(acc).reshape(B, Tc, H, G, Dv)
        lse_c = lse[:, t0:t1].to(acc).reshape(B, Tc, H, G, 1)
        delta_c = delta[:, t0:t1].to(acc).reshape(B, Tc, H, G, 1)
        s = torch.einsum("bthgd,bthld->bthgl", qc, kg) * scale
        lse_safe = torch.where(torch.isinf(lse_c), torch.zeros_like(lse_c), lse_c)
        p = torch.where(visible[:, :, :, None, :], torch.exp(s - lse_safe), torch.zeros_like(s))
        dp = torch.einsum("bthgd,bthld->bthgl", doc, vg)
        ds = p * (dp - delta_c)
        dq_parts.append((torch.einsum("bthgl,bthld->bthgd", ds, kg) * scale).reshape(B, Tc, HQ, D))
        dk.index_put_(where, torch.einsum("bthgl,bthgd->bthld", ds, qc) * scale, accumulate=True)
        dv.index_put_(where, torch.einsum("bthgl,bthgd->bthld", p, doc), accumulate=True)
    dq = dq_parts[0] if len(dq_parts) == 1 else torch.cat(dq_parts, 1)
    return dq.to(q.dtype), dk.to(k.dtype), dv.to(v.dtype)
