"""Tile, warp and stage choices for the selection-attention kernels, chosen from the shape.

One table per kernel; each entry says which measurement chose it. No ``triton.autotune``: it
misbehaves under Inductor and in the interpreter, and a fixed table keeps runs reproducible.
All sizes here are static (head counts, head dims, block size), so they may be ``tl.constexpr``.
"""
from __future__ import annotations

from typing import NamedTuple

import torch


# Launchers pass scale * LOG2E: the kernels' softmax runs in base 2 (exp2, log2).
LOG2E = 1.4426950408889634


def next_pow2(n: int) -> int:
    return 1 << max(int(n) - 1, 0).bit_length()


# Split a non-power-of-two head dim into two power-of-two pieces when that is narrower than
# padding (``head_dim_blocks``). The bench's experiment switch; True is the measured default.
SPLIT_HEAD_DIM = True


def head_dim_blocks(d: int) -> tuple:
    """(block_d, block_d2): the head dim as one padded power of two (block_d2 = 0) or as two
    pieces whose sum is narrower than the padding: D=192 -> 128 + 64 (not 256), 160 -> 128 + 32,
    96 -> 64 + 32. The kernels compute q @ k^T as the sum of the pieces' products and keep dq/dk
    in two accumulators, so no MMA or register is spent on padding columns."""
    full = max(16, next_pow2(d))
    first = full // 2
    if not SPLIT_HEAD_DIM or d <= 16 or d == full:
        return full, 0
    second = max(16, next_pow2(d - first))
    return (first, second) if first + second < full else (full, 0)


def dot_precision(dtype: torch.dtype) -> str:
    """``tl.dot`` input precision: fp32 inputs follow torch's float32 matmul precision
    ("highest" -> exact IEEE products, otherwise TF32); 16-bit inputs ignore it."""
    if dtype == torch.float32 and torch.get_float32_matmul_precision() != "highest":
        return "tf32"
    return "ieee"


class TokenTile(NamedTuple):
    """Token-centric kernels (forward, dQ): one program per (query token, kv head, head tile)."""

    block_g: int  # query-head rows per program (the group, padded to >= 16 for tl.dot)
    block_d: int  # first (or only) piece of the head dim, ``head_dim_blocks``
    block_dv: int
    num_warps: int
    num_stages: int
    block_d2: int = 0  # second piece of the head dim (0: none)


class KVTile(NamedTuple):
    """KV-centric dK/dV: one program per (batch, kv head, global block, list piece)."""

    rows: int  # (query token, head) rows gathered per step
    block_d: int  # first (or only) piece of the head dim, ``head_dim_blocks``
    block_dv: int
    num_warps: int
    num_stages: int
    block_d2: int = 0  # second piece of the head dim (0: none)
    stream_partials: bool = True  # dq partials (small G) stored evict_first: run 33, see KVForwardTile
    # Entry ids loaded a chunk ahead (kernels/backward.py), G1 only. H100 run 88 (bench/
    # exp_csr_reduce.py --prefetch, whole op, ms, off -> on): G1 fwd+bwd 16k 3.87-3.88 -> 3.81;
    # G4 (w8 s3: the copies then run a chunk ahead, 149 KiB of shared memory, 412 B of spills)
    # 8.14 -> 8.28-8.32, 64k 34.15 -> 35.09; G16 (no overlap at s2) 11.57 -> 12.07, s3 15.05.
    prefetch_ids: bool = False
    # Dv in two pieces (dO, V and dv; block_dv + block_dv2 a power of two): see dkv_tile.
    block_dv2: int = 0
    # Unpacked inputs: chunks whose queries all see the whole block skip the causal mask (a
    # per-chunk branch, kernels/backward.py FULL_VIEW); see dkv_tile.
    full_view: bool = False
    # The rows' and dq partials' offsets as unsigned 32-bit products (kernels/backward.py
    # ADDR32, where the sizes allow); see dkv_tile.
    addr32: bool = False


# Larger groups are tiled over heads; 64 rows keeps the fp32 accumulator of a D=256 tile in
# registers (a design bound, not tuned: G=128 ran correct on the H100 parity check, untimed).
_MAX_BLOCK_G = 64


def forward_tile(group_size: int, d: int, dv: int, block_size: int, elem: int = 2, tma: bool = False) -> TokenTile:
    block_g = min(max(16, next_pow2(group_size)), _MAX_BLOCK_G)
    (block_d, block_d2), block_dv = head_dim_blocks(d), max(16, next_pow2(dv))
    # 4 warps for <= 16 x 128 tiles, 8 once the q tile or the key block gets wide (widths of the
    # head-dim pieces). G16 D=128: only this choice measured (4.31 ms, H100 2026-11-22). G16
    # D=192 (bench/exp_headdim.py, run 15, ms, warps x stages): split 128 + 64: w4 s2 4.87
    # (w4 s1/s3 6.81/6.13, w8 s1/s2/s3 8.98/6.51/6.87); padded to 256: w4 s2 6.02, w8 s2 7.25.
    widest = max(block_d, block_d2, block_dv)
    big = block_g * widest >= 64 * 128 or block_size * widest > 64 * 128
    num_warps = 8 if big else 4
    # TMA loads (kernels/tma.py): 3 stages for 16-bit unsplit heads up to 128 wide. H100 run 53
    # (bench/exp_tma.py, G16 D=128 bf16, forward kernel alone, ms, w4 s2 / s3 / w8 s2): 16k random
    # 3.69 / 3.62 / 5.16, 64k random 17.14 / 16.59 / 22.30, 16k local 3.88 / 3.87 / 5.59. Whole
    # op, run 55 (--op): D=192 (split head) s2 4.65, s3 5.05 (pointer loads 4.95); 16k local s2
    # 2.33, s3 2.40 (pointer 2.37): s3 kept for the random rows (64k: 0.55 ms).
    most = 3 if tma and widest <= 128 and elem == 2 and not block_d2 else 2
    num_stages = max(1, _token_stages(group_size, d, dv, block_size, elem, most))
    if _sixteen_row_tile(block_g, widest, block_d2, block_size, elem):
        # One warp, two stages, TMA or pointer loads. H100 run 66 (bench/exp_warps.py, G16 D=128
        # bf16, TMA forward kernel alone, ms, warps x stages): 16k random w1 s2 3.40 (w1 s3 3.82,
        # w2 s3 3.50, w4 s3 3.59), 16k local 3.35 (w4 s3 3.79), 64k random 15.75 (w2 s3 15.92,
        # w4 s3 16.47). Whole op, run 67 (bench/exp_tiles_op.py): fwd 16k random 3.61 -> 3.46,
        # 64k 16.06 -> 15.61, local 2.14 -> 2.04; pointer loads (compiled graphs) with the dQ
        # below at 2 stages, fwd+bwd 16k random 12.48 -> 12.07, 64k 54.33 -> 52.49, G8 local
        # 8.74 -> 8.83 (the one loss). On 4 warps a 16-row tile splits each block's keys over
        # the warps, and every softmax step reduces its rows across warps through shared
        # memory; one warp holds whole rows.
        num_warps, num_stages = 1, 2
    elif block_g == 16 and block_d2 and widest <= 128 and block_size == 64 and elem == 2:
        # Split heads (D=192 as 128 + 64) on two warps, two stages. H100 run 126 (bench/
        # exp_d192.py, whole op, interleaved, fwd ms, w4 s2 -> w2 s2): 16k random 4.63 / 4.62 ->
        # 4.55, local 4.50 -> 4.17 (w1 s2 4.76 / 4.69, w1 s3 6.03, w2 s3 4.62).
        num_warps, num_stages = 2, 2
    return _narrow_first(TokenTile(block_g, block_d, block_dv, num_warps, num_stages, block_d2), tma, block_size,
                         elem)


def _narrow_first(tile, tma: bool, block_size: int, elem: int):
    """D=192 (128 + 64) token tiles on TMA loads hold the 64-wide piece first (their descriptors
    follow the tile's pieces: kernels/forward.py, backward.py). H100 runs 184-186 (bench/
    exp_d192_dkv.py --token-*, G16 16k random, whole op, interleaved, ms, 128 + 64 -> 64 + 128,
    outputs and gradients bitwise equal): fwd+bwd 14.813 / 14.845 -> forward alone 14.778, dQ
    alone 14.725 / 14.742, both 14.669; again 14.816 / 14.853 / 14.824 -> 14.666 / 14.673 /
    14.673; fwd 4.567 / 4.566 -> 4.516 / 4.517; local fwd+bwd 15.591 -> 15.485. On pointer loads
    (compiled graphs) it loses: fwd+bwd 15.511 / 15.514 -> 15.796 / 15.966, fwd 5.075 -> 5.092;
    so TMA only. Other split head dims and row counts are not measured and keep the wide piece
    first."""
    if tma and tile.block_g == 16 and (tile.block_d, tile.block_d2) == (128, 64) and block_size == 64 and elem == 2:
        return tile._replace(block_d=64, block_d2=128)
    return tile


def _sixteen_row_tile(block_g: int, widest: int, block_d2: int, block_size: int, elem: int) -> bool:
    """The tile the few-warp choices were measured on (runs 66, 67; TMA and pointer loads): 16
    rows (G <= 16), one head-dim piece up to 128, 64-key blocks, 16-bit inputs."""
    return block_g == 16 and widest <= 128 and not block_d2 and block_size == 64 and elem == 2


def dq_tile(group_size: int, d: int, dv: int, block_size: int, elem: int = 2, tma: bool = False) -> TokenTile:
    tile = forward_tile(group_size, d, dv, block_size, elem)
    if tile.block_d2 and tile.num_warps == 2:
        # Split heads keep 4 warps in the dQ: H100 run 126 (bench/exp_d192.py, D=192 fwd+bwd ms):
        # w4 s3 15.78, w2 s3 19.3, w2 s2 17.6, w2 s4 23.7, w1 s2 30.2.
        tile = tile._replace(num_warps=4)
    # TMA dQ: 3 stages for 16-bit tiles up to 128 wide, split heads too. H100 runs 54/55 (bench/
    # exp_tma.py --op, whole fwd+bwd, ms, dQ s3 vs s2): G16 16k random 11.85 vs 12.29, 64k 51.99
    # vs 53.70, D=192 16.34 vs 16.79 (forward alike in each pair).
    if tma and max(tile.block_d, tile.block_d2, tile.block_dv) <= 128 and elem == 2:
        tile = tile._replace(num_stages=max(1, _token_stages(group_size, d, dv, block_size, elem, 3)))
    if _sixteen_row_tile(tile.block_g, max(tile.block_d, tile.block_dv), tile.block_d2, block_size, elem):
        # Two warps (TMA: three stages, pointer loads: two). H100 run 66 (bench/exp_warps.py,
        # TMA dQ kernel alone, ms): 16k random w2 s3 3.54 (w1 s2 6.12, w2 s2 3.80, w4 s3
        # 3.73-4.09), 16k local 3.64 (w4 s3 3.98), 64k random 16.13 (w4 s3 16.79). One warp has
        # too few registers for dO, q and the dq accumulator. Whole op: run 67, see forward_tile.
        tile = tile._replace(num_warps=2)
    return _narrow_first(tile, tma, block_size, elem)


# Shared memory a tile may plan for: the H100 allows 227 KiB per program; the rest is headroom
# for Triton's layout conversions. Estimates below count the dot operands Triton stages in
# shared memory. H100 2026-11-22: a dK/dV tile of D=256, block 128, bf16, 2 stages asked for
# 262912 bytes (estimate 256 KiB) and failed to launch; so large tiles drop to 1 stage, and
# shapes that fit in no stage count take the torch path (``unsupported_reason``).
SMEM_BUDGET = 200 * 1024


def _stages(fixed: int, per_stage: int, most: int = 2) -> int:
    for stages in range(most, 0, -1):
        if fixed + stages * per_stage <= SMEM_BUDGET:
            return stages
    return 0


def _width(d: int, dv: int) -> int:
    """Columns of a q (or k) row plus a v (or dO) row as the kernels hold them."""
    return sum(head_dim_blocks(d)) + max(16, next_pow2(dv))


def _kv_stages(d: int, dv: int, block_size: int, elem: int, rows: int = 64, most: int = 2) -> int:
    # K and V of the block stay resident; gathered q and dO rows are pipelined.
    return _stages(block_size * _width(d, dv) * elem, rows * _width(d, dv) * elem, most)


def _token_stages(group_size: int, d: int, dv: int, block_size: int, elem: int, most: int = 2) -> int:
    block_g = min(max(16, next_pow2(group_size)), _MAX_BLOCK_G)
    # q (and dO for dQ) resident; K and V blocks pipelined.
    return _stages(block_g * _width(d, dv) * elem, block_size * _width(d, dv) * elem, most)


def unsupported_reason(group_size: int, d: int, dv: int, block_size: int, elem: int):
    """Why no kernel tile fits this shape in shared memory, or None."""
    if _kv_stages(d, dv, block_size, elem) == 0 or _token_stages(group_size, d, dv, block_size, elem) == 0:
        return (f"D={d}, Dv={dv}, block_size={block_size} with {elem}-byte elements does not fit the "
                f"kernels' shared-memory budget")
    return None


def dkv_tile(group_size: int, d: int, dv: int, block_size: int, elem: int = 2) -> KVTile:
    # full_view (the causal mask only on chunks whose queries lie inside the block; unpacked
    # inputs). H100 runs 142-143 (bench/exp_csr_reduce.py --lean / --lean2, whole op,
    # interleaved, fwd+bwd ms, off -> on): G1 16k 3.32 / 3.33 -> 3.30 / 3.31 (run 142 3.34 ->
    # 3.28); G16 D=192 15.88 / 15.88 -> 15.72 / 15.73; but G4 16k 5.58 / 5.59 -> 5.67 / 5.67
    # (64k, run 142: 23.88 -> 24.31), G16 D=128 10.99 / 10.99 -> 11.00 / 11.00, 64k 49.40 ->
    # 49.53: there the per-chunk branch costs as much as or more than the mask it skips. (The
    # masked and unmasked chunks as two loops lost everywhere in run 142: G4 5.86, G1 3.59,
    # G16 11.55; ptxas showed more spills.)
    # addr32 (the offsets by primitives.wide_u32). H100 run 158 (bench/exp_csr_reduce.py
    # --addr32-dkv, whole op, interleaved, fwd+bwd ms, off -> on): G4 16k 5.421 / 5.452 -> 5.367 /
    # 5.381, G16 10.866 / 10.860 -> 10.743 / 10.782, G1 3.234 -> 3.214; but G16 D=192 15.235 /
    # 15.227 / 15.241 -> 15.602 / 15.571 / 15.586 (run 158-159): on for head dims up to 128.
    tile = _dkv_tile(group_size, d, dv, block_size, elem)
    return tile._replace(full_view=group_size == 1 or (group_size >= 16 and d > 128), addr32=d <= 128)


def _dkv_tile(group_size: int, d: int, dv: int, block_size: int, elem: int = 2) -> KVTile:
    (block_d, block_d2), block_dv = head_dim_blocks(d), max(16, next_pow2(dv))
    # Never fewer than 64 gathered (token, head) rows: H100 2026-11-22, 32 rows with 8 warps gave
    # a dk that differed run to run (Triton 3.6) at D=192 and at block 128; 64 and 128 rows were
    # bitwise stable on every shape tried.
    # H100 bf16 D=128 S=16x64 T=16k random, bench/exp_backward.py 2026-11-22 (whole backward op,
    # ms, rows x warps 64/128 x 4/8; results/h100_2026-11-22_run9_backward_sweep.log):
    #   G16: 64 x 4 10.17 (64 x 8 12.50, 128 x 8 10.74, 128 x 4 20.1);
    #   G4: 64 x 8 6.45 (128 x 8 6.48, 128 x 4 7.43, 64 x 4 7.94);
    #   G1: 128 x 8 3.03 (64 x 4 3.50, 128 x 4 3.52, 64 x 8 3.73).
    # Stages (bench/exp_tiles.py, run 10, same shapes): 2 for G16 (1: +0.5%, 3: +1.3%); 3 for
    # G4 (5.62 vs 5.76 with 2); G1 takes 3 where it fits (2.61 vs 2.67; 128 rows do not fit).
    # Other G take the nearest measured entry; wider heads keep 8 warps (accumulator registers).
    # A split head dim (D=192: 128 + 64) counts as wide: dk holds both pieces.
    wide = max(block_d + block_d2, block_dv) * block_size >= 128 * 64
    narrow = max(block_d + block_d2, block_dv) <= 128 and block_size <= 64
    # Split head dim at G16 (D=192 as 128 + 64; bench/exp_headdim.py --dkv, run 16, whole
    # backward ms): rows x warps x stages 128 x 8 x 1 11.90; 64 x 8 x 1/2/3 14.41/14.21/14.23;
    # 64 x 4 x 1 14.99; 128 x 4 x 1 35.4. All bitwise repeatable.
    # (128 rows need ~120 KiB of shared memory in 16-bit; fp32 does not fit and takes 64 rows.)
    # D=192 as 64 + 128, the narrow piece first (the pieces are column ranges in either order).
    # H100 runs 181-182 (bench/exp_d192_dkv.py, whole op, interleaved, fwd+bwd ms, 128 + 64 ->
    # 64 + 128): random 15.097 / 15.138 / 15.108 -> 14.974 / 14.975 / 14.939, local 15.959 /
    # 15.958 -> 15.772 / 15.769, gradients bitwise equal. Measured with it and lost (run 181):
    # Dv split 15.38 (2 stages 15.70), 64 + 128 with Dv split 15.56 (s2 15.91), 64 + 128 s2
    # 15.90, 64 rows 16.90; the D=192 dQ on 8 warps 16.49.
    if block_d2 and group_size >= 16 and block_size <= 64 and _kv_stages(d, dv, block_size, elem, 128, most=1):
        if (block_d, block_d2) == (128, 64):  # measured at D=192 only; other splits keep their order
            block_d, block_d2 = 64, 128
        return KVTile(128, block_d, block_dv, 8, 1, block_d2)
    if group_size > 1 and block_d == 128 and not block_d2 and block_dv <= 128 and block_size == 64 and elem == 2:
        # 128 rows on 8 warps, 2 stages, D=128 as two 64-wide pieces (head_dim_blocks' split,
        # forced) and, for Dv=128, dO / V / dv as two 64-wide pieces too. With 128 rows each
        # warpgroup computes the scores and dP of its own 64 rows (at 64 rows on 8 warps Triton
        # gives both warpgroups all of them: the chained-dot layout); per piece, the dq partial
        # product, dk, dP and dv need fewer live registers (ptxas, G4: 204 B of spills against
        # 372 without the Dv split; bench/asm_sm90.py). Each step alone lost or gained little;
        # together they win. H100 runs 110b-122 (bench/exp_csr_reduce.py --split-dkv /
        # --dkv-rows* / --dv-split*, whole op, interleaved, fwd+bwd ms):
        #   G4 16k: 64 rows s3 (the former tile) 8.07; 64 D-split s3 7.72-7.80 (s2 7.98, s4
        #     7.72-7.80); 128 s1 7.29-7.36, D-split s1 7.27, s2 6.87-6.94; 128 s2 unsplit 7.94;
        #     128 both split s2 6.39-6.41 (s1 6.66);
        #   G4 local 16k: former 8.92; 128 D-split s2 7.63;
        #   G4 64k: former 33.44; 128 D-split s2 28.66-28.82; both split 26.45;
        #   G8 16k: former 15.00; 128 D-split s2 13.00; both split 11.96;
        #   G16 16k (former: 64 rows, 4 warps, s2, 11.27-11.34): both split, 128 rows s2
        #     10.88-10.89 (s1 11.64), local 9.26 -> 8.76, 64k 50.4-50.7 -> 49.6; on 64 rows / 4
        #     warps the splits lose (D 11.67, Dv 11.64), as do 128 rows split in D alone (s1
        #     12.14, s2 11.60) or in Dv alone (11.76); 128 unsplit s2 11.25.
        # Gradients bitwise equal across all these tiles. G1 keeps its tile (128 rows, 3
        # stages, ids prefetched; D-split s2 3.93 vs 3.71).
        return KVTile(128, 64, 64 if block_dv == 128 else block_dv, 8, 2, 64,
                      block_dv2=64 if block_dv == 128 else 0)
    if group_size == 1 and narrow:
        rows, num_warps = 128, 8
    elif group_size >= 16 and narrow:
        rows, num_warps = 64, 4
    else:
        rows, num_warps = 64, 8 if wide else 4
    stages = _kv_stages(d, dv, block_size, elem, rows, most=3 if group_size < 16 and narrow else 2)
    if stages == 0 and rows > 64:
        rows, stages = 64, _kv_stages(d, dv, block_size, elem)
    return KVTile(rows, block_d, block_dv, num_warps, max(1, stages), block_d2, prefetch_ids=group_size == 1)


# Longest stretch of a block's query list one dK/dV program walks before handing the rest to
# another program (partial sums reduced in a fixed order). Block 0 is selected by every query,
# so without a cap one program would walk all Tq tokens while the others walk ~Tq*S/NB.
# ~8192 (token, head) rows per piece, at most 4096 tokens. H100 bf16 D=128 S=16x64 random,
# bench/exp_pieces.py, run 48 (whole backward op, ms; the former ~4096 rows marked *):
#   G16 16k: 128 8.98, 256* 8.69, 512 8.48, 1024 8.46, 2048 8.99;
#   G16 64k: 128 39.0, 256* 38.9, 512 36.0, 1024 36.6, 2048 36.4;
#   G4 16k: 512 5.94, 1024* 5.69, 2048 5.70, 4096 6.24; G4 64k: 1024* 24.7, 2048 24.2, 4096 24.1;
#   G1 16k: 2048 2.62, 4096* 2.67, 8192 2.84; G1 64k: 2048 11.13, 4096* 10.97, 8192 10.88.
# Other G (and D=192) follow the formula unmeasured.
# From G16 on ~16384 rows (G16: 1024 tokens; G32 and up keep 512) since the session-17 tile
# (128 rows, 8 warps, both head dims split). H100 runs 172-173 (bench/exp_csr_reduce.py
# --g16-pieces / --g16-pieces2, whole op, interleaved, fwd+bwd ms, 512 -> 1024 tokens): random
# 16k 10.459 / 10.456 / 10.545 / 10.569 -> 10.266 / 10.339 / 10.411 / 10.432 (768: 10.46; 256:
# 10.69; 2048: 10.42), 64k 47.28 / 47.14 -> 46.51 / 46.53; D=192 15.21 / 15.26 -> 14.98 / 15.03;
# local 16k 8.323 / 8.307 / 8.310 -> 8.423 / 8.282 / 8.293, local 64k 33.69 / 33.78 -> 33.97 /
# 33.99 (+0.7%), D=192 local 15.77 / 15.78 -> 15.82 / 15.83. Not for packed sequences, whose
# documents' lists are short (run 175, 8 docs of 4k, fwd+bwd ms, 512 vs 1024: random 20.08 /
# 20.07 vs 20.11 / 20.38, local 22.69 / 22.85 vs 23.21 / 23.15).
def dkv_piece_tokens(group_size: int, packed: bool = False) -> int:
    if group_size >= 16 and not packed:
        return max(512, 16384 // group_size)
    return min(4096, max(512, 8192 // max(group_size, 1)))


class KVForwardTile(NamedTuple):
    rows: int
    block_d: int
    block_dv: int
    num_warps: int
    num_stages: int
    piece_tokens: int
    # Combine shape, H100 run 23 (bench/sweep_kv.py --combine, whole KV forward, ms; elements x
    # columns): G1 16384 x 64 1.58 (8192 x all, the former shape: 2.04; 8192 x 64 1.67; 4096 x
    # 64 2.55), G4 16384 x 64 2.87 (3.02; 3.14; 4.79).
    # All 128 columns per program since H100 run 145 (bench/exp_csr_reduce.py --lean4, whole op,
    # interleaved, fwd ms, 64 -> 128 columns, 16384 elements): G4 16k 2.027 / 2.028 -> 2.002 /
    # 2.002, 64k 8.37 / 8.39 -> 8.24 / 8.25; G1 16k 1.288 -> 1.271, 64k 5.44 -> 5.36; G8 3.90
    # -> 3.86: a program no longer reads its slots' positions, keys and lse twice. (Run 144,
    # 64 columns: 32768 elements 2.11, 8192 2.37; run 145, 128 columns x 32768: 2.06.)
    combine_elems: int = 16384  # partial elements per combine program and slot step
    combine_cols: int = 128  # output columns per combine program (0: all)
    combine_warps: int = 4
    # Partials written and read once marked evict_first, so their GB-sized stream does not push
    # the q rows the gathers re-read out of L2. H100 run 33 (bench/exp_stream.py, ms, off -> on,
    # each twice, within 0.01 run to run): G4 fwd 16k 2.88 -> 2.83, 64k 11.59 -> 11.52; G1 fwd
    # 16k 1.592 -> 1.578 (fwd+bwd rows with the dK/dV flag below: G4 8.55 -> 8.47, 36.27 ->
    # 36.13; G1 4.27 -> 4.24).
    stream_partials: bool = True
    # The gather stores each row's lse partial at its entry's place in the CSR list rather than
    # under its entry id: the id is then needed only in the q loads' layout, and Triton 3.6 no
    # longer reloads it synchronously inside the loop (kernels/forward_kv.py). The combine
    # reads it through the CSR's positions. H100 runs 83/84 (bench/exp_pipeline.py --after,
    # whole op, ms; entry-indexed s5 from runs 80/82): G4 fwd 16k 2.79 -> 2.73, 64k 11.35 ->
    # 11.02; G1 (128 rows, 2 stages, where the ids stay a synchronous load) 1.58 -> 1.64:
    # there the combine's scattered lse reads cost more than the gather saves, so G1 keeps ids.
    lse_at_position: bool = True
    # Entry ids loaded a chunk ahead (kernels/forward_kv.py), G1 only. H100 run 88 (bench/
    # exp_csr_reduce.py --prefetch, whole op, ms, off -> on): G1 fwd 16k 1.441-1.444 -> 1.415;
    # G4 with it at s5 3.86 (123 KiB of shared memory: one program per SM), s3 2.71, s4 2.76
    # against 2.665 without it at s5.
    prefetch_ids: bool = False
    # The near blocks (block 0, the query's own block and the one before: kernels/csr.py) in a
    # token-tile pass instead of the gather (kernels/forward_kv.py), unpacked inputs only:
    # near_rows rows (tokens x the group padded to a power of two) per program. H100 run 91
    # (bench/exp_csr_reduce.py --near, whole op, interleaved, ms, off -> on): G4 fwd 16k 2.66
    # -> 2.55, local 2.95 -> 2.74, 64k 10.81 -> 10.19; G1 16k 1.42 -> 1.39, 64k 5.93 -> 5.65;
    # G4 fwd+bwd 16k 8.15 -> 8.03. Tile (runs 91, 93): 64 rows, 4 warps, 2 stages; 1 or 3
    # stages equal; 128 rows 2.64 (8 warps 2.61); 64 rows on 8 warps 2.76, on 2 warps 2.84;
    # 32 rows 2.85, 16 rows 2.87. Merging the gathered slots in this pass instead of the
    # combine (run 92, commit f3de89d, reverted): 3.53, its slot loop is latency-bound.
    # The gather's piece stays 1024 entries with the pass (run 95, G4 16k: 512 2.56, 256 2.64).
    near_pass: bool = True
    near_rows: int = 64
    near_warps: int = 4
    near_stages: int = 2
    # The gather's head dims in two pieces: q / K as block_d + block_d2 columns, V and the
    # output as block_dv + block_dv2 (0: one piece).
    block_d2: int = 0
    block_dv2: int = 0
    near_split: bool = False  # the near pass takes q / K in the gather's head-dim pieces
    # The gather's CSR cut into query windows of about this many q bytes per kv head, each
    # window at least the kv head's K and V bytes (window_kv_floor; forward_kv.query_windows),
    # so that programs running together share q rows in L2 (0: off). H100 run 153 (bench/
    # exp_csr_reduce.py --qwin, whole op, interleaved, ms, off -> windows; no floor): G4 fwd
    # 16k 2.000/2.002 -> 1.976/1.977 at 8 MB (2 windows), 2.041 at 4 MB (4); G8 16k 3.866 ->
    # 3.716 at 8 MB (4), 3.828 at 4 MB (8); G4 64k 8.264/8.221 -> 8.283/8.302 at 16 MB (5) and
    # 8.233/8.181 at 32 MB (3), local 8.644 -> 8.509 / 8.586. The floor keeps the winning
    # counts and caps the losing ones. Run 154 (--qwin2, FAST_DECODE on; shipped vs 0): G4 16k
    # 1.930/1.932 vs 1.959/1.963 (no floor, same 2 windows: 1.933); G4 64k (2 windows)
    # 8.041/8.011 vs 8.106/8.115, 32 MB (3) 8.006; G8 16k 3.628/3.629 vs 3.813/3.817; G4 local
    # 16k 2.103 vs 2.116; G1 16k 1.274 vs 1.273 (one window: q is smaller than K/V).
    window_q_bytes: int = 8 << 20
    window_kv_floor: bool = True


def forward_schedule(group_size: int, d: int, dv: int, block_size: int) -> str:
    """"token": one program per (token, kv head) padding the group to 16 rows;
    "kv": gather rows per selected block (kernels/forward.py, KV-centric section)."""
    # The token kernel costs per (token, kv head), the gather per (token, query head): the
    # gather wins below a group size of ~9-10. H100 bf16 D=128 S=16x64, whole op, interleaved
    # (bench/exp_schedule.py, runs 98/99, 2026-11-23; token vs kv, ms, T=16k unless stated):
    # G32 (HQ 64, H 2) 2.77 vs 5.25; G16 not re-run (session 2: 4.31 vs 12.48); G12 (48/4)
    # 3.34 vs 3.92, local 3.08 vs 4.27; G10 (40/4) 3.33 vs 3.45; G8 (64/8) 7.00 vs 4.77, local
    # 6.21 vs 5.19, T=64k 31.18 vs 19.19; G6 (48/8) 6.60 vs 4.00; G2 (32/16) 13.43 vs 2.76.
    # (Session 2's kernels had put G8 on the token side: 4.30 vs 6.45 at HQ 64 / H 4.)
    # G16 re-run with session 26's gather (run 168, bench/exp_schedule.py --g16kv, token vs kv):
    # random 16k 3.61 vs 3.53, 64k 16.33 vs 15.36, but local 16k 2.05 vs 4.18, 64k 8.33 vs
    # 16.65 (the token side's multi-token kernel shares K/V there), D=192 4.56 vs 6.15: G16
    # stays token-centric, a per-tile hybrid would be needed to take the random gain.
    return "kv" if group_size <= 8 else "token"


def forward_kv_tile(group_size: int, d: int, dv: int, block_size: int, elem: int = 2) -> KVForwardTile:
    # H100 bf16 D=128 S=16x64 T=16k random, bench/sweep_kv.py 2026-11-22 (whole KV forward, ms;
    # rows x warps x stages x piece over 64/128 x 4/8 x 1/2/3 x 1024/4096): G1 best 128 rows,
    # 4 warps, 2 stages, piece 1024: 1.65 (the former 64/8/2/4096: 2.55); G4 best 64 rows,
    # 4 warps, 3 stages, piece 1024: 3.01 (64/8/2/1024: 4.22). 8 warps lost everywhere.
    # Other G take the G4 entry; at G8 it holds (run 103, bench/exp_csr_reduce.py --g8, fwd 16k,
    # ms: shipped 4.73-4.76, piece 2048 5.04, piece 512 4.76, near rows 128 4.84, 128 rows w8
    # s3 5.31; the dK/dV tile 14.86-14.90 fwd+bwd vs 128 rows s2 14.88, s2 14.92). Large tiles
    # drop stages to fit shared memory.
    # Wider heads keep at most 2 stages (headroom for Triton's own shared-memory buffers).
    # Stages, H100 runs 80/82 (bench/exp_pipeline.py, whole op, interleaved): the q rows' loads
    # depend on entry ids loaded in the same loop, so Triton 3.6 overlaps nothing below 5 stages
    # (it waits for the next chunk's copies at once: async_wait num 0, see bench/asm_sm90.py
    # --dump); from 5 on the copies run 1-2 chunks ahead. With partials stored by list position
    # G4 fwd 16k: s3 2.82 / s5 2.73 / s6 2.72 ms, 64k: s3 11.51 / s5 10.88 (52 B of spills,
    # 91 KiB of shared memory: two programs per SM still fit).
    want_rows, want_stages = (128, 2) if group_size == 1 else (64, 5 if max(d, dv) <= 128 else 2)
    block_d, block_dv = max(16, next_pow2(d)), max(16, next_pow2(dv))
    width = (block_d + block_dv) * elem  # K/V resident, gathered q rows pipelined
    for rows in (want_rows, 64):
        for stages in range(want_stages, 0, -1):
            if block_size * width + stages * rows * width <= SMEM_BUDGET:
                tile = KVForwardTile(rows, block_d, block_dv, 4, stages, 1024, lse_at_position=group_size > 1,
                                     prefetch_ids=group_size == 1,
                                     **near_tile(block_size, block_d, block_dv, elem))
                if block_d == 128 and block_dv == 128 and block_size == 64 and elem == 2:
                    # q / K and V / the output each as two 64-wide pieces (the gather's
                    # BLOCK_D2 / BLOCK_DV2), the dK/dV tile's lesson (dkv_tile): 214 registers
                    # and no spills instead of 255 and 32 B (bench/asm_sm90.py). H100 runs
                    # 127/128 (bench/exp_csr_reduce.py --gather-split*, whole op, interleaved,
                    # fwd ms, outputs bitwise equal): G4 16k 2.55 -> 2.27 (Dv split alone 2.57,
                    # D alone 2.47), local 2.75 -> 2.43, 64k 10.24 -> 9.09; G8 4.76 -> 4.23;
                    # G1 1.387 -> 1.360. Around it (G4 16k): s6 2.27, s4 2.54, s3 2.53, s2 2.57;
                    # 128 rows on 8 warps s3 2.66, s2 2.71, on 4 warps s2 2.50; pieces 2048 2.37,
                    # 512 2.27; a register cap (maxnreg 168, 3 programs per SM) s3 2.40, and for
                    # G1 64 rows s5 1.87, s1 1.41, no id prefetch 1.38. fwd+bwd (run 129): G4 16k
                    # 6.41 -> 6.13, 64k 26.26 -> 25.14, G8 11.87 -> 11.36, G1 3.71 -> 3.69.
                    # The near pass takes the q / K pieces too for G > 1 (run 129, G4 16k fwd
                    # 2.266 / 2.268 -> 2.247 / 2.244; G1 64k 5.625 -> 5.641, so not there).
                    # Re-checked with the lean far-only loop (run 143, G4 16k, ms): shipped 2.03,
                    # s6 2.03, s4 2.35, pieces 2048 2.14 / 512 2.02 (64k 8.49 vs 8.37), 128
                    # rows on 8 warps 2.46.
                    tile = tile._replace(block_d=64, block_d2=64, block_dv=64, block_dv2=64,
                                         near_split=group_size > 1)
                return tile
    return KVForwardTile(64, block_d, block_dv, 4, 1, 1024, near_pass=False)  # too big: unsupported_reason routes to torch


def near_tile(block_size: int, block_d: int, block_dv: int, elem: int) -> dict:
    """The near pass's fields of ``KVForwardTile``: 64 rows (fewer where shared memory is short),
    K/V blocks pipelined over 2 stages where they fit; 8 warps for outputs wider than 128."""
    for rows in (64, 32, 16):
        for stages in (2, 1):
            if rows * block_d * elem + stages * block_size * (block_d + block_dv) * elem <= SMEM_BUDGET:
                return dict(near_rows=rows, near_stages=stages, near_warps=4 if block_dv <= 128 else 8)
    return dict(near_pass=False)


def dq_schedule(group_size: int, d: int, dv: int, block_size: int) -> str:
    """"token": dQ kernel per (token, kv head); "kv": the dK/dV kernel also writes per-slot dq
    partials (fp32 [B*Tq*H*S*G, D]) that a reduce kernel sums in slot order."""
    # Same bench, whole backward token-dq vs kv-dq (ms): G16 10.62 vs 13.93, G8 7.65 vs 7.18,
    # G4 11.76 vs 7.19, G1 18.61 vs 3.85. Runs 98/99 (bench/exp_schedule.py, whole fwd+bwd with
    # the shipped forward, T=16k, ms, token vs kv dQ): G32 9.91 vs 14.49, G12 11.96 vs 11.47,
    # G10 11.14 vs 10.13, G8 (kv forward) 18.78 vs 14.88, G6 16.05 vs 12.10, G2 20.54 vs 8.60.
    # G16 again with the 1024-token dK/dV pieces, H100 run 176 (exp_schedule.py --g16dq, fwd+bwd
    # ms, token vs kv): random 16k 10.55 vs 10.21, 64k 47.32 / 47.43 vs 44.62 / 44.61, but local
    # (the realistic selection, whose tiles the multi-token dQ takes) 16k 8.34 vs 9.49, 64k 33.37
    # vs 37.61; and the kv path's bf16 dq partials need 4.3 GB of scratch at 16k (17 GB at 64k)
    # and moved dq by up to 1.6e-2. G16 stays token.
    return "kv" if group_size < 16 else "token"


def dq_reduce_shape(group_size: int) -> tuple:
    """(partial elements per program and slot step, dq columns per program; 0: all) of the small-G
    dq reduce (kernels/backward.py). The forward combine's shape (``KVForwardTile``): that
    combine streams its partials at ~2.9 TB/s, the former dq reduce shape (8192 x all) at ~2.4
    (Nsight Compute, run 80b: 0.89 ms for 2.1 GB at G4 16k). H100 run 86 (bench/exp_csr_reduce.py,
    whole fwd+bwd, interleaved, ms, 8192 x all -> 16384 x 64): G4 16k 8.08 -> 8.01, G1 16k 3.95
    -> 3.89, G4 64k 33.94 -> 33.77; 16384 x 32 8.27, 32768 x 64 and 16384 x 128 within noise.
    Since run 145 (bench/exp_csr_reduce.py --lean4, the lean loops; 64 -> 128 columns, with
    the forward combine on 128 as well): G4 16k 5.59 -> 5.57, 64k 23.81 -> 23.66, G1 16k 3.300
    -> 3.275."""
    return 16384, 128


class DecodeTile(NamedTuple):
    block_s: int
    block_g: int
    block_d: int
    block_dv: int
    num_warps: int
    # Combine shape, H100 run 22 (bench/exp_decode.py, CUDA graphs, us; elements x columns):
    # 8192 x 64 best on all three TARGETS.md rows: B16 G16 27.1 (4096 x 32: 28.1, 2048 x 16:
    # 32.3, 8192 x 128: 27.7), B1 G16 11.2 (11.8 / 12.2 / 12.0), B16 G4 40.9 (42.7 / 42.9 / 41.0).
    combine_elems: int = 8192  # partial elements per combine program and slot step
    combine_cols: int = 64  # output columns per combine program


def use_split_decode(num_query_tokens: int) -> bool:
    """Split-KV decode (kernels/decode.py) for few query tokens: one program per selected slot
    fills the GPU where one per (token, kv head) would not. Chosen for Tq <= 16: decode (Tq=1)
    measured on the H100 (see notes/kernels.md); the threshold itself is a design choice."""
    return num_query_tokens <= 16


def decode_tile(group_size: int, d: int, dv: int, block_size: int, num_slots: int) -> DecodeTile:
    # One slot per program and a separate combine kernel: H100 run 17 (bench/exp_decode.py,
    # CUDA graphs) tried 2 and 4 slots per program and a combine fused into the split kernel
    # (the last program of a row merges, counted by an int ticket): none helped (B16 G16 best
    # 0.0329 vs 0.0334, within noise; fused +0.008 to +0.018 ms everywhere; B1 worse with more
    # slots per program). Results in results/h100_2026-11-22_run17_decode_variants.log; the
    # variant kernels and bench/exp_decode.py are in commit ca0bd3b. Run 25 (same method, us):
    # per-head products on the CUDA cores instead of the MMA tile padded to 16 rows lost
    # everywhere (B16 G4 92 vs 27 split kernel, best of 2/4/8 warps 62); code in commit e5a30b6.
    block_g = min(max(16, next_pow2(group_size)), _MAX_BLOCK_G)
    return DecodeTile(max(2, next_pow2(num_slots)), block_g, max(16, next_pow2(d)), max(16, next_pow2(dv)), 4)


class SharedTile(NamedTuple):
    """Multi-token forward (kernels/forward.py, ``_selection_fwd_shared_kernel``)."""

    tokens: int  # neighbouring query tokens per program (rows = tokens * padded group)
    max_union: int  # a tile takes the shared kernel when its union has at most this many blocks
    num_warps: int
    num_stages: int


def shared_tile(group_size: int, d: int, dv: int, block_size: int, num_slots: int, elem: int):
    """None when the shared schedule does not apply. Rows = 64 (4 tokens at G16, 8 at G8): the
    token-centric tile's 16 rows times 4, the K/V reuse factor for fully overlapping selections.
    max_union = 1.5 * S: a union that size costs 1.5x the token-centric MMA work but a third of
    its K/V loads (design choice; the H100 bench of the random and local selections checks it)."""
    if group_size not in (8, 16) or max(d, dv) > 128 or num_slots == 0 or num_slots > 32:
        return None
    tokens = 64 // group_size
    return SharedTile(tokens, num_slots + num_slots // 2, 4, 2)

