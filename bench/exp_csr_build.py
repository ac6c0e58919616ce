"""Session 26: the entry CSR's build alone, as the inference forward builds it (near blocks out of
the lists, the query windows the forward takes, positions), timed with do_bench on the
TARGETS.md random selections: the radix sort (stable) against the counting sort on int atomics
(``csr.UNORDERED_CSR``), and the entry-key kernel's shape (``csr.ENTRY_KEYS_ELEMS`` / ``_WARPS``;
run 167 also timed commit c18f465's duplicate loop, since removed). Each variant's lists are checked against the stable CSR's (sorted per row).

    python bench/exp_csr_build.py
"""
from __future__ import annotations

import torch
import triton

from nsa_ops.kernels import csr
from nsa_ops.kernels.forward_kv import query_windows
from nsa_ops.selections import random_selection

CASES = {"G4 64k": (65536, 32, 8), "G4 16k": (16384, 32, 8), "G1 64k": (65536, 16, 16), "G8 16k": (16384, 64, 8)}
VARIANTS = [("stable", True, 256, 4), ("atomic", False, 256, 4), ("atomic 512", False, 512, 4),
            ("atomic 1024 w8", False, 1024, 8), ("atomic 128", False, 128, 4), ("atomic 512 w8", False, 512, 8)]


def main():
    lines = []
    for name, (T, HQ, H) in CASES.items():
        g = torch.Generator(device="cuda").manual_seed(0)
        bi = random_selection(1, T, H, 16, 64, device="cuda", generator=g)
        NB = T // 64
        nw = query_windows(1, T, T, H, NB, HQ // H * 128 * 2, 512, 8 << 20)
        ref = None
        for tag, stable, elems, warps in VARIANTS:
            csr.ENTRY_KEYS_ELEMS, csr.ENTRY_KEYS_WARPS = elems, warps
            build = lambda: csr.build_entry_csr(bi, None, 64, T, NB, positions=True, near=True, windows=nw,  # noqa: E731
                                                stable=stable)
            c = build()
            off, ent = c.offsets.cpu(), c.entries.cpu()
            rows = [sorted(ent[off[r]:off[r + 1]].tolist()) for r in range(0, off.numel() - 1, 97)]
            ref = ref or (off, rows)
            same = torch.equal(off, ref[0]) and rows == ref[1]
            ms = triton.testing.do_bench(build, warmup=50, rep=300)
            lines.append(f"{name:7s} windows {nw}  {tag:22s}: {ms * 1e3:8.1f} us   lists {'same' if same else 'DIFFER'}")
            print(lines[-1], flush=True)
        csr.ENTRY_KEYS_ELEMS, csr.ENTRY_KEYS_WARPS = 256, 4
    print("\n==== summary ====")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
