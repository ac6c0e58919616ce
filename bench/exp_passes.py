"""Is the G16 token-centric forward / dQ at T=64k limited by L2 *capacity*?

Per token, the work at 64k equals the work at 16k (16 blocks of 64 keys per (token, kv head)),
yet the shipped forward takes 16.56 ms at 64k against 4 x 3.64 = 14.56 at 16k (run 57), and the
session-7 loads-only floor scaled the same way (3.66 -> 16.46). The grid runs one kv head after
another, so the K/V a head's programs read is that head's K and V: 8 MB at 16k, 32 MB at 64k.
If the L2 (50 MB, two partitions) holds 8 MB but not 32 MB of randomly re-read blocks, cutting
the set of blocks a pass may read should bring 64k back to the 16k rate per token.

Measured here (G16 bf16 D=128, random selection, inputs rotated past L2):

- ``fwd 1 pass``: the token-centric forward kernel alone (TMA where eligible, no multi-token
  kernel), as shipped.
- ``fwd P passes``: P launches of the same kernel, pass p keeping only block ids in
  ``[p*NB/P, (p+1)*NB/P)`` (the others masked to -1); their (out, lse) merge by LSE afterwards
  (torch, timed separately as ``merge``). The merged output is checked against the 1-pass one.
- ``fwd window``: one pass on a selection whose random blocks come from the 256 most recent
  blocks: a 16k-sized working set at 64k (a diagnostic, not the same workload).
- ``dq 1 pass`` / ``dq P passes``: the token-centric dQ kernel alone; with the full lse and
  delta, dQ is a plain sum over blocks, so the P passes' dq add up (checked against 1 pass).

    python bench/exp_passes.py
"""
from __future__ import annotations

import os
import sys

import torch

from nsa_ops import bench as B

sys.path.insert(0, os.path.dirname(__file__))
from exp_backward import print_summary  # noqa: E402
from exp_token import backward_inputs, experiment, table_row, token_dq, token_fwd  # noqa: E402


def split(bi, nb, passes):
    edges = [nb * p // passes for p in range(passes + 1)]
    return [torch.where((bi >= lo) & (bi < hi), bi, -1).contiguous() for lo, hi in zip(edges, edges[1:])]


def merge(parts):
    lses = torch.stack([lse for _, lse in parts])  # [P, B, T, HQ]
    m = lses.amax(0)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    w = torch.exp(lses - m)
    den = w.sum(0)
    out = sum(w[i][..., None] * o.float() for i, (o, _) in enumerate(parts)) / den.clamp_min(1e-30)[..., None]
    return out.to(parts[0][0].dtype), m + torch.log(den)


def window_selection(bi, window):
    """Same forced blocks; the random ones redrawn among the ``window`` most recent blocks."""
    T = bi.shape[1]
    own = (torch.arange(T, device=bi.device) // 64).view(1, T, 1, 1)
    g = torch.Generator(device=bi.device).manual_seed(7)
    r = torch.rand(bi.shape[0], T, bi.shape[2], bi.shape[3] - 3, device=bi.device, generator=g)
    lo = (own - window + 1).clamp(min=0)
    rest = lo + (r * (own - lo + 1)).long()
    return torch.cat([bi[..., :3], rest.to(bi.dtype)], -1).contiguous()


def main():
    dev, l2, timer, cases, only = experiment()
    table = []
    for name in ("fwd G16 T=16k", "fwd G16 T=64k"):
        if only and not any(o in name for o in only):
            continue
        case = cases[name]
        copies = B.input_copies(case, "random", torch.bfloat16, dev, l2)
        nb = (case.Tk + 63) // 64
        extra = backward_inputs(copies)
        for x, e in zip(copies, extra):
            e["win"] = window_selection(x.block_indices, 256)
            e.update({f"p{p}": split(x.block_indices, nb, p) for p in (2, 3, 4)})
        x, e = copies[0], extra[0]
        ref_out, ref_lse = token_fwd(x)
        ref_dq = token_dq(x, e)
        for p in (2, 3, 4):
            mo, ml = merge([token_fwd(x, bi) for bi in e[f"p{p}"]])
            dq = sum(token_dq(x, e, bi).float() for bi in e[f"p{p}"])
            table.append(f"{name} check {p} passes: max|out - 1 pass| {(mo.float() - ref_out.float()).abs().max():.2e}"
                         f", max|lse| {(ml - ref_lse).abs().nan_to_num(0).max():.2e}"
                         f", max|dq - 1 pass| {(dq - ref_dq.float()).abs().max():.2e}")
            print(table[-1], flush=True)

        def fwd_passes(key):
            return [lambda x=x, e=e: [token_fwd(x, bi) for bi in e[key]] for x, e in zip(copies, extra)]

        def dq_passes(key):
            return [lambda x=x, e=e: [token_dq(x, e, bi) for bi in e[key]]
                    for x, e in zip(copies, extra)]

        for k, e in enumerate(extra):
            e["p1"] = [copies[k].block_indices]
            e["win1"] = [e["win"]]
        variants = [("fwd 1 pass", fwd_passes("p1"))]
        variants += [(f"fwd {p} passes", fwd_passes(f"p{p}")) for p in (2, 3, 4)]
        variants += [(f"fwd pass {i + 1}/2 alone", [lambda x=x, e=e, i=i: token_fwd(x, e["p2"][i])
                                                     for x, e in zip(copies, extra)]) for i in range(2)]
        variants += [("merge 2 (torch)", [lambda x=x, e=e: merge([token_fwd(x, bi) for bi in e["p2"]])
                                          for x, e in zip(copies, extra)])]
        variants += [("fwd window 256", fwd_passes("win1"))]
        variants += [("dq 1 pass", dq_passes("p1"))]
        variants += [(f"dq {p} passes", dq_passes(f"p{p}")) for p in (2, 3, 4)]
        for tag, calls in variants:
            def measure(calls=calls):
                ms = timer(B.cycling(calls))
                return f"{ms:8.3f} ms   ({ms / case.T * 16384:6.3f} ms per 16k tokens)"
            table_row(table, f"{name:14s} {tag:22s}", measure)
        copies = extra = x = e = None
        torch.cuda.empty_cache()
    print_summary(table)


if __name__ == "__main__":
    main()
