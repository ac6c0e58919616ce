"""Block-selection generators for benchmarks and tests.

``random_selection``: block 0 and the two most recent blocks always, the rest drawn uniformly
among causal blocks, independently per token (TARGETS.md's "random").

``local_selection``: locality-correlated, like real NSA selections, whose compressed-attention
scores change slowly along the sequence. Each KV head gets a per-block score
``a_j + sin(2*pi*p / period_j + phase_j)`` (period 256 to 4096 tokens) plus a recency bonus, and
each token takes block 0, its two most recent blocks and the top-scoring causal blocks. Tokens
close together therefore select nearly the same blocks. ``distinct_blocks_per_tile`` measures
that: the mean number of distinct blocks selected per (64-query tile, KV head).
"""
from __future__ import annotations

import math

import torch


def _forced(T: int, Tk: int, block_size: int, device) -> torch.Tensor:
    pos = torch.arange(T, device=device) + (Tk - T)
    own = pos // block_size
    return torch.stack([torch.zeros_like(own), own, (own - 1).clamp(min=0)], -1)  # [T, 3]


def random_selection(B, T, H, S, block_size, Tk=None, device="cpu", generator=None) -> torch.Tensor:
    Tk = T if Tk is None else Tk
    forced = _forced(T, Tk, block_size, device)
    own = forced[:, 1].view(1, T, 1, 1)
    r = torch.rand(B, T, H, max(S - 3, 0), device=device, generator=generator)
    rest = (r * (own + 1)).long()  # uniform in [0, own]
    sel = torch.cat([forced.view(1, T, 1, 3).expand(B, T, H, 3), rest], -1)[..., :S]
    return sel.to(torch.int32).contiguous()


def local_selection(B, T, H, S, block_size, Tk=None, device="cpu", generator=None, chunk=4096) -> torch.Tensor:
    Tk = T if Tk is None else Tk
    NB = (Tk + block_size - 1) // block_size
    forced = _forced(T, Tk, block_size, device)
    k = max(S - 3, 0)
    out = torch.empty(B, T, H, S, dtype=torch.int32, device=device)
    rand = lambda *shape: torch.rand(*shape, device=device, generator=generator)
    base = rand(B, H, NB) * 2
    period = 256 * torch.exp2(rand(B, H, NB) * 4)
    phase = rand(B, H, NB) * 2 * math.pi
    j = torch.arange(NB, device=device)
    for t0 in range(0, T, chunk):
        t1 = min(T, t0 + chunk)
        pos = (torch.arange(t0, t1, device=device) + (Tk - T)).float()
        score = base[:, None] + torch.sin(2 * math.pi * pos.view(1, -1, 1, 1) / period[:, None] + phase[:, None])
        own = (pos.long() // block_size).view(1, -1, 1, 1)
        score = score + 0.5 * torch.exp(-(own - j).clamp(min=0).float() / 8)  # recency bonus
        # Only causal blocks other than the forced ones compete.
        blocked = (j > own) | (j == 0) | (j == own) | (j == own - 1)
        score = score.masked_fill(blocked, float("-inf"))
        top = score.topk(min(k, NB), dim=-1).indices
        top = torch.where(torch.gather(score, -1, top) > float("-inf"), top, -1)  # too few causal blocks
        f = forced[t0:t1].view(1, -1, 1, 3).expand(B, -1, H, 3)
        row = torch.cat([f, top], -1)[..., :S]
        out[:, t0:t1, :, : row.shape[-1]] = row.to(torch.int32)
        if row.shape[-1] < S:
            out[:, t0:t1, :, row.shape[-1]:] = -1
    return out


def distinct_blocks_per_tile(block_indices: torch.Tensor, tile: int = 64) -> float:
    """Mean number of distinct valid block ids per (batch, 64-query tile, KV head)."""
    B, T, H, S = block_indices.shape
    n = T // tile
    if n == 0:
        return float("nan")
    x = block_indices[:, : n * tile].long().view(B, n, tile, H, S).permute(0, 1, 3, 2, 4).reshape(B * n * H, tile * S)
    x = torch.where(x >= 0, x, torch.full_like(x, -1))
    xs = torch.sort(x, -1).values
    distinct = ((xs[:, 1:] != xs[:, :-1]) & (xs[:, 1:] >= 0)).sum(-1) + (xs[:, 0] >= 0).long()
    return distinct.float().mean().item()
