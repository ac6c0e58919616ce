"""dK/dV piece length (``configs.dkv_piece_tokens``: how many entries of a block's query list one
program walks before the next program takes over) on the TARGETS.md shapes (B=1, D=Dv=128,
S=16x64, bf16, random selection). Longer pieces write fewer fp32 partials (and the reduce reads
fewer), shorter ones spread block 0's long list over more programs. Per length: the backward
op's time (do_bench median), bitwise run-to-run equality and the largest difference from the
default length's gradients.

    python bench/exp_pieces.py [G16 G4 G1] [T=16384,65536] [--profile]
"""
from __future__ import annotations

import sys

import torch

from exp_backward import SHAPES, bench, bwd, fwd, kernel_profile, print_summary, problem, rel_diff
from nsa_ops.kernels import backward as bw

ORIG = bw.dkv_piece_tokens


def main():
    names = [a for a in sys.argv[1:] if not a.startswith("-") and "=" not in a] or list(SHAPES)
    Ts = [int(t) for t in dict(a.split("=") for a in sys.argv[1:] if "=" in a).get("T", "16384,65536").split(",")]
    table = []
    for T in Ts:
        for name in names:
            q, k, v, bi, do = problem(name, T)
            G = SHAPES[name][0] // SHAPES[name][1]
            out, lse = fwd(q, k, v, bi)
            base = ORIG(G)
            ref = None
            for piece in sorted({base // 2, base, base * 2, base * 4, base * 8}):
                bw.dkv_piece_tokens = lambda g, _p=piece: _p
                try:
                    g1 = bwd(q, k, v, bi, do, out, lse)
                    g2 = bwd(q, k, v, bi, do, out, lse)
                    same = all(torch.equal(a, b) for a, b in zip(g1, g2))
                    if piece == base:
                        ref = [x.clone() for x in g1]
                    ms = bench(lambda: bwd(q, k, v, bi, do, out, lse))
                    line = (f"{name} T={T} bwd piece {piece:6d}{' (default)' if piece == base else '          '} "
                            f"{ms:8.3f} ms  {'bitwise-same' if same else 'NOT-DETERMINISTIC'}")
                    if "--profile" in sys.argv:
                        kernel_profile(lambda: bwd(q, k, v, bi, do, out, lse), f"{name} T={T} piece {piece}")
                    table.append((line, g1 if ref is None else rel_diff(g1, ref)))
                except Exception as e:  # noqa: BLE001
                    table.append((f"{name} T={T} bwd piece {piece:6d} FAILED {type(e).__name__}: {str(e)[:120]}",
                                  None))
                finally:
                    bw.dkv_piece_tokens = ORIG
                print(table[-1][0], flush=True)
            # differences from the default length, now that it has run
            table = [(line, rel_diff(d, ref) if isinstance(d, (list, tuple)) else d) for line, d in table]
            q = k = v = bi = do = out = lse = ref = None
            torch.cuda.empty_cache()
    print_summary([line if d is None else f"{line}  diff {d:.1e}" for line, d in table])


if __name__ == "__main__":
    main()
