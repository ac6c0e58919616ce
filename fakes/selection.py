"""Fakes for ``nsa::selection`` and ``nsa::selection_backward``: shapes and dtypes only."""
from __future__ import annotations

import torch


def selection_fake(q, k, v, block_indices, block_counts, block_size, scale, cu_seqlens_q, cu_seqlens_k, backend):
    B, Tq, HQ, _ = q.shape
    out = q.new_empty(B, Tq, HQ, v.shape[-1])
    lse = q.new_empty(B, Tq, HQ, dtype=torch.promote_types(q.dtype, torch.float32))
    return out, lse


def selection_backward_fake(
    dout, q, k, v, out, lse, dlse, block_indices, block_counts, block_size, scale,
    cu_seqlens_q, cu_seqlens_k, backend, csr_keys=None, csr_offsets=None, csr_entries=None,
):
    return torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
