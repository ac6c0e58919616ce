"""Which tiles of neighbouring tokens the multi-token (shared K/V) kernels take, and the
persistent grid those kernels run on.

A tile is TQ neighbouring query tokens of one (batch, kv head); it is *taken* when the union of
its tokens' selected blocks has at most ``max_union`` blocks (``primitives.shared_tile_union``).
``claim_tiles`` decides every tile with a light kernel (one warp, little shared memory, so many
programs per SM) and writes one int8 flag per tile, ``owned[(b*H + h) * n_tiles + tile]``. The
multi-token kernels then run ``persistent_programs`` programs that scan those flags in strides
and work only on taken tiles; the token-centric kernels skip taken tiles by the same flags.

Why: the multi-token kernels are heavy (four warps, ~80-100 KiB of shared memory: two programs
per SM). Launched with one program per tile, on a random selection (no tile taken) their ~16k
programs at T=16k each only decided and exited, and still cost 0.13 ms of the G16 forward
(0.33 ms at 64k; H100 run 74, ``bench/exp_shared_off.py``).
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from .configs import next_pow2
from .primitives import shared_tile_union

# Work items one program of a multi-token kernel reads flags for at once.
SCAN = 64


@triton.jit
def _claim_tiles_kernel(
    bi_ptr, cnt_ptr, owned_ptr,
    stride_sb, stride_st, stride_sh, stride_ss,
    stride_cb, stride_ct, stride_ch,
    H, Tq, Tk, NB, S, max_union, n_tiles,
    TQ: tl.constexpr, BLOCK_S: tl.constexpr, BLOCK_SIZE: tl.constexpr, HAS_COUNTS: tl.constexpr,
):
    tile = tl.program_id(0)
    bh = tl.program_id(1)
    b = (bh // H).to(tl.int64)
    h = bh % H
    u_ids, u_valid, u_first, u_rank, n_union, u_tok = shared_tile_union(
        bi_ptr + b * stride_sb + h * stride_sh, cnt_ptr + b * stride_cb + h * stride_ch,
        stride_st, stride_ss, stride_ct, tile * TQ, Tq, Tk, NB, S, max_union, HAS_COUNTS, TQ, BLOCK_S, BLOCK_SIZE)
    tl.store(owned_ptr + bh * n_tiles + tile, (n_union <= max_union).to(tl.int8))


def claim_tiles(sel: torch.Tensor, cnt: torch.Tensor, has_counts: bool, Tk: int, block_size: int,
                tokens: int, max_union: int) -> torch.Tensor:
    """int8 flags [B*H*n_tiles] (1 = taken) for the raw ``block_indices`` ``sel`` [B,Tq,H,S]
    and ``block_counts`` ``cnt`` [B,Tq,H] (any tensor when not ``has_counts``)."""
    B, Tq, H, S = sel.shape
    n_tiles = triton.cdiv(Tq, tokens)
    owned = torch.empty((B * H * n_tiles,), device=sel.device, dtype=torch.int8)
    torch.library.wrap_triton(_claim_tiles_kernel)[(n_tiles, B * H)](
        sel, cnt, owned,
        sel.stride(0), sel.stride(1), sel.stride(2), sel.stride(3),
        cnt.stride(0), cnt.stride(1), cnt.stride(2),
        H, Tq, Tk, (Tk + block_size - 1) // block_size, S, max_union, n_tiles,
        TQ=tokens, BLOCK_S=max(2, next_pow2(S)), BLOCK_SIZE=block_size, HAS_COUNTS=has_counts,
        num_warps=1,
    )
    return owned


def persistent_programs(device: torch.device, per_sm: int = 2) -> int:
    """Programs of a multi-token kernel: ``per_sm`` per SM (what their shared memory and
    registers allow at once), whatever the work (a program past the last work item does
    nothing; no guard on symbolic sizes under torch.compile). Off CUDA (the interpreter) two,
    so the tests walk the strided scan with several work items per program."""
    if device.type != "cuda":
        return 2
    return per_sm * torch.cuda.get_device_properties(device).multi_processor_count


def scan_width(device: torch.device) -> int:
    """Flags read per scan step: ``SCAN`` on the GPU, 4 off it (the interpreter tests then cover
    several scan steps per program)."""
    return SCAN if device.type == "cuda" else 4
