"""``nsa-ops bench``: self-check and benchmark of ``nsa_ops.selection_attention``.

Cases and suites
----------------
With CUDA the cases are those of TARGETS.md (bf16; "random" and locality-correlated "local"
selections, see ``nsa_ops.selections``); without, small CPU shapes (fp32, "random") that check
the torch path. ``--suite`` picks one group (default ``all``):

- ``forward``: forward calls ("fwd ...");
- ``train``: one forward plus one backward with a random upstream gradient ("fwd+bwd ...");
- ``decode``: one query token per sequence at the end of a long KV cache;
- ``varlen``: documents of mixed lengths packed into one sequence (``cu_seqlens``) next to the
  padded batch holding the same documents (B = number of documents, T = longest), so both
  process the same real tokens and their ms compare per token directly.

``--cases`` keeps the cases whose name contains one of the given substrings. ``--quick`` is a
smoke run: on CUDA T=4k versions of the G16/G4/G1 fwd and fwd+bwd cases, one decode case and a
varlen pair of 8k tokens, "random" selection only, no torch-path timing and a shorter
``do_bench``; on CPU the CPU cases at T=256 with one timed call.

Shape overrides (``--B --T --Tk --HQ --H --D --Dv --S --block-size``) rewrite every selected
case; a rewritten case is named after its full shape with the suffix "custom", loses its
TARGETS.md target, and cases that become identical run once. ``--T`` is the query length (and
the key length, unless ``--Tk`` is given); decode cases keep their single query and take
``--Tk`` as the cache length; varlen cases scale their documents to a total of ``--T`` tokens
and ignore ``--B``/``--Tk`` (the padded batch follows its documents). ``--Dv`` defaults to
``--D`` when that is given. ``--dtype`` replaces the default (bf16 on CUDA, fp32 on CPU).

What each row holds
-------------------
nsa_ops (auto backend) timed next to causal dense SDPA over the whole sequence (not for packed
cases, where it would cross documents), the torch path (CUDA, T <= 16k, no backward, not with
``--quick``) and FLA's ``parallel_nsa`` (when importable; G >= 16 and a power of two; not for
decode or packed cases).
Decode cases also time a CUDA-graph replay of nsa_ops and dense (``graph_ms``): the eager call
is dominated by Python and launch overhead. The outputs of nsa_ops and FLA are compared with the
float64 reference on 16 sampled query rows (``max_abs_err``/``rel_fro_err``,
``fla_max_abs_err``), so a fast but wrong peer shows; ``check`` is nsa_ops' verdict against the
TARGETS.md tolerances and the exit status is 1 when any check fails.

Each row also records the shape, dtype, number of input copies (``copies``, see below), the
roofline figures and the environment (device, driver, CUDA, torch, triton versions, date), so a
CSV file stands on its own. The header printed first shows the same environment; one progress
line is printed per finished (case, distribution); the table comes last.

Measurement
-----------
Timing: on CUDA ``triton.testing.do_bench`` (CUDA events, warm-up, median of the repeats; it
also zeroes a 256 MB buffer before every timed call, which evicts L2); on CPU the wall clock,
median of 3 calls after one warm-up call (1 call with ``--quick``).

L2 rotation: a call whose inputs fit in L2 would be timed on warm data that a model's real
call does not have. So when the bytes one timed call touches -- q, out and block_indices, plus
all of K/V for prefill cases or only the K/V blocks actually selected for decode (its cache is
far larger than what one step reads) -- are below twice the L2 size (``L2_cache_size`` of the
device properties, 50 MB on an H100), the benchmark draws n independent input copies, with n
just large enough that together they exceed 2x L2 (at most ``MAX_COPIES``), and times a callable
that runs each call on the next copy. Decode copies share the KV cache and differ in q and
block_indices. Inputs are random and non-zero. At the TARGETS.md prefill sizes one copy
exceeds 2x L2 (n = 1); decode cases and small overridden shapes rotate. do_bench's flush
already evicts L2 between calls; the rotation keeps the inputs cold without relying on it (the
wall-clock fallback on CUDA without Triton does not flush). On CPU no rotation is done.

Roofline (CUDA rows; H100 figures, so on another GPU the fraction is relative to an H100): the
lower bound is ``max(flops / PEAK_FLOPS, bytes / PEAK_BYTES_PER_S)``, with the useful flops of
``flops()`` and the bytes of ``roofline_bytes()``: q read + out written + K/V of the distinct
(sequence, KV head, block) triples the selection names, each read once; a backward adds q, out
and dout read, dq written, the selected K/V read again and their dK/dV written.
``roofline_frac`` = roofline_ms / measured ms (the CUDA-graph time where there is one).

Plots (``--plot PATH``, CUDA rows, skipped without matplotlib): PATH shows ms against T per
group size G for fwd and fwd+bwd (dense SDPA dotted); PATH with the suffix ``_roofline.png``
shows the roofline fraction of every row.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import importlib.metadata
import itertools
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch.nn.attention.bias import causal_lower_right

import nsa_ops
from .backend import SUPPORTED_BLOCK_SIZES
from .reference import reference_selection
from .selections import distinct_blocks_per_tile, local_selection, random_selection

SUITES = ("forward", "train", "decode", "varlen")
DISTS = ("random", "local")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
SHAPE_FIELDS = ("B", "T", "Tk", "HQ", "H", "D", "Dv", "S", "block_size")

# Roofline of an H100 SXM (datasheet): dense bf16 tensor-core peak and HBM3 bandwidth.
PEAK_FLOPS = 990e12
PEAK_BYTES_PER_S = 3.35e12
# Most input copies a timed callable cycles through (bounds memory and set-up time).
MAX_COPIES = 32
# Query rows sampled for the reference check.
CHECK_ROWS = 16


@dataclass
class Case:
    name: str
    kind: str  # "fwd", "fwd+bwd", "decode"
    B: int
    T: int  # query tokens
    Tk: int
    HQ: int
    H: int
    D: int = 128
    Dv: int = 128
    S: int = 16
    block_size: int = 64
    target_ms: Optional[float] = None
    peers: dict = field(default_factory=dict)  # TARGETS.md figures, for the table
    doc_lens: Optional[tuple] = None  # packed documents (cu_seqlens, B=1); None: unpacked
    padded_docs: Optional[tuple] = None  # the padded batch of these documents (B=len, T=max)

    @property
    def suite(self) -> str:
        if self.doc_lens or self.padded_docs:
            return "varlen"
        return {"fwd": "forward", "fwd+bwd": "train", "decode": "decode"}[self.kind]


_GROUPS = ((16, 64, 4), (4, 32, 8), (1, 16, 16))  # (G, HQ, H) of TARGETS.md
# Issue 5's varlen case: 8 documents of mixed lengths, 32k tokens, longest 8k.
_VARLEN_DOCS = (8192, 2048, 6144, 1024, 4096, 3072, 5120, 3072)
_CPU_SHAPE = dict(D=64, Dv=64, S=8, block_size=32)


def _tokens(n: int) -> str:
    return f"{n // 1024}k" if n % 1024 == 0 else str(n)


def varlen_pair(kind: str, docs: Sequence[int], HQ: int, H: int, **shape) -> List[Case]:
    """The packed case of ``docs`` and the padded batch of the same documents."""
    docs, G = tuple(docs), HQ // H
    total, longest = sum(docs), max(docs)
    return [
        Case(f"{kind} varlen {len(docs)} docs {_tokens(total)} G{G}", kind, 1, total, total, HQ, H,
             doc_lens=docs, **shape),
        Case(f"{kind} padded B={len(docs)} T={_tokens(longest)} G{G}", kind, len(docs), longest, longest,
             HQ, H, padded_docs=docs, **shape),
    ]


def cuda_cases() -> List[Case]:
    """The cases of TARGETS.md, with its targets, and the varlen pair of issue 5."""
    targets = {  # (k tokens, kind) -> ms, per G
        16: {(16, "fwd"): 3.5, (16, "fwd+bwd"): 9, (64, "fwd"): 15, (64, "fwd+bwd"): 40},
        4: {(16, "fwd"): 2.0, (16, "fwd+bwd"): 6, (64, "fwd"): 8, (64, "fwd+bwd"): 24},
        1: {(16, "fwd"): 2.0, (16, "fwd+bwd"): 6, (64, "fwd"): 8, (64, "fwd+bwd"): 24},
    }
    c = []
    for G, HQ, H in _GROUPS:
        for (Tk, kind), target in targets[G].items():
            T = Tk * 1024
            c.append(Case(f"{kind} G{G} T={Tk}k", kind, 1, T, T, HQ, H, target_ms=target))
        if G == 16:
            c.append(Case("fwd G16 D=192 T=16k", "fwd", 1, 16384, 16384, 64, 4, D=192, target_ms=5))
            c.append(Case("fwd+bwd G16 D=192 T=16k", "fwd+bwd", 1, 16384, 16384, 64, 4, D=192, target_ms=13))
    # G8 (no TARGETS.md row): the group size where the schedule changes (configs.forward_schedule).
    for kind in ("fwd", "fwd+bwd"):
        c.append(Case(f"{kind} G8 T=16k", kind, 1, 16384, 16384, 64, 8))
    c.append(Case("decode B=16 Tk=64k G16", "decode", 16, 1, 65536, 64, 4, target_ms=0.030))
    c.append(Case("decode B=1 Tk=64k G16", "decode", 1, 1, 65536, 64, 4, target_ms=0.015))
    c.append(Case("decode B=16 Tk=64k G4", "decode", 16, 1, 65536, 32, 8, target_ms=0.040))
    return c + varlen_pair("fwd+bwd", _VARLEN_DOCS, 64, 4)


def cuda_quick_cases() -> List[Case]:
    """``--quick`` on CUDA: T=4k versions of the G16/G4/G1 cases (TARGETS.md has no target for
    them), one decode case and the varlen pair at a quarter of its size (8k tokens)."""
    c = [Case(f"{kind} G{G} T=4k", kind, 1, 4096, 4096, HQ, H)
         for kind in ("fwd", "fwd+bwd") for G, HQ, H in _GROUPS]
    c.append(Case("decode B=1 Tk=64k G16", "decode", 1, 1, 65536, 64, 4, target_ms=0.015))
    return c + varlen_pair("fwd+bwd", [n // 4 for n in _VARLEN_DOCS], 64, 4)


def cpu_cases(quick: bool = False) -> List[Case]:
    """Small shapes for the torch path on CPU; ``quick`` shortens the sequences to 256 tokens."""
    T = 256 if quick else 1024
    docs = (T // 2, T // 4, T // 4)
    return [
        Case(f"fwd G4 T={_tokens(T)}", "fwd", 1, T, T, 16, 4, **_CPU_SHAPE),
        Case(f"fwd+bwd G4 T={_tokens(T)}", "fwd+bwd", 1, T, T, 16, 4, **_CPU_SHAPE),
        Case("decode B=2 Tk=4k G4", "decode", 2, 1, 4096, 16, 4, **_CPU_SHAPE),
    ] + varlen_pair("fwd", docs, 16, 4, **_CPU_SHAPE)


# ----------------------------------------------------------------------------- shape overrides


def scale_docs(docs: Sequence[int], total: int) -> tuple:
    """Document lengths in the proportions of ``docs`` summing to ``total`` (empty ones dropped)."""
    whole = sum(docs)
    ends = [round(e * total / whole) for e in itertools.accumulate(docs)]
    return tuple(b - a for a, b in zip([0] + ends[:-1], ends) if b > a)


def _shape(case: Case) -> tuple:
    return tuple(getattr(case, f) for f in SHAPE_FIELDS) + (case.doc_lens, case.padded_docs)


def custom_name(case: Case) -> str:
    """The name of a rewritten case: its kind and full shape, then "custom"."""
    G = case.HQ // case.H
    if case.doc_lens:
        head = f"{case.kind} varlen {len(case.doc_lens)} docs G{G} T={case.T}"
    elif case.padded_docs:
        head = f"{case.kind} padded G{G} B={case.B} T={case.T}"
    elif case.kind == "decode":
        head = f"decode G{G} B={case.B} Tk={case.Tk}"
    else:
        head = f"{case.kind} G{G} B={case.B} T={case.T}" + (f" Tk={case.Tk}" if case.Tk != case.T else "")
    dims = f"HQ={case.HQ} H={case.H} D={case.D}" + (f" Dv={case.Dv}" if case.Dv != case.D else "")
    return f"{head} {dims} S={case.S} bs={case.block_size} custom"


def override_shape(case: Case, **given: Optional[int]) -> Case:
    """``case`` with the shape values in ``given`` (None: keep), following the rules of the module
    docstring. A case whose shape changes is renamed (``custom_name``) and loses its target and
    peer figures; raises ValueError, naming the option, for a shape that cannot exist."""
    g = {k: v for k, v in given.items() if v is not None}
    new = {f: g.get(f, getattr(case, f)) for f in ("HQ", "H", "D", "S", "block_size")}
    new["Dv"] = g.get("Dv", g.get("D", case.Dv))
    docs = case.doc_lens or case.padded_docs
    if docs:
        docs = scale_docs(docs, g["T"]) if "T" in g else docs
        if case.doc_lens:
            new.update(B=1, T=sum(docs), Tk=sum(docs), doc_lens=docs)
        else:
            new.update(B=len(docs), T=max(docs), Tk=max(docs), padded_docs=docs)
    elif case.kind == "decode":
        new.update(B=g.get("B", case.B), T=1, Tk=g.get("Tk", case.Tk))
    else:
        T = g.get("T", case.T)
        new.update(B=g.get("B", case.B), T=T, Tk=g.get("Tk", T if "T" in g else case.Tk))
    out = dataclasses.replace(case, **new)
    if out.HQ % out.H:
        raise ValueError(f"--HQ/--H: HQ={out.HQ} must be a multiple of H={out.H} (case {case.name!r})")
    if out.Tk < out.T:
        raise ValueError(f"--Tk/--T: Tk={out.Tk} is below T={out.T} (case {case.name!r}); queries sit at "
                         "the end of the keys, so Tk >= T")
    if _shape(out) == _shape(case):
        return case
    return dataclasses.replace(out, name=custom_name(out), target_ms=None, peers={})


def select_cases(args, on_cuda: bool) -> List[Case]:
    """The cases ``args`` asks for: suite, ``--cases`` substrings (of the original names), then
    the shape overrides; cases that become identical are kept once."""
    if on_cuda:
        cases = cuda_quick_cases() if args.quick else cuda_cases()
    else:
        cases = cpu_cases(quick=args.quick)
    if args.suite != "all":
        cases = [c for c in cases if c.suite == args.suite]
    if args.cases:
        cases = [c for c in cases if any(s in c.name for s in args.cases)]
    given = {f: getattr(args, f, None) for f in SHAPE_FIELDS}
    out, seen = [], set()
    for case in cases:
        case = override_shape(case, **given)
        key = (case.name, case.kind) + _shape(case)
        if key not in seen:
            seen.add(key)
            out.append(case)
    return out


# ----------------------------------------------------------------------------- inputs


@dataclass
class Inputs:
    """One set of arguments of a timed call."""
    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    block_indices: torch.Tensor
    cu_seqlens: Optional[torch.Tensor]


def make_inputs(case: Case, dist: str, dtype, device, seed: int = 0, kv=None) -> Inputs:
    """Random q, k, v (k, v given as ``kv`` are reused) and a ``dist`` selection."""
    g = torch.Generator(device=device).manual_seed(seed)
    q = torch.randn(case.B, case.T, case.HQ, case.D, generator=g, device=device, dtype=dtype)
    if kv is None:
        k = torch.randn(case.B, case.Tk, case.H, case.D, generator=g, device=device, dtype=dtype)
        v = torch.randn(case.B, case.Tk, case.H, case.Dv, generator=g, device=device, dtype=dtype)
    else:
        k, v = kv
    make = random_selection if dist == "random" else local_selection
    if case.doc_lens is None:
        bi = make(case.B, case.T, case.H, case.S, case.block_size, Tk=case.Tk, device=device, generator=g)
    else:  # block ids count from each document's start
        bi = torch.cat([make(1, n, case.H, case.S, case.block_size, device=device, generator=g)
                        for n in case.doc_lens], 1)
    return Inputs(q, k, v, bi, cu_seqlens_of(case, device))


def cu_seqlens_of(case: Case, device):
    if case.doc_lens is None:
        return None
    return torch.tensor((0,) + tuple(itertools.accumulate(case.doc_lens)), dtype=torch.int32, device=device)


def check_rows(case: Case, x: Inputs, out: torch.Tensor, rows: int = CHECK_ROWS, seed: int = 0):
    """Max-abs and relative Frobenius error of ``out`` against the float64 reference on sampled
    query rows (each row is its own small problem: keys up to its position)."""
    g = torch.Generator().manual_seed(seed)
    ts = torch.randint(0, case.T, (rows,), generator=g).tolist()
    bs = torch.randint(0, case.B, (rows,), generator=g).tolist()
    starts = [0] + list(itertools.accumulate(case.doc_lens or ()))
    num = den = err = 0.0
    for b, t in zip(bs, ts):
        # Keys of the row's own problem: its document (packed) or the whole sequence.
        lo = max(s for s in starts if s <= t) if case.doc_lens else 0
        pos = t if case.doc_lens else case.Tk - case.T + t
        ref, _ = reference_selection(
            x.q[b:b + 1, t:t + 1].double(), x.k[b:b + 1, lo: pos + 1].double(),
            x.v[b:b + 1, lo: pos + 1].double(), x.block_indices[b:b + 1, t:t + 1], block_size=case.block_size,
        )
        d = out[b:b + 1, t:t + 1].double() - ref
        err = max(err, d.abs().max().item())
        num += d.pow(2).sum().item()
        den += ref.pow(2).sum().item()
    return err, math.sqrt(num / max(den, 1e-30))


def tolerance(dtype) -> Tuple[float, float]:
    """(max-abs, relative Frobenius) bounds of TARGETS.md for outputs of ``dtype``."""
    return (1e-3, 1e-3) if dtype == torch.float32 else (2e-2, 1e-2)


# ----------------------------------------------------------------------------- rotation


def rotation_copies(bytes_per_copy: int, l2_bytes: int, cap: int = MAX_COPIES) -> int:
    """How many input copies a timed callable cycles through: 1 when one copy touches at least
    2x L2 (or L2 is unknown, ``l2_bytes`` <= 0); otherwise the fewest whose bytes together exceed
    2x L2, at most ``cap``."""
    if l2_bytes <= 0 or bytes_per_copy >= 2 * l2_bytes:
        return 1
    return max(1, min(cap, 2 * l2_bytes // max(bytes_per_copy, 1) + 1))


def cycling(calls: Sequence[Callable[[], object]]) -> Callable[[], object]:
    """One callable running ``calls[0]``, ``calls[1]``, ... in turn, wrapping around."""
    if len(calls) == 1:
        return calls[0]
    turn = itertools.cycle(calls)
    return lambda: next(turn)()


def touched_bytes(case: Case, x: Inputs) -> int:
    """Bytes one timed call touches at least: q, out and block_indices, plus all of K/V for
    prefill cases or only the selected K/V blocks for decode (see the module docstring)."""
    elem = x.q.element_size()
    out = x.q.numel() // case.D * case.Dv * elem
    if case.kind == "decode":
        kv = distinct_kv_blocks(case, x.block_indices) * case.block_size * (case.D + case.Dv) * elem
    else:
        kv = x.k.nbytes + x.v.nbytes
    return x.q.nbytes + out + x.block_indices.nbytes + kv


def input_copies(case: Case, dist: str, dtype, device, l2_bytes: int) -> List[Inputs]:
    """Copy 0 (seed 0, the one checked against the reference) and as many more independent draws
    as ``rotation_copies`` asks for; decode copies share the KV cache."""
    first = make_inputs(case, dist, dtype, device)
    n = rotation_copies(touched_bytes(case, first), l2_bytes)
    kv = (first.k, first.v) if case.kind == "decode" else None
    return [first] + [make_inputs(case, dist, dtype, device, seed=i, kv=kv) for i in range(1, n)]


# ----------------------------------------------------------------------------- work models


def flops(case: Case, kind: str) -> float:
    """Useful flops: causal keys actually attended (S blocks, fewer for early tokens)."""
    if case.doc_lens:
        pos = torch.cat([torch.arange(n, dtype=torch.float64) for n in case.doc_lens])
    else:
        pos = torch.arange(case.T, dtype=torch.float64) + (case.Tk - case.T)
    keys = torch.clamp(pos + 1, max=case.S * case.block_size).sum().item()
    f = 2 * case.B * case.HQ * keys * (case.D + case.Dv)
    return f * (3 if kind == "fwd+bwd" else 1)


def kv_bytes(case: Case, q) -> float:
    """K/V bytes one pass over the selected blocks reads (once per token and KV head)."""
    keys = min(case.Tk, case.S * case.block_size)
    return case.B * case.T * case.H * keys * (case.D + case.Dv) * q.element_size()


def distinct_kv_blocks(case: Case, block_indices: torch.Tensor) -> int:
    """Distinct (sequence, KV head, block) triples ``block_indices`` selects, counting only ids
    that hold a key the token may see (0 <= id <= its position // block_size): the K/V blocks a
    kernel has to read at least once. Packed documents are separate sequences (their block ids
    count from the document start)."""
    B, T, H, _ = block_indices.shape
    device = block_indices.device
    ids = block_indices.long()
    if case.doc_lens:
        lens = torch.tensor(case.doc_lens, device=device)
        seq = torch.repeat_interleave(torch.arange(len(case.doc_lens), device=device), lens)  # [T]
        pos = torch.arange(T, device=device) - torch.repeat_interleave(torch.cumsum(lens, 0) - lens, lens)
        seq, n_seq, n_blocks = seq.view(1, T, 1, 1), len(case.doc_lens), math.ceil(max(case.doc_lens) / case.block_size)
    else:
        pos = torch.arange(T, device=device) + (case.Tk - case.T)
        seq, n_seq, n_blocks = torch.arange(B, device=device).view(B, 1, 1, 1), B, math.ceil(case.Tk / case.block_size)
    visible = (ids >= 0) & (ids <= (pos // case.block_size).view(1, T, 1, 1))
    head = torch.arange(H, device=device).view(1, 1, H, 1)
    key = ((seq * H + head) * n_blocks + ids)[visible]
    selected = torch.zeros(n_seq * H * n_blocks, dtype=torch.bool, device=device)
    selected[key] = True
    return int(selected.sum())


def roofline_bytes(case: Case, block_indices: torch.Tensor, elem: int) -> float:
    """The bytes model of the roofline (module docstring): q read, out written and the distinct
    selected K/V blocks read once; fwd+bwd adds q, out, dout read, dq written, the K/V blocks
    read again and their dK/dV written."""
    q = case.B * case.T * case.HQ * case.D * elem
    out = case.B * case.T * case.HQ * case.Dv * elem
    kv = distinct_kv_blocks(case, block_indices) * case.block_size * (case.D + case.Dv) * elem
    fwd = q + out + kv
    return fwd + (2 * q + 2 * out + 2 * kv if case.kind == "fwd+bwd" else 0)


def roofline_ms(case: Case, block_indices: torch.Tensor, elem: int) -> float:
    """Lower bound on the time of one call on an H100: max(flops / peak, bytes / bandwidth)."""
    return 1e3 * max(flops(case, case.kind) / PEAK_FLOPS, roofline_bytes(case, block_indices, elem) / PEAK_BYTES_PER_S)


# ----------------------------------------------------------------------------- timing


def make_timer(device, quick: bool) -> Callable[[Callable[[], object]], float]:
    """ms of one call: do_bench's median on CUDA, else the wall-clock median (module docstring)."""
    if device.type == "cuda":
        try:
            from triton.testing import do_bench

            warmup, rep = (25, 100) if quick else (50, 300)
            return lambda fn: do_bench(fn, warmup=warmup, rep=rep, return_mode="median")
        except ImportError:
            pass
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    reps = 1 if quick else 3

    def wall(fn):
        fn()
        ts = []
        for _ in range(reps):
            sync()
            t0 = time.perf_counter()
            fn()
            sync()
            ts.append(time.perf_counter() - t0)
        return sorted(ts)[len(ts) // 2] * 1e3

    return wall


def _runner(fn, kind: str, x: Inputs) -> Callable[[], object]:
    """The timed call of ``fn`` on ``x``: the forward, or forward and backward for "fwd+bwd"."""
    if kind != "fwd+bwd":
        return lambda: fn(x)
    x = dataclasses.replace(x, **{n: getattr(x, n).detach().requires_grad_() for n in ("q", "k", "v")})
    dout = torch.randn(*x.q.shape[:-1], x.v.shape[-1], device=x.q.device, dtype=x.q.dtype)

    def step():
        torch.autograd.grad(fn(x), (x.q, x.k, x.v), dout)

    return step


def _graphed(fn, x: Inputs):
    """A CUDA graph of one call; replaying it removes the Python and launch overhead."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(2):
            fn(x)
    torch.cuda.current_stream().wait_stream(s)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn(x)
    return graph.replay


# ----------------------------------------------------------------------------- implementations


def _nsa_ops(case: Case):
    return lambda x: nsa_ops.selection_attention(x.q, x.k, x.v, x.block_indices, block_size=case.block_size,
                                                 cu_seqlens=x.cu_seqlens)


def _torch_path(case: Case):
    def run(x):
        with nsa_ops.use_backend("torch"):
            return nsa_ops.selection_attention(x.q, x.k, x.v, x.block_indices, block_size=case.block_size)

    return run


def dense_sdpa(case: Case):
    """Causal SDPA over every key, queries at the end of the keys like nsa_ops'."""
    G = case.HQ // case.H
    # Decode: the single query sits at the end and sees every key, so no mask is needed; a
    # shorter query chunk (T < Tk, from --Tk) needs the bottom-right-aligned causal mask.
    mask = dict(is_causal=True) if case.T == case.Tk else {}
    if 1 < case.T < case.Tk:
        mask = dict(attn_mask=causal_lower_right(case.T, case.Tk))

    def run(x):
        qt, kt, vt = (t.transpose(1, 2) for t in (x.q, x.k, x.v))
        return F.scaled_dot_product_attention(qt, kt, vt, enable_gqa=G > 1, **mask).transpose(1, 2)

    return run


def fla_runner(case: Case):
    try:
        from fla.ops.nsa import parallel_nsa  # type: ignore
    except Exception:
        return None
    G = case.HQ // case.H
    if G < 16 or G & (G - 1) or case.kind == "decode" or case.doc_lens:
        return None
    return lambda x: parallel_nsa(x.q, x.k, x.v, block_indices=x.block_indices.long(), block_size=case.block_size)


def implementations(case: Case, on_cuda: bool, quick: bool) -> Dict[str, Callable[[Inputs], torch.Tensor]]:
    """What is timed on ``case``, by column prefix; "nsa_ops" first."""
    impls = {"nsa_ops": _nsa_ops(case)}
    if case.doc_lens is None:  # causal SDPA over a packed batch would cross documents
        impls["dense"] = dense_sdpa(case)
    if on_cuda:
        if not quick and case.T <= 16384 and case.kind != "fwd+bwd":
            impls["torch_path"] = _torch_path(case)
        fla = fla_runner(case)
        if fla is not None:
            impls["fla"] = fla
    return impls


def _failed(what: str, case: Case, e: Exception) -> None:
    print(f"  {what} failed on {case.name}: {type(e).__name__}: {str(e)[:160]}", flush=True)


# ----------------------------------------------------------------------------- one row


def _r(x: float, nd: int = 4) -> float:
    return round(x, nd) if math.isfinite(x) else float("nan")


def bench_case(case: Case, dist: str, dtype, device, timer, l2_bytes: int, quick: bool) -> dict:
    """Check and time every implementation on one (case, distribution); the row of the table."""
    on_cuda = device.type == "cuda"
    copies = input_copies(case, dist, dtype, device, l2_bytes)
    first = copies[0]
    impls = implementations(case, on_cuda, quick)
    err = fro = fla_err = nan = float("nan")
    try:
        err, fro = check_rows(case, first, impls["nsa_ops"](first))
    except Exception as e:  # reported as a failed check, the run goes on
        _failed("nsa_ops", case, e)
    if "fla" in impls:
        try:
            fla_err, _ = check_rows(case, first, impls["fla"](first))
        except Exception as e:
            _failed("fla", case, e)
    max_abs, rel_fro = tolerance(dtype)
    passed = err <= max_abs and fro <= rel_fro  # False for nan

    times = {}
    for name, fn in impls.items():
        try:
            times[name] = timer(cycling([_runner(fn, case.kind, x) for x in copies]))
        except Exception as e:  # a peer that cannot run this shape
            _failed(name, case, e)
        if on_cuda:
            torch.cuda.empty_cache()
    if on_cuda and case.kind == "decode":
        for name in ("nsa_ops", "dense"):
            try:
                times[name + "_graph"] = timer(cycling([_graphed(impls[name], x) for x in copies]))
            except Exception as e:
                _failed(name + " graph capture", case, e)

    ms = times.get("nsa_ops", nan)
    achieved = times.get("nsa_ops_graph", ms)
    roof = roofline_ms(case, first.block_indices, first.q.element_size()) if on_cuda else nan
    row = dict(
        case=case.name, dist=dist,
        distinct_per_tile=round(distinct_blocks_per_tile(first.block_indices), 1) if case.T >= 64 else nan,
        ms=_r(ms), target_ms=case.target_ms if case.target_ms is not None else nan,
        dense_ms=_r(times.get("dense", nan)), torch_path_ms=_r(times.get("torch_path", nan)),
        fla_ms=_r(times.get("fla", nan)), graph_ms=_r(times.get("nsa_ops_graph", nan)),
        dense_graph_ms=_r(times.get("dense_graph", nan)),
        speedup_vs_dense=_r(times.get("dense", nan) / ms, 2),
        tflops=_r(flops(case, case.kind) / ms / 1e9, 1), kv_gbps=_r(kv_bytes(case, first.q) / ms / 1e6, 1),
        max_abs_err=f"{err:.2e}", rel_fro_err=f"{fro:.2e}", check="ok" if passed else "FAIL",
    )
    row.update(suite=case.suite, kind=case.kind, **{f: getattr(case, f) for f in SHAPE_FIELDS},
               copies=len(copies), fla_max_abs_err=f"{fla_err:.2e}",
               roofline_ms=_r(roof, 5), roofline_frac=_r(roof / achieved, 3))
    return row


def _progress(i: int, total: int, row: dict, seconds: float) -> str:
    parts = [f"nsa_ops {row['ms']} ms"]
    if math.isfinite(row["target_ms"]):
        parts[0] += f" (target {row['target_ms']})"
    for name in ("graph", "dense", "torch_path", "fla"):
        if math.isfinite(row[name + "_ms"]):
            parts.append(f"{name} {row[name + '_ms']} ms")
    err = f"err {row['max_abs_err']} {row['check']}"
    if row["fla_max_abs_err"] != "nan":
        err += f", fla err {row['fla_max_abs_err']}"
    width = len(str(total))
    return (f"[{i:>{width}}/{total}] {row['case']} {row['dist']}: {', '.join(parts)}; {err} "
            f"({row['copies']} input cop{'y' if row['copies'] == 1 else 'ies'}, {seconds:.1f} s)")


# ----------------------------------------------------------------------------- environment


def _triton_version() -> str:
    for dist in ("triton", "pytorch-triton"):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    try:
        import triton

        return triton.__version__
    except ImportError:
        return "not installed"


def _driver_version() -> str:
    """The NVIDIA driver version, from NVML (``pynvml``) or nvidia-smi; "n/a" without either."""
    try:
        import pynvml  # type: ignore

        pynvml.nvmlInit()
        try:
            version = pynvml.nvmlSystemGetDriverVersion()
        finally:
            pynvml.nvmlShutdown()
        return version.decode() if isinstance(version, bytes) else str(version)
    except Exception:
        pass
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError):
        pass
    return "n/a"


def environment(device: torch.device, dtype) -> dict:
    """What a result depends on besides the code: the columns every CSV row carries."""
    on_cuda = device.type == "cuda"
    return dict(
        device=torch.cuda.get_device_name(device) if on_cuda else platform.processor() or "cpu",
        date=datetime.date.today().isoformat(),
        torch=torch.__version__,
        triton=_triton_version(),
        cuda=(torch.version.cuda or "n/a") if on_cuda else "n/a",
        driver=_driver_version() if on_cuda else "n/a",
        dtype=next(k for k, v in DTYPES.items() if v == dtype),
    )


def _header(env: dict, device: torch.device, args, l2_bytes: int) -> str:
    lines = [
        "nsa-ops bench",
        f"  device  {env['device']} ({device.type})" + (f", L2 {l2_bytes / 2**20:.0f} MiB" if l2_bytes else ""),
        f"  driver  {env['driver']}, CUDA {env['cuda']}",
        f"  torch   {env['torch']}",
        f"  triton  {env['triton']}",
        f"  date    {env['date']}",
        f"  dtype   {env['dtype']}",
        f"  suite   {args.suite}" + (" (quick)" if args.quick else ""),
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- entry point


def _device(name: str) -> torch.device:
    return torch.device(name if name != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))


def run_bench(args) -> int:
    """Run ``nsa-ops bench``; 0 when every nsa_ops check passes, 1 when one fails, 2 on bad options."""
    device = _device(args.device)
    on_cuda = device.type == "cuda"
    dtype = DTYPES[args.dtype] if args.dtype else (torch.bfloat16 if on_cuda else torch.float32)
    try:
        cases = select_cases(args, on_cuda)
    except ValueError as e:
        print(f"nsa-ops bench: error: {e}", file=sys.stderr)
        return 2
    if not cases:
        print("nsa-ops bench: error: no case matches --suite/--cases", file=sys.stderr)
        return 2
    dists = args.dist or (["random", "local"] if on_cuda and not args.quick else ["random"])
    l2_bytes = torch.cuda.get_device_properties(device).L2_cache_size if on_cuda else 0
    env = environment(device, dtype)
    print(_header(env, device, args, l2_bytes), flush=True)
    timer = make_timer(device, args.quick)

    rows, ok = [], True
    work = list(itertools.product(cases, dists))
    for i, (case, dist) in enumerate(work, 1):
        t0 = time.perf_counter()
        row = bench_case(case, dist, dtype, device, timer, l2_bytes, args.quick)
        row.update(env)
        rows.append(row)
        ok &= row["check"] == "ok"
        print(_progress(i, len(work), row, time.perf_counter() - t0), flush=True)
    _write(rows, args, on_cuda)
    return 0 if ok else 1


# Columns of the CSV: the historical ones first, in their order, then the newer ones.
CSV_COLUMNS = [
    "case", "dist", "distinct_per_tile", "ms", "target_ms", "dense_ms", "torch_path_ms", "fla_ms", "graph_ms",
    "dense_graph_ms", "speedup_vs_dense", "tflops", "kv_gbps", "max_abs_err", "rel_fro_err", "check", "device",
    "date", "suite", "kind", *SHAPE_FIELDS, "dtype", "copies", "fla_max_abs_err", "roofline_ms", "roofline_frac",
    "torch", "triton", "cuda", "driver",
]
TABLE_COLUMNS = [
    "case", "dist", "distinct_per_tile", "ms", "graph_ms", "target_ms", "dense_ms", "dense_graph_ms",
    "torch_path_ms", "fla_ms", "speedup_vs_dense", "tflops", "kv_gbps", "roofline_frac", "max_abs_err",
    "fla_max_abs_err", "check",
]


def _write(rows: List[dict], args, on_cuda: bool) -> None:
    if args.csv:
        os.makedirs(os.path.dirname(os.path.abspath(args.csv)), exist_ok=True)
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
            w.writeheader()
            w.writerows(rows)
    if args.plot and on_cuda:
        _plot(rows, args.plot)
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in TABLE_COLUMNS]
    print("  ".join(c.ljust(w) for c, w in zip(TABLE_COLUMNS, widths)))
    for r in rows:
        print("  ".join(str(r[c]).ljust(w) for c, w in zip(TABLE_COLUMNS, widths)), flush=True)


def roofline_plot_path(path: str) -> str:
    """Where ``--plot PATH`` puts the roofline figure: PATH with the suffix ``_roofline.png``."""
    return os.path.splitext(path)[0] + "_roofline.png"


def _plot(rows: List[dict], path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot")
        return
    # Figure 1: ms against T per G, for the square-head (D == Dv) unpacked fwd / fwd+bwd rows.
    sweep = [r for r in rows if r["suite"] in ("forward", "train") and r["D"] == r["Dv"] and r["B"] == 1]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, kind in zip(axes, ("fwd", "fwd+bwd")):
        for G in sorted({r["HQ"] // r["H"] for r in sweep}, reverse=True):
            mine = [r for r in sweep if r["kind"] == kind and r["HQ"] // r["H"] == G]
            for dist, style in (("random", "-o"), ("local", "--o")):
                pts = sorted((r["T"] / 1024, r["ms"]) for r in mine if r["dist"] == dist)
                if pts:
                    ax.plot(*zip(*pts), style, label=f"G{G} {dist}")
            dense = sorted({(r["T"] / 1024, r["dense_ms"]) for r in mine if r["dist"] == "random"})
            if dense:
                ax.plot(*zip(*dense), ":x", color="gray")  # the marker shows a lone point
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("T (k tokens)")
        ax.set_ylabel("ms")
        ax.set_title(f"{kind} (dotted: dense SDPA)")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

    # Figure 2: fraction of the H100 roofline reached, one bar per row.
    frac = [(f"{r['case']} {r['dist']}", r["roofline_frac"]) for r in rows if math.isfinite(r["roofline_frac"])]
    if not frac:
        return
    labels, values = zip(*frac)
    fig, ax = plt.subplots(figsize=(9, 0.28 * len(frac) + 1.2))
    ax.barh(range(len(frac)), values, color="tab:blue")
    ax.set_yticks(range(len(frac)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("roofline_ms / ms")
    ax.set_title(f"fraction of the H100 roofline: max(flops / {PEAK_FLOPS / 1e12:.0f} TFLOP/s, "
                 f"bytes / {PEAK_BYTES_PER_S / 1e12:.2f} TB/s)", fontsize=9)
    fig.savefig(roofline_plot_path(path), dpi=110, bbox_inches="tight")  # "tight": long case names fit
    plt.close(fig)


# ----------------------------------------------------------------------------- command line


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--suite", default="all", choices=[*SUITES, "all"], help="which group of cases (default all)")
    p.add_argument("--quick", action="store_true", help="smoke run: fewer, smaller cases and shorter timing")
    p.add_argument("--cases", nargs="*", help="substrings of case names to run")
    p.add_argument("--dist", nargs="*", choices=DISTS,
                   help="selection distributions (default: both on CUDA, random with --quick or on CPU)")
    p.add_argument("--dtype", choices=list(DTYPES), help="input dtype (default bf16 on CUDA, fp32 on CPU)")
    p.add_argument("--csv", default=None, metavar="PATH", help="write results as CSV here")
    p.add_argument("--plot", default=None, metavar="PATH",
                   help="write PNG plots here and next to it with the suffix _roofline.png (CUDA runs)")
    shape = p.add_argument_group(
        "shape overrides", "rewrite every selected case with these values (see `pydoc nsa_ops.bench`)")
    for flag, text in (
        ("--B", "batch size (not for varlen cases)"),
        ("--T", "query tokens; also key tokens unless --Tk; total tokens of varlen cases; not for decode"),
        ("--Tk", "key tokens (>= T): the cache length of decode cases"),
        ("--HQ", "query heads"),
        ("--H", "KV heads"),
        ("--D", "q/k head dim"),
        ("--Dv", "v head dim (default: --D when given)"),
        ("--S", "selected blocks per token and KV head"),
    ):
        shape.add_argument(flag, type=_positive_int, default=None, help=text)
    shape.add_argument("--block-size", dest="block_size", type=int, choices=SUPPORTED_BLOCK_SIZES, default=None,
                       help="tokens per KV block")


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``nsa-ops bench`` on its own: ``run_bench(build_parser().parse_args([...]))``."""
    p = argparse.ArgumentParser(prog="nsa-ops bench", description="self-check and benchmark of nsa_ops")
    add_arguments(p)
    p.set_defaults(func=run_bench)
    return p


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="self-check and benchmark (CPU shapes without a GPU, TARGETS.md cases on CUDA)")
    add_arguments(p)
    p.set_defaults(func=run_bench)
