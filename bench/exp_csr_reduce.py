"""Session 13: the small-G scratch passes around the gathered kernels, timed as whole ops
interleaved in one process (``exp_token.op_variants``; outputs and gradients compared with the
first variant's and the output with the float64 reference):

- ``int16``: the entry CSR's sort keys in int16 where they fit (2 radix passes, not 4) or int32;
- ``dq``: the small-G dq reduce's shape (partial elements per program and slot step, columns
  per program; 0 = all): (16384, 64) is the forward combine's, (8192, 0) the former one;
- ``zeros``: dk / dv zero-filled before the reduce (the former) or left empty (unpacked inputs:
  the reduce writes every key);
- ``kv``: KV forward tile overrides (``configs.KVForwardTile`` fields);
- ``dkv``: dK/dV tile overrides (``configs.KVTile`` fields).

``--more`` (run 86b): the dK/dV tile at G4 and the dq reduce shape again. ``--prefetch`` (run 88):
the gathered loops with their entry ids loaded a chunk ahead (``prefetch_ids`` of the tiles),
which lets Triton 3.6 pipeline the q / dO copies at fewer stages (``bench/asm_sm90.py``).
``--g1`` (run 89): the shipped G1 prefetch against none. ``--near`` (session 14): the KV forward's
near pass (block 0, own and previous block in token tiles, ``KVForwardTile.near_pass``) against
the gather taking every block, and the pass's tile; ``--near3``: smaller near tiles;
``--pieces``: the gather's piece length with the near pass. ``--g8`` (session 15): the KV
forward and dK/dV tiles at G8, which inherits G4's. ``--local`` (session 16): the gather's
and the dK/dV pieces' lengths on the local selection (``dkv_piece``: ``configs.dkv_piece_tokens``);
``--dkv-pieces``: the dK/dV piece length at G4 / G8 again, twice interleaved. ``--split-dkv``
(session 17, runs 110b-112): the small-G dK/dV with D=128 as two 64-wide head-dim pieces (now
shipped at G4 / G8) against one 128-wide piece, at 2-4 stages, and the split at G1 / G16.
(Run 110, the gathered kernels walking their pieces in strided runs instead of block-row order,
used a tile field of commit 07ea34a, since reverted.) ``--dkv-rows``: 128-row dK/dV tiles on 8
warps at one stage (ptxas: G16 40 B of spills, 4 B split; bench/asm_sm90.py), split or not;
``--dkv-rows2``: the same at G4 / G8; ``--dkv-rows3``: 128 rows at two stages; ``--dkv-rows4``: the shipped G4 tile at G16 / G1;
``--dkv-pieces2``: the dK/dV piece length again with that tile; ``--dkv-more``: D=192 at 2 stages,
the G4 dq partials cached, G16 on 128 rows. ``--dv-split``: dO, V and dv in two 64-wide pieces as
well (ptxas, G4: 204 B of spills instead of 372); ``--dv-split2``: G16 on 128 rows with both dims split.
``--gather-split`` / ``--gather-split2`` (session 18, runs 127-128, against the then shipped
unsplit gather): the KV forward's gather with its head dims in 64-wide pieces, then stages, rows
and pieces around it; ``--gather-split3``: the near pass split as well, and fwd+bwd rows;
``--reuse``: the training op's entry CSR handed to the backward (``ops.reuses_csr``) or not;
``--direct``: dk / dv of single-piece block rows written by the pieces kernel (``DIRECT_DKV``) or not.
``--session19`` (run 133): the CSR's pieces in one kernel (``csr.split_pieces``) against the torch
ops, and the lse by entry id. Run 134 (``--windows``, commit 94b182b's ``csr.window_pieces``,
reverted) cut the dK/dV pieces at query-token windows and ran them window by window.
Session 20, both reverted: run 139 (``--merge``, commit 37c6619) had the near pass merge the
gathered slots itself (no combine); run 140 (``--countsort``, commits b8768df / f5e1dec) built
the entry CSR by a counting sort instead of torch.sort.
``--lean`` (session 21, run 142): the gathered loops with fewer instructions
(``forward_kv.FAR_ONLY``: no causal mask on far-only gather pieces, the scale in the exponent's
FMA, probabilities normalised before P @ V; the dK/dV chunks whose queries see the whole block
unmasked, as a second loop or with a per-chunk branch: the variant tuple's middle value 1 / 2 in
run 142, then ``backward.FULL_VIEW`` True / None = per tile (``configs.KVTile.full_view``) / False;
``backward.DQ_SCALE_IN_REDUCE``: the dq partials' scale applied once in the reduce) against the
former loops. ``--lean2`` (run 143): the gather's tile around the lean loop, and the backward
switches again, interleaved. ``--lean3`` (run 144): the gather's piece, the near pass's and
the combine's shapes around the lean gather at G4. ``--lean4`` (run 145): the combine and the
dq reduce on all 128 columns per program. Run 146 (``--lean5``, commit bd6080c,
reverted) put the online softmax's scale into the exponent's FMA (a ``POS_SCALE``
switch of the near pass and the token forward kernels): within noise everywhere (G4 fwd 16k
2.000 / 2.002 vs 1.998 / 2.003, G16 3.46 both, 64k 16.32 both, local G16 2.057 vs 2.072).
``--lean6`` (run 150): the 128-column combine with 8192 / 4096 partial elements per program.
Session 22 (no GPU that session; prepared for the next): ``--gpos``, the gather writing the
CSR's positions (``forward_kv.GATHER_POSITIONS``, no positions kernel; the combine picks its
slots by key) and the combine on 8 warps (``KVForwardTile.combine_warps``); ``--qwin``, the
gather's CSR cut into query windows (``KVForwardTile.window_q_bytes``, ``forward_kv.query_windows``)
so that the programs running together re-read one window's q rows from L2; ``--decode``, the
gathered loops' entry decode with one unsigned division (``primitives.entry_token``,
``FAST_DECODE`` of the KV forward and of the dK/dV kernel; sm_90a SASS per 64-row chunk at G4:
gather 774 -> 702, dK/dV 1080 -> 981). Session 23: runs 151 (--decode: on), 152 (--gpos:
off), 153 (--qwin); ``--qwin2`` (run 154), the windows floored at the kv head's K/V bytes;
``--addr32`` (prepared, not yet run), the gather's q row and partial offsets as unsigned 32-bit
products (``forward_kv.ADDR32``: SASS per G4 chunk 702 -> 679). Session 24: ``--addr32`` ran
(H200 run 157: on); ``--addr32-dkv``, the same for the dK/dV pieces (``backward.ADDR32``; runs 158-159: on up to
D=128, ``configs.KVTile.addr32``); ``--addr32-dkv2``, that rule against off. Session 26: ``--unordered``, the inference forward's
entry CSR by a counting sort on int atomics (``csr.UNORDERED_CSR``) against the radix sort;
``--keys``, the entry-key kernel's slots per program and warps (run 167 timed commit c18f465's
duplicate test by a loop over slots, since removed: noise); ``--g16-pieces``, the dK/dV piece length at G16 (``configs.dkv_piece_tokens``);
``--wincap`` (prepared), the query windows' int16 cap lifted (``forward_kv.WINDOWS_INT16_CAP``).

    python bench/exp_csr_reduce.py [filter ...]
"""
from __future__ import annotations

import os
import sys

from nsa_ops.kernels import backward as bwd
from nsa_ops.kernels import csr
from nsa_ops import ops
from nsa_ops.kernels import forward_kv as fkv

sys.path.insert(0, os.path.dirname(__file__))
from exp_token import run_op_variants  # noqa: E402

REAL = dict(int16=csr.INT16_KEYS, dq=bwd.dq_reduce_shape, launch=bwd.selection_backward, kv=fkv.forward_kv_tile,
            dkv=bwd.dkv_tile, dkv_piece=bwd.dkv_piece_tokens, reuse=ops.reuses_csr)
OLD = dict(int16=False, dq=(8192, 0), zeros=True)
REAL_GPOS = fkv.GATHER_POSITIONS
REAL_DECODE = (fkv.FAST_DECODE, bwd.FAST_DECODE)
REAL_ADDR32 = fkv.ADDR32
REAL_DKV_ADDR32 = bwd.ADDR32
REAL_UNORDERED = csr.UNORDERED_CSR
REAL_WINCAP = fkv.WINDOWS_INT16_CAP
REAL_KEYS = (csr.ENTRY_KEYS_ELEMS, csr.ENTRY_KEYS_WARPS)
LEAN = (fkv.FAR_ONLY, bwd.FULL_VIEW, bwd.DQ_SCALE_IN_REDUCE)


def reset() -> None:
    csr.INT16_KEYS = REAL["int16"]
    bwd.dq_reduce_shape, bwd.selection_backward = REAL["dq"], REAL["launch"]
    fkv.forward_kv_tile, bwd.dkv_tile = REAL["kv"], REAL["dkv"]
    bwd.dkv_piece_tokens = REAL["dkv_piece"]
    ops.reuses_csr = REAL["reuse"]
    bwd.DIRECT_DKV = True
    csr.FUSED_PIECES = True
    fkv.FAR_ONLY, bwd.FULL_VIEW, bwd.DQ_SCALE_IN_REDUCE = LEAN
    fkv.GATHER_POSITIONS = REAL_GPOS
    fkv.FAST_DECODE, bwd.FAST_DECODE = REAL_DECODE
    fkv.ADDR32 = REAL_ADDR32
    bwd.ADDR32 = REAL_DKV_ADDR32
    csr.UNORDERED_CSR = REAL_UNORDERED
    fkv.WINDOWS_INT16_CAP = REAL_WINCAP
    csr.ENTRY_KEYS_ELEMS, csr.ENTRY_KEYS_WARPS = REAL_KEYS


def apply(variant: dict) -> str:
    reset()
    if "int16" in variant:
        csr.INT16_KEYS = variant["int16"]
    if "dq" in variant:
        bwd.dq_reduce_shape = lambda G, shape=variant["dq"]: shape
    if variant.get("zeros"):
        bwd.selection_backward = lambda *a, **k: REAL["launch"](*a, **{**k, "packed": True})
    if "kv" in variant:
        fkv.forward_kv_tile = lambda *a, **k: REAL["kv"](*a, **k)._replace(**variant["kv"])
    if "dkv_piece" in variant:
        bwd.dkv_piece_tokens = lambda G, packed=False, n=variant["dkv_piece"]: n
    if "direct" in variant:  # session 18: single-piece rows' dk / dv written by the pieces kernel
        bwd.DIRECT_DKV = variant["direct"]
    if "fused_pieces" in variant:  # session 19: the pieces of a CSR in one kernel (csr.split_pieces)
        csr.FUSED_PIECES = variant["fused_pieces"]
    if "reuse" in variant:  # session 18: the forward's entry CSR handed to the backward (ops.reuses_csr)
        ops.reuses_csr = (lambda *a, **k: False) if not variant["reuse"] else REAL["reuse"]
    if "lean" in variant:  # session 21: (fkv.FAR_ONLY, bwd.FULL_VIEW, bwd.DQ_SCALE_IN_REDUCE)
        fkv.FAR_ONLY, bwd.FULL_VIEW, bwd.DQ_SCALE_IN_REDUCE = variant["lean"]
    if "gpos" in variant:  # session 22: the gather writes the CSR's positions (fkv.GATHER_POSITIONS)
        fkv.GATHER_POSITIONS = variant["gpos"]
    if "decode" in variant:  # session 22: (fkv.FAST_DECODE, bwd.FAST_DECODE), primitives.entry_token
        fkv.FAST_DECODE, bwd.FAST_DECODE = variant["decode"]
    if "addr32" in variant:  # session 23: the gather's offsets as unsigned 32-bit products (fkv.ADDR32)
        fkv.ADDR32 = variant["addr32"]
    if "addr32_dkv" in variant:  # session 24: the dK/dV pieces' offsets as unsigned 32-bit products (bwd.ADDR32)
        bwd.ADDR32 = variant["addr32_dkv"]
    if "unordered" in variant:  # session 26: the inference CSR by int atomics (csr.UNORDERED_CSR)
        csr.UNORDERED_CSR = variant["unordered"]
    if "wincap" in variant:  # session 26: the windows' int16 cap (fkv.WINDOWS_INT16_CAP)
        fkv.WINDOWS_INT16_CAP = variant["wincap"]
    if "keys" in variant:  # session 26: the entry-key kernel's (slots per program, warps)
        csr.ENTRY_KEYS_ELEMS, csr.ENTRY_KEYS_WARPS = variant["keys"]
    if "dkv" in variant:
        bwd.dkv_tile = lambda *a, **k: REAL["dkv"](*a, **k)._replace(**variant["dkv"])
    return " ".join(f"{n}={v}" for n, v in variant.items()) or "shipped"


def runs_for(mode: str) -> list:
    new = {}
    if mode == "--near":
        off = {"kv": dict(near_pass=False)}
        nk = lambda **k: {"kv": dict(**k)}  # noqa: E731
        return [(("fwd G4 T=16k", "random"), [new, off, nk(near_stages=1), nk(near_stages=3), nk(near_rows=128),
                                              nk(near_warps=8), new, off]),
                (("fwd G4 T=16k", "local"), [new, off]),
                (("fwd G1 T=16k", "random"), [new, off, nk(near_rows=128), new, off]),
                (("fwd G4 T=64k", "random"), [new, off]), (("fwd G1 T=64k", "random"), [new, off]),
                (("fwd+bwd G4 T=16k", "random"), [new, off])]
    if mode == "--near3":  # smaller near tiles (more programs per SM)
        nk = lambda **k: {"kv": dict(**k)}  # noqa: E731
        return [(("fwd G4 T=16k", "random"), [new, nk(near_rows=32), nk(near_rows=32, near_stages=1),
                                              nk(near_rows=16), nk(near_stages=1, near_warps=2), new, nk(near_rows=32)]),
                (("fwd G1 T=16k", "random"), [new, nk(near_rows=32), nk(near_rows=32, near_stages=1), new]),
                (("fwd G4 T=64k", "random"), [new, nk(near_rows=32)])]
    if mode == "--pieces":  # the gather's piece length, now that block 0 left its lists
        nk = lambda **k: {"kv": dict(**k)}  # noqa: E731
        return [(("fwd G4 T=16k", "random"), [new, nk(piece_tokens=512), nk(piece_tokens=256), new,
                                              nk(piece_tokens=512)]),
                (("fwd G1 T=16k", "random"), [new, nk(piece_tokens=512), new]),
                (("fwd G4 T=64k", "random"), [new, nk(piece_tokens=512)])]
    if mode == "--local":  # session 16: the gathered kernels are 11-13% slower on local (run 108)
        kv = lambda **k: {"kv": dict(**k)}  # noqa: E731
        return [(("fwd G4 T=16k", "local"), [new, kv(piece_tokens=512), kv(piece_tokens=256), new]),
                (("fwd G4 T=16k", "random"), [new, kv(piece_tokens=512)]),
                (("fwd+bwd G4 T=16k", "local"), [new, {"dkv_piece": 1024}, {"dkv_piece": 512}, new]),
                (("fwd+bwd G4 T=16k", "random"), [new, {"dkv_piece": 1024}])]
    if mode == "--dkv-pieces":  # session 16: G4's dK/dV pieces of 1024 tokens gained ~1% in --local
        return [(("fwd+bwd G4 T=16k", "random"), [new, {"dkv_piece": 1024}, new, {"dkv_piece": 1024}]),
                (("fwd+bwd G4 T=64k", "random"), [new, {"dkv_piece": 1024}, new, {"dkv_piece": 1024}]),
                (("fwd+bwd G8 T=16k", "random"), [new, {"dkv_piece": 512}, new]),
                (("fwd+bwd G4 T=16k", "local"), [new, {"dkv_piece": 1024}])]
    if mode == "--split-dkv":  # session 17 (runs 110b-112): D=128 as 64 + 64 in the small-G dK/dV
        whole = lambda s: {"dkv": dict(block_d=128, block_d2=0, num_stages=s)}  # noqa: E731  # the former tile
        split = lambda s, **k: {"dkv": dict(block_d=64, block_d2=64, num_stages=s, **k)}  # noqa: E731
        return [(("fwd+bwd G4 T=16k", "random"), [whole(3), new, split(2), split(4), whole(3), new]),
                (("fwd+bwd G4 T=16k", "local"), [whole(3), new]),
                (("fwd+bwd G4 T=64k", "random"), [whole(3), new, split(2), split(4), whole(3)]),
                (("fwd+bwd G8 T=16k", "random"), [whole(3), new, split(2), split(4), whole(3)]),
                (("fwd+bwd G1 T=16k", "random"), [new, split(2), new]),
                (("fwd+bwd G16 T=16k", "random"), [new, split(2), split(2, num_warps=8), new])]
    if mode == "--g8":  # session 15: G8 took the KV forward and G4's tiles; are they right there?
        kv = lambda **k: {"kv": dict(**k)}  # noqa: E731
        dkv = lambda **k: {"dkv": dict(**k)}  # noqa: E731
        return [(("fwd G8 T=16k", "random"), [new, kv(piece_tokens=2048), kv(piece_tokens=512), kv(near_rows=128),
                                              kv(rows=128, num_warps=8, num_stages=3), new]),
                (("fwd+bwd G8 T=16k", "random"), [new, dkv(rows=128, num_stages=2), dkv(num_stages=2), new])]
    if mode == "--dkv-rows":  # session 17: 128-row dK/dV tiles (no S / dP copy per warpgroup), split or not
        t = lambda rows, d, s, w=8: {"dkv": dict(rows=rows, block_d=d, block_d2=128 - d, num_stages=s,  # noqa: E731
                                                 num_warps=w)}
        return [(("fwd+bwd G16 T=16k", "random"), [new, t(128, 128, 1), t(128, 64, 1), t(64, 64, 2), new,
                                                   t(128, 64, 1)]),
                (("fwd+bwd G4 T=16k", "random"), [new, t(128, 64, 1), t(128, 128, 1), new]),
                (("fwd+bwd G1 T=16k", "random"), [new, t(128, 64, 1), new]),
                (("fwd+bwd G16 T=64k", "random"), [new, t(128, 64, 1), new])]
    if mode == "--dkv-rows2":  # 128-row dK/dV tiles at G4 / G8
        t = lambda rows, d, s, w=8: {"dkv": dict(rows=rows, block_d=d, block_d2=128 - d, num_stages=s,  # noqa: E731
                                                 num_warps=w)}
        return [(("fwd+bwd G4 T=16k", "random"), [new, t(128, 64, 1), t(128, 128, 1), t(128, 64, 2), new,
                                                  t(128, 64, 1), t(128, 128, 1)]),
                (("fwd+bwd G4 T=16k", "local"), [new, t(128, 64, 1), t(128, 128, 1)]),
                (("fwd+bwd G4 T=64k", "random"), [new, t(128, 64, 1), t(128, 128, 1), new]),
                (("fwd+bwd G8 T=16k", "random"), [new, t(128, 64, 1), t(128, 128, 1), new])]
    if mode == "--dkv-rows3":  # 128 rows at two stages, G4 / G8
        t = lambda rows, d, s, w=8: {"dkv": dict(rows=rows, block_d=d, block_d2=128 - d, num_stages=s,  # noqa: E731
                                                 num_warps=w)}
        return [(("fwd+bwd G4 T=16k", "random"), [new, t(128, 64, 2), t(128, 128, 2), t(128, 64, 1), new,
                                                  t(128, 64, 2)]),
                (("fwd+bwd G4 T=16k", "local"), [new, t(128, 64, 2), t(128, 128, 2)]),
                (("fwd+bwd G4 T=64k", "random"), [new, t(128, 64, 2), t(128, 128, 2), t(128, 64, 1), new]),
                (("fwd+bwd G8 T=16k", "random"), [new, t(128, 64, 2), t(128, 128, 2), t(128, 64, 1), new])]
    if mode == "--dkv-rows4":  # the 128-row split tile at G16 / G1
        t = lambda rows, d, s, w=8, **k: {"dkv": dict(rows=rows, block_d=d, block_d2=128 - d,  # noqa: E731
                                                      num_stages=s, num_warps=w, **k)}
        return [(("fwd+bwd G16 T=16k", "random"), [new, t(128, 64, 2), t(128, 128, 2), new]),
                (("fwd+bwd G1 T=16k", "random"), [new, t(128, 64, 2, prefetch_ids=False), t(128, 64, 1), new]),
                (("fwd+bwd G4 T=16k", "random"), [new, t(128, 64, 2, prefetch_ids=True), new])]
    if mode == "--dkv-pieces2":  # the dK/dV piece length with the 128-row split tile (G4: 2048, G8: 1024)
        return [(("fwd+bwd G4 T=16k", "random"), [new, {"dkv_piece": 1024}, {"dkv_piece": 4096}, new]),
                (("fwd+bwd G4 T=64k", "random"), [new, {"dkv_piece": 1024}, {"dkv_piece": 4096}, new]),
                (("fwd+bwd G8 T=16k", "random"), [new, {"dkv_piece": 512}, {"dkv_piece": 2048}, new])]
    if mode == "--dkv-more":  # D=192 at 2 stages; the new G4 tile with cached dq partials
        return [(("fwd+bwd G16 D=192 T=16k", "random"), [new, {"dkv": dict(num_stages=2)}, new]),
                (("fwd+bwd G4 T=16k", "random"), [new, {"dkv": dict(stream_partials=False)}, new]),
                (("fwd+bwd G16 T=16k", "random"), [new, {"dkv": dict(rows=128, num_warps=8)}, new])]
    if mode == "--dv-split":  # session 17: dO / V / dv in two 64-wide pieces too (KVTile.block_dv2)
        dv = lambda **k: {"dkv": dict(block_dv=64, block_dv2=64, **k)}  # noqa: E731
        return [(("fwd+bwd G4 T=16k", "random"), [new, dv(), new, dv()]),
                (("fwd+bwd G4 T=64k", "random"), [new, dv(), new]),
                (("fwd+bwd G8 T=16k", "random"), [new, dv(), new]),
                (("fwd+bwd G16 T=16k", "random"), [new, dv(), dv(rows=128, num_warps=8, block_d=64, block_d2=64),
                                                   dv(rows=128, num_warps=8), new]),
                (("fwd+bwd G16 D=192 T=16k", "random"), [new, dv(), new])]
    if mode == "--dv-split2":  # G16 on 128 rows with both dims split; stages
        both = lambda **k: {"dkv": dict(rows=128, num_warps=8, block_d=64, block_d2=64, block_dv=64,  # noqa: E731
                                        block_dv2=64, **k)}
        return [(("fwd+bwd G16 T=16k", "random"), [new, both(num_stages=2), both(num_stages=1), new, both(num_stages=2)]),
                (("fwd+bwd G16 T=16k", "local"), [new, both(num_stages=2)]),
                (("fwd+bwd G16 T=64k", "random"), [new, both(num_stages=2), new]),
                (("fwd+bwd G4 T=16k", "random"), [both(num_stages=2), both(num_stages=1), both(num_stages=2)])]
    if mode == "--gather-split":  # session 18: the gather's head dims in pieces; register caps
        kv = lambda **k: {"kv": dict(**k)}  # noqa: E731
        dv = dict(block_dv=64, block_dv2=64)
        both = dict(block_d=64, block_d2=64, **dv)
        # Run 127 also capped the gather's registers (a KVForwardTile.maxnreg passed to the launch,
        # removed after): s3 maxnreg 168 2.78 / split 2.40, s1 maxnreg 128 2.71, 64k split 9.54.
        return [(("fwd G4 T=16k", "random"), [new, kv(**dv), kv(**both), kv(num_stages=4, **both), new, kv(**both)]),
                (("fwd G4 T=64k", "random"), [new, kv(**both)]),
                (("fwd G1 T=16k", "random"), [new, kv(**dv), kv(**both), kv(num_stages=3, **both), new])]
    if mode == "--gather-split2":  # around the split gather: stages, rows, pieces; G8, G1
        kv = lambda **k: {"kv": dict(**k)}  # noqa: E731
        both = lambda **k: kv(block_d=64, block_d2=64, block_dv=64, block_dv2=64, **k)  # noqa: E731
        return [(("fwd G4 T=16k", "random"), [both(), both(num_stages=6), both(num_stages=3), both(num_stages=2),
                                               both(rows=128, num_warps=8, num_stages=3),
                                               both(rows=128, num_warps=8, num_stages=2),
                                               both(rows=128, num_stages=2), kv(block_d=64, block_d2=64),
                                               both(piece_tokens=2048), both(piece_tokens=512), both()]),
                (("fwd G4 T=16k", "local"), [new, both()]),
                (("fwd G8 T=16k", "random"), [new, both(), both(rows=128, num_warps=8, num_stages=3)]),
                (("fwd G1 T=16k", "random"), [both(), both(prefetch_ids=False), both(rows=64, num_stages=5),
                                               both(num_stages=1), both()])]
    if mode == "--gather-split3":  # the near pass split too; fwd+bwd against the former gather tile
        kv = lambda **k: {"kv": dict(**k)}  # noqa: E731
        former = kv(block_d=128, block_d2=0, block_dv=128, block_dv2=0)
        return [(("fwd G4 T=16k", "random"), [new, kv(near_split=True), former, new, kv(near_split=True)]),
                (("fwd+bwd G4 T=16k", "random"), [former, new, former, new]),
                (("fwd+bwd G4 T=64k", "random"), [former, new]),
                (("fwd+bwd G8 T=16k", "random"), [former, new]),
                (("fwd+bwd G1 T=16k", "random"), [former, new]),
                (("fwd G1 T=64k", "random"), [former, new, kv(near_split=True)])]
    if mode == "--session19":  # the pieces kernel against the torch ops; lse by entry id
        # Run 133 also ran the near pass on a side stream from the entry keys on (a switch of
        # forward_kv, removed after): G4 fwd 16k 2.204 / 2.213 against 2.203 / 2.214 shipped.
        torch_pieces = {"fused_pieces": False}
        by_id = {"kv": dict(lse_at_position=False)}
        return [(("fwd G4 T=16k", "random"), [torch_pieces, new, by_id, torch_pieces, new, by_id]),
                (("fwd+bwd G4 T=16k", "random"), [torch_pieces, new, torch_pieces, new]),
                (("fwd G4 T=64k", "random"), [torch_pieces, new, by_id]),
                (("fwd+bwd G4 T=64k", "random"), [torch_pieces, new]),
                (("fwd G1 T=16k", "random"), [torch_pieces, new]),
                (("fwd+bwd G1 T=16k", "random"), [torch_pieces, new]),
                (("fwd G8 T=16k", "random"), [torch_pieces, new, by_id]),
                (("fwd+bwd G16 T=16k", "random"), [torch_pieces, new])]
    if mode == "--gpos":  # session 22: positions written by the gather; the combine on 8 warps
        off, new = {"gpos": False}, {"gpos": True}
        w8, w8e = {"kv": dict(combine_warps=8)}, {"kv": dict(combine_warps=8, combine_elems=32768)}
        return [(("fwd G4 T=16k", "random"), [off, new, w8, w8e, off, new, w8, w8e]),
                (("fwd G4 T=64k", "random"), [off, new, w8, off, new, w8]),
                (("fwd G1 T=16k", "random"), [off, new, w8]),
                (("fwd G8 T=16k", "random"), [off, new, w8]),
                (("fwd+bwd G4 T=16k", "random"), [off, new, off, new]),
                (("fwd+bwd G4 T=64k", "random"), [off, new])]
    if mode == "--decode":  # session 22: the gathered loops' entry decode with one unsigned division
        off, on, fwd_only = {"decode": (False, False)}, {"decode": (True, True)}, {"decode": (True, False)}
        return [(("fwd G4 T=16k", "random"), [off, on, off, on]),
                (("fwd G4 T=64k", "random"), [off, on, off, on]),
                (("fwd G1 T=16k", "random"), [off, on, off, on]),
                (("fwd G8 T=16k", "random"), [off, on]),
                (("fwd+bwd G4 T=16k", "random"), [off, on, fwd_only, off, on]),
                (("fwd+bwd G4 T=64k", "random"), [off, on, fwd_only]),
                (("fwd+bwd G1 T=16k", "random"), [off, on, fwd_only]),
                (("fwd+bwd G16 T=16k", "random"), [off, on]),
                (("fwd+bwd G16 D=192 T=16k", "random"), [off, on])]
    if mode == "--addr32":  # session 23: the gather's q row / partial offsets by primitives.wide_u32
        off, on = {"addr32": False}, {"addr32": True}
        return [(("fwd G4 T=16k", "random"), [off, on, off, on]),
                (("fwd G4 T=64k", "random"), [off, on, off, on]),
                (("fwd G1 T=16k", "random"), [off, on, off, on]),
                (("fwd G1 T=64k", "random"), [off, on]),
                (("fwd G8 T=16k", "random"), [off, on, off, on]),
                (("fwd+bwd G4 T=16k", "random"), [off, on]),
                (("fwd+bwd G4 T=64k", "random"), [off, on])]
    if mode == "--addr32-dkv":  # session 24: the dK/dV pieces' offsets by primitives.wide_u32
        off, on = {"addr32_dkv": False}, {"addr32_dkv": True}
        return [(("fwd+bwd G4 T=16k", "random"), [off, on, off, on]),
                (("fwd+bwd G16 T=16k", "random"), [off, on, off, on]),
                (("fwd+bwd G1 T=16k", "random"), [off, on]),
                (("fwd+bwd G16 D=192 T=16k", "random"), [off, on])]
    if mode == "--unordered":  # session 26: the inference CSR by int atomics against the radix sort
        off = {"unordered": False}
        return [(("fwd G4 T=64k", "random"), [new, off, new, off]),
                (("fwd G4 T=16k", "random"), [new, off, new, off]),
                (("fwd G1 T=64k", "random"), [new, off]),
                (("fwd G1 T=16k", "random"), [new, off, new, off]),
                (("fwd G8 T=16k", "random"), [new, off]),
                (("fwd G4 T=16k", "local"), [new, off]),
                (("fwd+bwd G4 T=16k", "random"), [new, off])]
    if mode == "--keys":  # session 26: the entry-key kernel's shape (run 167 also timed commit c18f465's
        # duplicate loop, since removed: within noise)
        k512, k1024 = {"keys": (512, 4)}, {"keys": (1024, 8)}
        return [(("fwd G4 T=64k", "random"), [new, k512, k1024, new, k512, k1024]),
                (("fwd G4 T=16k", "random"), [new, k512, k1024, new, k512, k1024]),
                (("fwd G1 T=16k", "random"), [new, k512, new, k512])]
    if mode == "--g16-pieces":  # session 26: the dK/dV piece length at G16 with today's tile (shipped 512)
        p = lambda n: {"dkv_piece": n}  # noqa: E731
        return [(("fwd+bwd G16 T=16k", "random"), [new, p(256), p(1024), p(2048), new, p(256), p(1024)]),
                (("fwd+bwd G16 T=64k", "random"), [new, p(256), p(1024), new, p(1024)]),
                (("fwd+bwd G16 T=16k", "local"), [new, p(256), p(1024)]),
                (("fwd+bwd G16 D=192 T=16k", "random"), [new, p(256), p(1024)])]
    if mode == "--g16-pieces2":  # run 172's 1024 again, local rows and 768
        p = lambda n: {"dkv_piece": n}  # noqa: E731
        return [(("fwd+bwd G16 T=16k", "local"), [new, p(1024), p(768), new, p(1024), p(768)]),
                (("fwd+bwd G16 T=64k", "local"), [new, p(1024), new, p(1024)]),
                (("fwd+bwd G16 T=16k", "random"), [new, p(1024), p(768), new, p(1024), p(768)]),
                (("fwd+bwd G16 D=192 T=16k", "local"), [new, p(1024), new, p(1024)]),
                (("fwd+bwd G16 D=192 T=16k", "random"), [new, p(1024), p(768)])]
    if mode == "--g16-pieces3":  # the packed rows (bench run 174: 19.97 vs 19.31 in run 169)
        p = lambda n: {"dkv_piece": n}  # noqa: E731
        return [(("fwd+bwd varlen 8 docs 32k G16", "random"), [p(512), p(1024), p(512), p(1024)]),
                (("fwd+bwd varlen 8 docs 32k G16", "local"), [p(512), p(1024), p(512), p(1024)])]
    if mode == "--wincap":  # session 26 (prepared): the windows' int16 cap lifted (G8 64k: 3 -> 4 windows)
        from nsa_ops import bench as nb

        base = nb.cuda_cases
        nb.cuda_cases = lambda: base() + [nb.Case("fwd G8 T=64k", "fwd", 1, 65536, 65536, 64, 8)]
        off = {"wincap": False}
        return [(("fwd G8 T=64k", "random"), [new, off, new, off]),
                (("fwd G8 T=64k", "local"), [new, off]),
                (("fwd G4 T=64k", "random"), [new, off])]
    if mode == "--addr32-dkv2":  # session 24: the shipped rule (configs.KVTile.addr32: D <= 128) against off
        off = {"addr32_dkv": False}
        return [(("fwd+bwd G16 T=16k", "random"), [new, off, new, off]),
                (("fwd+bwd G4 T=16k", "random"), [new, off, new, off]),
                (("fwd+bwd G16 D=192 T=16k", "random"), [new, off]),
                (("fwd+bwd G16 T=64k", "random"), [new, off]),
                (("fwd+bwd G4 T=64k", "random"), [new, off])]
    if mode == "--qwin2":  # session 23: windows with the K/V floor (shipped: 8 MB) against none, no floor, 32 MB
        off, nofloor, w32 = ({"kv": dict(window_q_bytes=0)}, {"kv": dict(window_kv_floor=False)},
                             {"kv": dict(window_q_bytes=32 << 20)})
        return [(("fwd G4 T=16k", "random"), [new, off, nofloor, new, off]),
                (("fwd G4 T=64k", "random"), [new, off, w32, new, off]),
                (("fwd G8 T=16k", "random"), [new, off, new, off]),
                (("fwd G4 T=16k", "local"), [new, off]),
                (("fwd G1 T=16k", "random"), [new, off])]
    if mode == "--qwin":  # session 22: the gather's CSR cut into query windows (KVForwardTile.window_q_bytes)
        win = lambda mb, **k: {"kv": dict(window_q_bytes=mb << 20), **k}  # noqa: E731
        off = {"gpos": False}
        # Windows are capped where the keys would leave int16: 3 at G4 64k, 1 at G1 64k (none).
        return [(("fwd G4 T=64k", "random"), [off, win(16), win(32), win(16, gpos=True), off, win(16), win(32),
                                              win(16, gpos=True)]),
                (("fwd G4 T=16k", "random"), [off, win(8), win(4), win(8, gpos=True), off, win(8), win(4)]),
                (("fwd G4 T=64k", "local"), [off, win(16), win(32)]),
                (("fwd G8 T=16k", "random"), [off, win(8), win(4), off])]
    if mode == "--lean6":  # run 150: the 128-column combine with fewer elements per program
        e8, e4 = {"kv": dict(combine_elems=8192)}, {"kv": dict(combine_elems=4096)}
        return [(("fwd G4 T=16k", "random"), [new, e8, e4, new, e8, e4]),
                (("fwd G4 T=64k", "random"), [new, e8, new, e8]),
                (("fwd G1 T=16k", "random"), [new, e8, new, e8]),
                (("fwd G8 T=16k", "random"), [new, e8])]
    if mode == "--lean4":  # run 145: the combine (and the dq reduce) on all 128 columns
        c128, c128b = {"kv": dict(combine_cols=128)}, {"kv": dict(combine_cols=128, combine_elems=32768)}
        d128 = {"dq": (16384, 128)}
        return [(("fwd G4 T=16k", "random"), [new, c128, c128b, new, c128, c128b]),
                (("fwd G4 T=64k", "random"), [new, c128, new, c128]),
                (("fwd G1 T=16k", "random"), [new, c128, new, c128]),
                (("fwd G1 T=64k", "random"), [new, c128]),
                (("fwd G8 T=16k", "random"), [new, c128]),
                (("fwd+bwd G4 T=16k", "random"), [new, c128, d128, {**c128, **d128}, new]),
                (("fwd+bwd G4 T=64k", "random"), [new, c128, {**c128, **d128}]),
                (("fwd+bwd G1 T=16k", "random"), [new, c128, {**c128, **d128}])]
    if mode == "--lean3":  # run 144: the passes around the lean gather at G4
        kv = lambda **k: {"kv": k}  # noqa: E731
        return [(("fwd G4 T=16k", "random"), [new, kv(piece_tokens=512), kv(near_stages=1), kv(near_stages=3),
                                              kv(near_rows=128, near_warps=8), kv(combine_elems=32768),
                                              kv(combine_elems=8192), kv(combine_cols=128), new,
                                              kv(piece_tokens=512)]),
                (("fwd G4 T=64k", "random"), [new, kv(piece_tokens=512), new, kv(piece_tokens=512)]),
                (("fwd G8 T=16k", "random"), [new, kv(piece_tokens=512)]),
                (("fwd+bwd G4 T=64k", "random"), [new, kv(piece_tokens=512)])]
    if mode == "--lean2":  # run 143
        kv = lambda **k: {"kv": k}  # noqa: E731
        off, on, noscale = {"lean": (True, False, True)}, {"lean": (True, True, True)}, {"lean": (True, None, False)}
        return [(("fwd G4 T=16k", "random"), [new, kv(num_stages=6), kv(num_stages=4), kv(piece_tokens=2048),
                                              kv(piece_tokens=512), kv(lse_at_position=False),
                                              kv(rows=128, num_warps=8, num_stages=3), new, kv(num_stages=6)]),
                (("fwd G4 T=64k", "random"), [new, kv(num_stages=6), kv(num_stages=4), kv(piece_tokens=2048), new]),
                (("fwd G8 T=16k", "random"), [new, kv(num_stages=6), kv(num_stages=4)]),
                (("fwd G1 T=16k", "random"), [new, kv(prefetch_ids=False), kv(num_stages=3), new]),
                (("fwd+bwd G4 T=16k", "random"), [new, on, noscale, new, on, noscale]),
                (("fwd+bwd G4 T=64k", "random"), [new, noscale, new]),
                (("fwd+bwd G1 T=16k", "random"), [new, off, noscale, new, off]),
                (("fwd+bwd G16 T=16k", "random"), [new, off, new, off]),
                (("fwd+bwd G16 D=192 T=16k", "random"), [new, off, new, off]),
                (("fwd+bwd G16 T=64k", "random"), [new, off])]
    if mode == "--lean":  # session 21 (run 142; FAR_SPLIT then took 0 / 1 / 2)
        old, fwd, dqs, two = ({"lean": (False, 0, False)}, {"lean": (True, 0, False)}, {"lean": (True, 0, True)},
                              {"lean": (True, 1, True)})
        return [(("fwd G4 T=16k", "random"), [old, new, old, new]),
                (("fwd+bwd G4 T=16k", "random"), [old, fwd, dqs, new, two, old, new]),
                (("fwd+bwd G4 T=64k", "random"), [old, dqs, new, two]),
                (("fwd G4 T=64k", "random"), [old, new]),
                (("fwd G1 T=16k", "random"), [old, new]),
                (("fwd+bwd G1 T=16k", "random"), [old, dqs, new, two]),
                (("fwd+bwd G1 T=64k", "random"), [old, new]),
                (("fwd G8 T=16k", "random"), [old, new]),
                (("fwd+bwd G8 T=16k", "random"), [old, new]),
                (("fwd+bwd G16 T=16k", "random"), [old, new, two]),
                (("fwd+bwd G16 D=192 T=16k", "random"), [old, new]),
                (("fwd+bwd G4 T=16k", "local"), [old, new])]
    if mode == "--direct":  # DIRECT_DKV off / on
        off = {"direct": False}
        return [(("fwd+bwd G4 T=16k", "random"), [off, new, off, new]),
                (("fwd+bwd G4 T=64k", "random"), [off, new]),
                (("fwd+bwd G16 T=16k", "random"), [off, new]),
                (("fwd+bwd G1 T=16k", "random"), [off, new])]
    if mode == "--reuse":  # the training op's entry CSR handed to the backward, off / on
        off = {"reuse": False}
        return [(("fwd+bwd G4 T=16k", "random"), [off, new, off, new]),
                (("fwd+bwd G4 T=64k", "random"), [off, new]),
                (("fwd+bwd G4 T=16k", "local"), [off, new]),
                (("fwd+bwd G1 T=16k", "random"), [off, new]),
                (("fwd+bwd G1 T=64k", "random"), [off, new]),
                (("fwd+bwd G8 T=16k", "random"), [off, new])]
    if mode == "--g1":  # run 89: the shipped G1 prefetch against none, interleaved
        off = {"kv": dict(prefetch_ids=False), "dkv": dict(prefetch_ids=False)}
        return [(("fwd G1 T=16k", "random"), [new, off, new, off]),
                (("fwd+bwd G1 T=16k", "random"), [new, off, new, off]),
                (("fwd G1 T=64k", "random"), [new, off]), (("fwd+bwd G1 T=64k", "random"), [new, off])]
    if mode == "--prefetch":  # run 88
        kv = lambda **k: {"kv": dict(prefetch_ids=True, **k)}  # noqa: E731
        dkv = lambda **k: {"dkv": dict(prefetch_ids=True, **k)}  # noqa: E731
        return [(("fwd G4 T=16k", "random"), [new, kv(), kv(num_stages=3), kv(num_stages=4), new]),
                (("fwd G1 T=16k", "random"), [new, kv(), new]),
                (("fwd+bwd G4 T=16k", "random"), [new, dkv(), dkv(num_stages=2), new, dkv()]),
                (("fwd+bwd G16 T=16k", "random"), [new, dkv(), dkv(num_stages=3), dkv(num_stages=3, num_warps=8),
                                                   new]),
                (("fwd+bwd G1 T=16k", "random"), [new, dkv(), new]),
                (("fwd+bwd G4 T=64k", "random"), [new, dkv()])]
    if mode == "--more":  # run 86b
        dq = {"dq": (32768, 64)}
        return [(("fwd+bwd G4 T=16k", "random"), [new, {"dkv": dict(num_warps=4, num_stages=2)},
                                                  {"dkv": dict(rows=128, num_stages=2)}, dq, new, dq]),
                (("fwd+bwd G1 T=16k", "random"), [dq, new, dq])]
    # run 86 (the variants then shipped as "new" are the defaults now)
    fwd = [OLD, new, {"int16": False}, OLD, new]
    both = [OLD, new, {"dq": (8192, 0)}, {"zeros": True}, {"int16": False}, OLD, new]
    dq_shapes = [new, {"dq": (8192, 0)}, {"dq": (16384, 32)}, {"dq": (32768, 64)}, {"dq": (16384, 128)}, new]
    tiles = [new, {"kv": dict(num_warps=8)}, {"kv": dict(num_warps=8, num_stages=4)},
             {"kv": dict(rows=128, num_warps=8, num_stages=3)}, {"kv": dict(piece_tokens=2048)}, new]
    return [(("fwd G4 T=16k", "random"), fwd), (("fwd G1 T=16k", "random"), fwd[:3]),
            (("fwd G4 T=64k", "random"), fwd[:3]),
            (("fwd+bwd G4 T=16k", "random"), both), (("fwd+bwd G1 T=16k", "random"), both[:5]),
            (("fwd+bwd G4 T=64k", "random"), both[:3]), (("fwd+bwd G16 T=16k", "random"), [OLD, new, OLD, new]),
            (("fwd+bwd G4 T=16k", "random"), dq_shapes), (("fwd G4 T=16k", "random"), tiles)]


def main():
    modes = [a for a in sys.argv[1:] if a in ("--g1", "--prefetch", "--more", "--near", "--near3", "--pieces", "--g8",
                                             "--local", "--dkv-pieces", "--split-dkv", "--dkv-rows", "--dkv-rows2", "--dkv-rows3", "--dkv-rows4",
                                             "--dkv-pieces2", "--dkv-more", "--dv-split", "--dv-split2",
                                             "--gather-split", "--gather-split2", "--gather-split3", "--reuse", "--direct",
                                             "--session19", "--lean", "--lean2", "--lean3", "--lean4", "--lean6", "--gpos", "--qwin", "--decode", "--qwin2", "--addr32", "--addr32-dkv", "--addr32-dkv2", "--unordered", "--keys", "--g16-pieces", "--g16-pieces2", "--g16-pieces3", "--wincap")]
    for m in modes:
        sys.argv.remove(m)
    run_op_variants(runs_for(modes[0] if modes else ""), apply, reset)


if __name__ == "__main__":
    main()
