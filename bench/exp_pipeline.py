"""Software pipelining of the gathered KV-centric loops (the small-G forward gather and the
dK/dV pieces): Triton 3.6 gives these loops, whose q / dO row loads depend on the entry ids
loaded in the same loop, ``async_wait {num = 0}`` at num_stages <= 4 (the next chunk's loads are
issued after this chunk's math and waited for at once: no overlap; ``bench/asm_sm90.py --dump``
shows it without a GPU), and a real pipeline (waits with num 1-7) from num_stages = 5, at the
cost of shared memory and some spills. This times the whole op with more stages, interleaved
in one process (``exp_token.op_variants``), outputs and gradients compared with the shipped.

    python bench/exp_pipeline.py [filter ...]
"""
from __future__ import annotations

import os
import sys

from nsa_ops.kernels import backward as bwd
from nsa_ops.kernels import csr
from nsa_ops.kernels import forward_kv as fkv

sys.path.insert(0, os.path.dirname(__file__))
from exp_token import run_op_variants  # noqa: E402

REAL = fkv.forward_kv_tile, bwd.dkv_tile, csr.LOWER_BOUND_BLOCK


def reset() -> None:
    fkv.forward_kv_tile, bwd.dkv_tile, csr.LOWER_BOUND_BLOCK = REAL


def apply(variant: dict) -> str:
    reset()
    kv, dkv = variant.get("kv"), variant.get("dkv")
    csr.LOWER_BOUND_BLOCK = variant.get("lower_bound", REAL[2])
    if kv:
        fkv.forward_kv_tile = lambda *a, **k: REAL[0](*a, **k)._replace(**kv)
    if dkv:
        bwd.dkv_tile = lambda *a, **k: REAL[1](*a, **k)._replace(**dkv)
    return ", ".join(f"{name} {v}" for name, v in variant.items()) or "shipped"


def main():
    if "--after" in sys.argv:  # run 83: partials by position shipped; the offsets kernel's width
        sys.argv.remove("--after")
        lb = {"lower_bound": 128}
        v = [{}, lb, {"kv": dict(num_stages=3)}, {}, lb]
        runs = [(("fwd G4 T=16k", "random"), v), (("fwd G1 T=16k", "random"), v[:2] * 2),
                (("fwd G4 T=64k", "random"), v[:3]), (("fwd G1 T=64k", "random"), v[:2]),
                (("fwd+bwd G4 T=16k", "random"), v[:2] * 2), (("fwd G4 T=16k", "local"), v[:2])]
    elif "--position" in sys.argv:  # run 82: partials stored by list position (timing only: the
        # combine still reads them by entry id, so those outputs are wrong by design)
        sys.argv.remove("--position")
        pos = lambda s: {"kv": dict(num_stages=s, by_position=True)}  # noqa: E731
        g4 = [{}, pos(3), pos(5), {"kv": dict(num_stages=5)}, pos(6), {}, pos(5), pos(3)]
        runs = [(("fwd G4 T=16k", "random"), g4), (("fwd G1 T=16k", "random"), [{}, pos(2), {}, pos(2)]),
                (("fwd G4 T=64k", "random"), [{}, pos(5), pos(3)])]
    elif "--dkv" in sys.argv:  # run 81: the dK/dV pieces' warps and stages (spills vs L1 room)
        sys.argv.remove("--dkv")
        g16 = [{}, {"dkv": dict(num_stages=1)}, {"dkv": dict(num_warps=8, num_stages=1)},
               {"dkv": dict(num_warps=8, num_stages=2)}, {"dkv": dict(rows=128, num_warps=8, num_stages=1)}, {},
               {"dkv": dict(num_warps=8, num_stages=1)}, {"dkv": dict(num_stages=1)}]
        g4 = [{}, {"dkv": dict(num_stages=1)}, {"dkv": dict(num_stages=2)}, {},
              {"kv": dict(num_stages=5), "dkv": dict(num_stages=1)}, {"dkv": dict(num_stages=1)}]
        runs = [(("fwd+bwd G16 T=16k", "random"), g16), (("fwd+bwd G4 T=16k", "random"), g4),
                (("fwd+bwd G16 T=16k", "local"), g16[:3] + g16[5:7]),
                (("fwd+bwd G16 T=64k", "random"), [{}, {"dkv": dict(num_stages=1)},
                                                  {"dkv": dict(num_warps=8, num_stages=1)}]),
                (("fwd+bwd G4 T=64k", "random"), [{}, {"dkv": dict(num_stages=1)}])]
    else:  # run 80: more stages for the gathered loops
        fwd_variants = [{}, {"kv": dict(num_stages=4)}, {"kv": dict(num_stages=5)}, {"kv": dict(num_stages=6)},
                        {}, {"kv": dict(num_stages=5)}]
        g1_variants = [{}, {"kv": dict(rows=64, num_stages=5)}, {"kv": dict(rows=64, num_stages=3)}, {},
                       {"kv": dict(rows=64, num_stages=5)}]
        bwd_variants = [{}, {"dkv": dict(num_stages=5)}, {"kv": dict(num_stages=5), "dkv": dict(num_stages=5)},
                        {}, {"dkv": dict(num_stages=5)}]
        g16_variants = [{}, {"dkv": dict(num_stages=5)}, {"dkv": dict(num_stages=5, num_warps=8)}, {},
                        {"dkv": dict(num_stages=5)}]
        runs = [(("fwd G4 T=16k", "random"), fwd_variants), (("fwd G1 T=16k", "random"), g1_variants),
                (("fwd+bwd G4 T=16k", "random"), bwd_variants), (("fwd+bwd G1 T=16k", "random"), bwd_variants),
                (("fwd+bwd G16 T=16k", "random"), g16_variants), (("fwd G4 T=64k", "random"), fwd_variants[:3])]
    run_op_variants(runs, apply, reset)


if __name__ == "__main__":
    main()
