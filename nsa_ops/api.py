"""Public entry points: argument checks (the one place shapes are checked) and the call into
``torch.ops.nsa.selection``.

Checks that read tensor *values* (cu_seqlens layout, seed ranges alignment) run in eager mode
only; shape/dtype/device checks run always.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch

from . import backend as _backend
from .ops import selection_op, selection_train_op

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_INDEX_DTYPES = (torch.int32, torch.int64)


def _compiling() -> bool:
    return torch.compiler.is_compiling()


def _tensor(x, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    return x


def _rank(x: torch.Tensor, name: str, rank: int, form: str) -> None:
    if x.dim() != rank:
        raise ValueError(f"{name} must have shape {form} ({rank} dims), got {tuple(x.shape)}")


def _index_tensor(x: torch.Tensor, name: str, device: torch.device) -> None:
    if x.dtype not in _INDEX_DTYPES:
        raise TypeError(f"{name} must be int32 or int64, got {x.dtype}")
    if x.device != device:
        raise ValueError(f"{name} must be on {device} like q, got {x.device}")


def _check_qkv(q, k, v) -> None:
    for name, x in (("q", q), ("k", k), ("v", v)):
        _tensor(x, name)
    _rank(q, "q", 4, "[B, Tq, HQ, D]")
    _rank(k, "k", 4, "[B, Tk, H, D]")
    _rank(v, "v", 4, "[B, Tk, H, Dv]")
    if q.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"q must be float16, bfloat16, float32 or float64, got {q.dtype}")
    for name, x in (("k", k), ("v", v)):
        if x.dtype != q.dtype:
            raise TypeError(f"{name} must have q's dtype {q.dtype}, got {x.dtype}")
        if x.device != q.device:
            raise ValueError(f"{name} must be on q's device {q.device}, got {x.device}")
    B, Tq, HQ, D = q.shape
    if k.shape[0] != B or v.shape[0] != B:
        raise ValueError(f"batch size differs: q {B}, k {k.shape[0]}, v {v.shape[0]}")
    if k.shape[-1] != D:
        raise ValueError(f"k's head dim must equal q's (D={D}), got k {tuple(k.shape)}")
    if v.shape[1] != k.shape[1] or v.shape[2] != k.shape[2]:
        raise ValueError(f"v must be [B, Tk, H, Dv] with k's Tk and H, got k {tuple(k.shape)}, v {tuple(v.shape)}")
    H = k.shape[2]
    if H == 0 or HQ % H != 0:
        raise ValueError(f"q's heads HQ={HQ} must be a multiple of k's heads H={H} (GQA)")
    if D == 0 or v.shape[-1] == 0:
        raise ValueError(f"head dims must be positive, got D={D}, Dv={v.shape[-1]}")


def _split_cu_seqlens(cu_seqlens, q, k):
    if cu_seqlens is None:
        return None, None
    if isinstance(cu_seqlens, torch.Tensor):
        cu_q = cu_k = cu_seqlens
    elif isinstance(cu_seqlens, (tuple, list)) and len(cu_seqlens) == 2:
        cu_q, cu_k = cu_seqlens
    else:
        raise TypeError("cu_seqlens must be None, an int tensor [N+1] or a pair (cu_seqlens_q, cu_seqlens_k)")
    for name, cu in (("cu_seqlens_q", cu_q), ("cu_seqlens_k", cu_k)):
        _tensor(cu, name)
        _index_tensor(cu, name, q.device)
        if cu.dim() != 1 or cu.shape[0] < 2:
            raise ValueError(f"{name} must be 1-D [N+1] with N >= 1, got shape {tuple(cu.shape)}")
    if cu_q.shape[0] != cu_k.shape[0]:
        raise ValueError(f"cu_seqlens_q and cu_seqlens_k must have the same length, got {cu_q.shape[0]} and {cu_k.shape[0]}")
    if q.shape[0] != 1:
        raise ValueError(f"with cu_seqlens the batch must be packed into B=1, got B={q.shape[0]}")
    if not _compiling():
        for name, cu, total in (("cu_seqlens_q", cu_q, q.shape[1]), ("cu_seqlens_k", cu_k, k.shape[1])):
            vals = cu.tolist()
            if vals[0] != 0 or vals[-1] != total or any(b < a for a, b in zip(vals, vals[1:])):
                raise ValueError(f"{name} must start at 0, be non-decreasing and end at {total}, got {vals}")
        lq = (cu_q[1:] - cu_q[:-1]).tolist()
        lk = (cu_k[1:] - cu_k[:-1]).tolist()
        bad = [n for n, (a, b) in enumerate(zip(lq, lk)) if a > b]
        if bad:
            raise ValueError(f"cu_seqlens: sequence {bad[0]} has more queries ({lq[bad[0]]}) than keys ({lk[bad[0]]})")
    return cu_q, cu_k


def _check_indices(block_indices, block_counts, q, k):
    _tensor(block_indices, "block_indices")
    _index_tensor(block_indices, "block_indices", q.device)
    _rank(block_indices, "block_indices", 4, "[B, Tq, H, S]")
    B, Tq, _, _ = q.shape
    H = k.shape[2]
    if tuple(block_indices.shape[:3]) != (B, Tq, H):
        raise ValueError(
            f"block_indices must be [B, Tq, H, S] = [{B}, {Tq}, {H}, S], got {tuple(block_indices.shape)}"
        )
    if block_counts is None:
        return block_indices, None
    if isinstance(block_counts, bool) or not isinstance(block_counts, (int, torch.Tensor)):
        raise TypeError(f"block_counts must be None, an int or an int tensor [B, Tq, H], got {type(block_counts).__name__}")
    if isinstance(block_counts, int):
        if block_counts < 0:
            raise ValueError(f"block_counts must be >= 0, got {block_counts}")
        # Only the first block_counts slots are read: a view, no copy.
        return block_indices[..., :block_counts], None
    _index_tensor(block_counts, "block_counts", q.device)
    if tuple(block_counts.shape) != (B, Tq, H):
        raise ValueError(f"block_counts tensor must be [B, Tq, H] = [{B}, {Tq}, {H}], got {tuple(block_counts.shape)}")
    return block_indices, block_counts


def _check_scalars(block_size, scale, D):
    if isinstance(block_size, bool) or not isinstance(block_size, int):
        raise TypeError(f"block_size must be an int, got {type(block_size).__name__}")
    if block_size not in _backend.SUPPORTED_BLOCK_SIZES:
        raise ValueError(f"block_size must be one of {_backend.SUPPORTED_BLOCK_SIZES}, got {block_size}")
    if scale is None:
        return D ** -0.5
    if isinstance(scale, bool) or not isinstance(scale, (int, float)):
        raise TypeError(f"scale must be None or a float, got {type(scale).__name__}")
    if scale != scale or scale in (float("inf"), float("-inf")):
        raise ValueError(f"scale must be finite, got {scale}")
    return float(scale)


def selection_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    block_indices: torch.Tensor,
    block_counts: Union[None, int, torch.Tensor] = None,
    block_size: int = 64,
    scale: Optional[float] = None,
    cu_seqlens: Union[None, torch.Tensor, Sequence[torch.Tensor]] = None,
    return_lse: bool = False,
):
    """NSA selection attention. See CONTRACT.md for the exact semantics.

    q [B, Tq, HQ, D], k [B, Tk, H, D], v [B, Tk, H, Dv], block_indices [B, Tq, H, S] (int32/int64).
    Returns out [B, Tq, HQ, Dv] in q.dtype, and lse [B, Tq, HQ] (fp32) when ``return_lse``.
    """
    _check_qkv(q, k, v)
    block_indices, counts = _check_indices(block_indices, block_counts, q, k)
    scale = _check_scalars(block_size, scale, q.shape[-1])
    cu_q, cu_k = _split_cu_seqlens(cu_seqlens, q, k)
    if cu_q is None and q.shape[1] > k.shape[1]:
        raise ValueError(f"q has more tokens (Tq={q.shape[1]}) than k (Tk={k.shape[1]}); need Tq <= Tk")
    if not isinstance(return_lse, bool):
        raise TypeError(f"return_lse must be a bool, got {type(return_lse).__name__}")
    backend = _backend.resolve(q, k, v, block_size)
    if torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad):
        # The training op hands the entry CSR its forward built to the backward (ops.reuses_csr).
        out, lse = selection_train_op(q, k, v, block_indices, counts, block_size, scale, cu_q, cu_k, backend)[:2]
    else:
        out, lse = selection_op(q, k, v, block_indices, counts, block_size, scale, cu_q, cu_k, backend)
    return (out, lse) if return_lse else out


def selection_attention_ranges(
    Q: torch.Tensor,
    K: torch.Tensor,
    V: torch.Tensor,
    ranges: torch.Tensor,
    block_size: int = 64,
    scale: Optional[float] = None,
) -> torch.Tensor:
    """The seed project's layout: Q [B, T, G, h, D], K [B, G, Tk, D], V [B, G, Tk, Dv],
    ranges [B, T, G, n, 2] of [start, end) token spans. Returns [B, T, G, h, Dv].

    A span is one KV block: ``start`` a multiple of ``block_size`` and ``end`` the block's end,
    possibly clamped to the causal limit ``t + 1`` or to Tk. Empty spans (end <= start) are
    padding. Query t sits at position Tk - T + t (t itself when T == Tk).
    """
    for name, x, rank, form in (
        ("Q", Q, 5, "[B, T, G, h, D]"), ("K", K, 4, "[B, G, Tk, D]"),
        ("V", V, 4, "[B, G, Tk, Dv]"), ("ranges", ranges, 5, "[B, T, G, n, 2]"),
    ):
        _tensor(x, name)
        _rank(x, name, rank, form)
    B, T, G, h, D = Q.shape
    if ranges.shape[:3] != Q.shape[:3] or ranges.shape[-1] != 2:
        raise ValueError(f"ranges must be [B, T, G, n, 2] = [{B}, {T}, {G}, n, 2], got {tuple(ranges.shape)}")
    if ranges.dtype not in _INDEX_DTYPES:
        raise TypeError(f"ranges must be int32 or int64, got {ranges.dtype}")
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size not in _backend.SUPPORTED_BLOCK_SIZES:
        raise ValueError(f"block_size must be one of {_backend.SUPPORTED_BLOCK_SIZES}, got {block_size!r}")
    Tk = K.shape[2]
    start, end = ranges[..., 0].long(), ranges[..., 1].long()
    used = end > start
    if not _compiling():
        pos = torch.arange(T, device=Q.device).view(1, T, 1, 1) + (Tk - T)
        full_end = torch.minimum(start + block_size, torch.full_like(start, Tk))
        aligned = (start % block_size == 0) & (start >= 0) & (
            (end == full_end) | ((end == pos + 1) & (end < full_end))
        )
        if bool((used & ~aligned).any()):
            raise ValueError(
                "ranges must be block-aligned spans [start, end): start a multiple of "
                f"block_size={block_size} and end = min(start + block_size, Tk), or the causal clamp t + 1"
            )
    block_indices = torch.where(used, start // block_size, torch.full_like(start, -1))
    q = Q.reshape(B, T, G * h, D)
    k = K.transpose(1, 2)
    v = V.transpose(1, 2)
    out = selection_attention(q, k, v, block_indices, block_size=block_size, scale=scale)
    return out.reshape(B, T, G, h, V.shape[-1])
