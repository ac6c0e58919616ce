"""``nsa-ops bench``: self-check and benchmark.

Without CUDA: runs the CPU path on small shapes, checks the output against the
float64 reference and prints a table. With CUDA: the cases of TARGETS.md for the "random" and
the locality-correlated selections, nsa_ops (auto backend) next to dense causal SDPA, the torch
path (16k cases only) and FLA's parallel_nsa when importable; each output checked against the
reference on sampled query rows; CSV and a PNG plot written.

The varlen case packs 8 documents (32k tokens) with cu_seqlens; the padded case holds the same
documents as a B=8 batch padded to 8k, so both process the same real tokens and their ms
compare per token directly.

Timing on CUDA: ``triton.testing.do_bench`` (CUDA events, warm-up, median); inputs are fresh
random non-zero tensors, and at these sizes q/k/v exceed the 50 MB L2 of an H100.
"""
from __future__ import annotations

import csv
import datetime
import itertools
import math
import os
import platform
import time
from dataclasses import dataclass, field
from typing import List, Optional

import torch
import torch.nn.functional as F

import nsa_ops
from .reference import reference_selection
from .selections import distinct_blocks_per_tile, local_selection, random_selection


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


def cuda_cases() -> List[Case]:
    c = []
    for G, HQ, H, rows in (
        (16, 64, 4, {(16, "fwd"): 3.5, (16, "fwd+bwd"): 9, (64, "fwd"): 15, (64, "fwd+bwd"): 40}),
        (4, 32, 8, {(16, "fwd"): 2.0, (16, "fwd+bwd"): 6, (64, "fwd"): 8, (64, "fwd+bwd"): 24}),
        (1, 16, 16, {(16, "fwd"): 2.0, (16, "fwd+bwd"): 6, (64, "fwd"): 8, (64, "fwd+bwd"): 24}),
    ):
        for (Tk, kind), target in rows.items():
            T = Tk * 1024
            c.append(Case(f"{kind} G{G} T={Tk}k", kind, 1, T, T, HQ, H, target_ms=target))
        if G == 16:
            c.append(Case("fwd G16 D=192 T=16k", "fwd", 1, 16384, 16384, 64, 4, D=192, target_ms=5))
            c.append(Case("fwd+bwd G16 D=192 T=16k", "fwd+bwd", 1, 16384, 16384, 64, 4, D=192, target_ms=13))
    c.append(Case("decode B=16 Tk=64k G16", "decode", 16, 1, 65536, 64, 4, target_ms=0.030))
    c.append(Case("decode B=1 Tk=64k G16", "decode", 1, 1, 65536, 64, 4, target_ms=0.015))
    c.append(Case("decode B=16 Tk=64k G4", "decode", 16, 1, 65536, 32, 8, target_ms=0.040))
    # Varlen training (issue 5): 8 documents of mixed lengths packed into 32k tokens, against the
    # padded batch holding the same documents (B=8, each padded to the longest, 8k).
    docs = (8192, 2048, 6144, 1024, 4096, 3072, 5120, 3072)
    c.append(Case("fwd+bwd varlen 8 docs 32k G16", "fwd+bwd", 1, 32768, 32768, 64, 4, doc_lens=docs))
    c.append(Case("fwd+bwd padded B=8 T=8k G16", "fwd+bwd", 8, 8192, 8192, 64, 4))
    return c


def cpu_cases() -> List[Case]:
    return [
        Case("fwd G4 T=1k", "fwd", 1, 1024, 1024, 16, 4, D=64, Dv=64, S=8, block_size=32),
        Case("fwd+bwd G4 T=1k", "fwd+bwd", 1, 1024, 1024, 16, 4, D=64, Dv=64, S=8, block_size=32),
        Case("decode B=2 Tk=4k G4", "decode", 2, 1, 4096, 16, 4, D=64, Dv=64, S=8, block_size=32),
        Case("fwd varlen 3 docs 1k G4", "fwd", 1, 1024, 1024, 16, 4, D=64, Dv=64, S=8, block_size=32,
             doc_lens=(512, 256, 256)),
    ]


def make_inputs(case: Case, dist: str, dtype, device, seed=0):
    g = torch.Generator(device=device).manual_seed(seed)
    q = torch.randn(case.B, case.T, case.HQ, case.D, generator=g, device=device, dtype=dtype)
    k = torch.randn(case.B, case.Tk, case.H, case.D, generator=g, device=device, dtype=dtype)
    v = torch.randn(case.B, case.Tk, case.H, case.Dv, generator=g, device=device, dtype=dtype)
    make = random_selection if dist == "random" else local_selection
    if case.doc_lens is None:
        bi = make(case.B, case.T, case.H, case.S, case.block_size, Tk=case.Tk, device=device, generator=g)
    else:  # block ids count from each document's start
        bi = torch.cat([make(1, n, case.H, case.S, case.block_size, device=device, generator=g)
                        for n in case.doc_lens], 1)
    return q, k, v, bi


def cu_seqlens_of(case: Case, device):
    if case.doc_lens is None:
        return None
    return torch.tensor((0,) + tuple(itertools.accumulate(case.doc_lens)), dtype=torch.int32, device=device)


def check_rows(case, q, k, v, bi, out, rows=16, seed=0):
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
            q[b:b + 1, t:t + 1].double(), k[b:b + 1, lo: pos + 1].double(), v[b:b + 1, lo: pos + 1].double(),
            bi[b:b + 1, t:t + 1], block_size=case.block_size,
        )
        d = out[b:b + 1, t:t + 1].double() - ref
        err = max(err, d.abs().max().item())
        num += d.pow(2).sum().item()
        den += ref.pow(2).sum().item()
    return err, math.sqrt(num / max(den, 1e-30))


def _timer(device):
    if device.type == "cuda":
        try:
            from triton.testing import do_bench

            return lambda fn: do_bench(fn, warmup=50, rep=300, return_mode="median")
        except ImportError:
            pass

    def wall(fn, reps=3):
        fn()
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return sorted(ts)[len(ts) // 2] * 1e3

    return wall


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


def _runner(fn, kind, q, k, v):
    if kind != "fwd+bwd":
        return lambda: fn(q, k, v)
    q, k, v = (x.detach().requires_grad_() for x in (q, k, v))
    out = fn(q, k, v)
    dout = torch.randn_like(out)

    def step():
        o = fn(q, k, v)
        torch.autograd.grad(o, (q, k, v), dout)

    return step


def dense_sdpa(case):
    G = case.HQ // case.H

    def run(q, k, v):
        qt, kt, vt = (x.transpose(1, 2) for x in (q, k, v))
        # Decode: the single query sits at the end and sees every key, so no mask is needed.
        return F.scaled_dot_product_attention(qt, kt, vt, is_causal=case.T > 1, enable_gqa=G > 1).transpose(1, 2)

    return run


def fla_runner(case):
    try:
        from fla.ops.nsa import parallel_nsa  # type: ignore
    except Exception:
        return None
    G = case.HQ // case.H
    if G < 16 or G & (G - 1) or case.kind == "decode":
        return None

    def run(q, k, v, bi):
        return parallel_nsa(q, k, v, block_indices=bi.long(), block_size=case.block_size)

    return run


def run_bench(args) -> int:
    device = torch.device(args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    on_cuda = device.type == "cuda"
    dtype = torch.bfloat16 if on_cuda else torch.float32
    cases = cuda_cases() if on_cuda else cpu_cases()
    if args.cases:
        cases = [c for c in cases if any(s in c.name for s in args.cases)]
    dists = args.dist or (["random", "local"] if on_cuda else ["random"])
    timer = _timer(device)
    dev_name = torch.cuda.get_device_name(device) if on_cuda else platform.processor() or "cpu"
    stamp = datetime.date.today().isoformat()
    print(f"nsa-ops bench on {dev_name} ({device.type}), torch {torch.__version__}, {stamp}, dtype {dtype}")
    rows = []
    ok = True
    for case in cases:
        for dist in dists:
            q, k, v, bi = make_inputs(case, dist, dtype, device)
            overlap = distinct_blocks_per_tile(bi) if case.T >= 64 else float("nan")
            bs = case.block_size
            cu = cu_seqlens_of(case, device)
            impls = {"nsa_ops": lambda q, k, v, bi=bi, cu=cu: nsa_ops.selection_attention(
                q, k, v, bi, block_size=bs, cu_seqlens=cu)}
            if case.doc_lens is None:  # causal SDPA over a packed batch would cross documents
                impls["dense"] = dense_sdpa(case)
            if on_cuda:
                if case.T <= 16384 and case.kind != "fwd+bwd":
                    impls["torch_path"] = lambda q, k, v, bi=bi: _torch_path(q, k, v, bi, bs)
                fla = fla_runner(case)
                if fla is not None:
                    impls["fla"] = lambda q, k, v, fla=fla, bi=bi: fla(q, k, v, bi)
            out = impls["nsa_ops"](q, k, v)
            err, fro = check_rows(case, q, k, v, bi, out)
            tol = (2e-2, 1e-2) if dtype != torch.float32 else (1e-3, 1e-3)
            passed = err <= tol[0] and fro <= tol[1]
            ok &= passed
            times = {}
            for name, fn in impls.items():
                try:
                    times[name] = timer(_runner(fn, case.kind, q, k, v))
                except Exception as e:  # a peer that cannot run this shape
                    print(f"  {name} failed on {case.name}: {type(e).__name__}: {str(e)[:120]}")
                if on_cuda:
                    torch.cuda.empty_cache()
            if on_cuda and case.kind == "decode":
                for name in ("nsa_ops", "dense"):
                    try:
                        times[name + "_graph"] = timer(_graphed(impls[name], q, k, v))
                    except Exception as e:
                        print(f"  {name} graph capture failed on {case.name}: {type(e).__name__}: {str(e)[:120]}")
            ms = times.get("nsa_ops", float("nan"))
            fl, by = flops(case, case.kind), kv_bytes(case, q)
            rows.append(dict(
                case=case.name, dist=dist, distinct_per_tile=round(overlap, 1), ms=round(ms, 4),
                target_ms=case.target_ms, dense_ms=round(times.get("dense", float("nan")), 4),
                torch_path_ms=round(times.get("torch_path", float("nan")), 4),
                fla_ms=round(times.get("fla", float("nan")), 4),
                graph_ms=round(times.get("nsa_ops_graph", float("nan")), 4),
                dense_graph_ms=round(times.get("dense_graph", float("nan")), 4),
                speedup_vs_dense=round(times.get("dense", float("nan")) / ms, 2),
                tflops=round(fl / ms / 1e9, 1), kv_gbps=round(by / ms / 1e6, 1),
                max_abs_err=f"{err:.2e}", rel_fro_err=f"{fro:.2e}", check="ok" if passed else "FAIL",
                device=dev_name, date=stamp,
            ))
            del q, k, v, bi, out
    _write(rows, args, on_cuda)
    return 0 if ok else 1


def _graphed(fn, q, k, v):
    """A CUDA graph of one call; replaying it removes the Python and launch overhead."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(2):
            fn(q, k, v)
    torch.cuda.current_stream().wait_stream(s)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn(q, k, v)
    return graph.replay


def _torch_path(q, k, v, bi, block_size):
    with nsa_ops.use_backend("torch"):
        return nsa_ops.selection_attention(q, k, v, bi, block_size=block_size)


def _write(rows, args, on_cuda):
    if args.csv:
        os.makedirs(os.path.dirname(os.path.abspath(args.csv)), exist_ok=True)
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    if args.plot and on_cuda:
        _plot(rows, args.plot)
    cols = ["case", "dist", "distinct_per_tile", "ms", "graph_ms", "target_ms", "dense_ms", "dense_graph_ms",
            "torch_path_ms", "fla_ms",
            "speedup_vs_dense", "tflops", "kv_gbps", "max_abs_err", "check"]
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in cols]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
    for r in rows:
        print("  ".join(str(r[c]).ljust(w) for c, w in zip(cols, widths)))


def _plot(rows, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot")
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, kind in zip(axes, ("fwd", "fwd+bwd")):
        for G in ("G16", "G4", "G1"):
            for dist, style in (("random", "-o"), ("local", "--o")):
                pts = [(int(r["case"].split("T=")[1].rstrip("k")), r["ms"]) for r in rows
                       if r["case"].startswith(kind + " ") and f" {G} " in r["case"] and "D=192" not in r["case"]
                       and r["dist"] == dist]
                if pts:
                    ax.plot(*zip(*sorted(pts)), style, label=f"{G} {dist}")
            dense = [(int(r["case"].split("T=")[1].rstrip("k")), r["dense_ms"]) for r in rows
                     if r["case"].startswith(kind + " ") and f" {G} " in r["case"] and "D=192" not in r["case"]
                     and r["dist"] == "random"]
            if dense:
                ax.plot(*zip(*sorted(dense)), ":", color="gray")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("T (k tokens)")
        ax.set_ylabel("ms")
        ax.set_title(f"{kind} (dotted: dense SDPA)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def add_parser(sub):
    p = sub.add_parser("bench", help="self-check and benchmark (CPU shape without a GPU, TARGETS.md cases on CUDA)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--cases", nargs="*", help="substrings of case names to run")
    p.add_argument("--dist", nargs="*", choices=["random", "local"], help="selection distributions")
    p.add_argument("--csv", default=None, help="write results as CSV here")
    p.add_argument("--plot", default=None, help="write a PNG plot here (CUDA runs)")
    p.set_defaults(func=run_bench)
