"""Session 15: which schedule wins at the group sizes TARGETS.md does not list (G8, G2, G6, G32),
with today's kernels. ``configs.forward_schedule`` / ``dq_schedule`` were chosen on session 2's
kernels (G8: token forward 4.30 vs kv 6.45 ms, kv dQ 7.18 vs token 7.65 ms backward); both
families have changed since (TMA token tiles, the near pass, int16 CSR keys). Whole op,
variants interleaved in one process (``exp_token.op_variants``: outputs and gradients compared
with the first variant's, the output with the float64 reference).

    python bench/exp_schedule.py [--g12 | --g16 | --g16kv | --g16dq] [filter ...]

Run 98: the G8 / G2 / G6 / G32 table; ``--g12`` (run 99): G10, G12 and G8 at 64k; ``--g16``
(run 101): the G16 rows with the gathered dQ. ``--g16kv`` (session 26): the G16 rows with the
KV-centric forward (not timed at G16 since session 2), with either dQ; ``--g16dq`` (prepared):
the gathered dQ against the token dQ at G16 on both selections, with the 1024-token dK/dV pieces.
"""
from __future__ import annotations

import os
import sys

from nsa_ops import bench as B
from nsa_ops.kernels import backward as bwd
from nsa_ops.kernels import configs
from nsa_ops.kernels import forward as fwd

sys.path.insert(0, os.path.dirname(__file__))
from exp_token import run_op_variants  # noqa: E402

REAL = dict(fwd=fwd.forward_schedule, dq=bwd.dq_schedule, cfg=configs.forward_schedule)
SHAPES = {8: (64, 8), 2: (32, 16), 6: (48, 8), 32: (64, 2), 12: (48, 4), 10: (40, 4)}  # G -> (HQ, H)


def extra_cases():
    cases = []
    for G, (HQ, H) in SHAPES.items():
        for kind in ("fwd", "fwd+bwd"):
            for T in (16384, 65536):
                cases.append(B.Case(f"{kind} G{G} T={T // 1024}k", kind, 1, T, T, HQ, H))
    return cases


def reset() -> None:
    fwd.forward_schedule, bwd.dq_schedule = REAL["fwd"], REAL["dq"]
    configs.forward_schedule = REAL["cfg"]


def apply(variant: dict) -> str:
    reset()
    if "fwd" in variant:
        fwd.forward_schedule = lambda *a, s=variant["fwd"]: s
        # forward_kv.reuses_csr reads the configs' one: the training op hands its CSR over
        configs.forward_schedule = fwd.forward_schedule
    if "dq" in variant:
        bwd.dq_schedule = lambda *a, s=variant["dq"]: s
    return " ".join(f"{n}={v}" for n, v in variant.items()) or "shipped"


def main():
    base = B.cuda_cases
    B.cuda_cases = lambda: base() + extra_cases()
    tok, kv = {"fwd": "token"}, {"fwd": "kv"}
    if "--g16kv" in sys.argv:  # session 26: the G16 rows on the KV-centric forward (today's gather)
        sys.argv.remove("--g16kv")
        both = lambda f, d: {"fwd": f, "dq": d}  # noqa: E731
        runs = [(("fwd G16 T=64k", "random"), [tok, kv, tok, kv]),
                (("fwd G16 T=16k", "random"), [tok, kv, tok, kv]),
                (("fwd G16 T=64k", "local"), [tok, kv]),
                (("fwd G16 T=16k", "local"), [tok, kv]),
                (("fwd G16 D=192 T=16k", "random"), [tok, kv]),
                (("fwd+bwd G16 T=64k", "random"), [{}, both("kv", "token"), both("kv", "kv"), both("token", "kv")]),
                (("fwd+bwd G16 T=16k", "random"), [{}, both("kv", "token"), both("kv", "kv")]),
                (("fwd+bwd G16 T=16k", "local"), [{}, both("kv", "token"), both("kv", "kv")]),
                (("fwd+bwd G16 D=192 T=16k", "random"), [{}, both("kv", "token"), both("kv", "kv")]),
                (("fwd+bwd G16 T=64k", "local"), [{}, both("kv", "token"), both("kv", "kv")])]
        run_op_variants(runs, apply, reset)
        return
    if "--g16dq" in sys.argv:  # session 26 (prepared): the gathered dQ at G16 with 1024-token dK/dV pieces
        sys.argv.remove("--g16dq")
        dq = lambda d: {"dq": d}  # noqa: E731
        runs = [(("fwd+bwd G16 T=64k", "random"), [dq("token"), dq("kv"), dq("token"), dq("kv")]),
                (("fwd+bwd G16 T=64k", "local"), [dq("token"), dq("kv")]),
                (("fwd+bwd G16 T=16k", "random"), [dq("token"), dq("kv")]),
                (("fwd+bwd G16 T=16k", "local"), [dq("token"), dq("kv")])]
        run_op_variants(runs, apply, reset)
        return
    if "--g16" in sys.argv:  # run 101: the TARGETS.md G16 rows with the gathered dQ
        sys.argv.remove("--g16")
        dq = lambda d: {"dq": d}  # noqa: E731
        runs = [(("fwd+bwd G16 T=16k", "random"), [dq("token"), dq("kv"), dq("token"), dq("kv")]),
                (("fwd+bwd G16 D=192 T=16k", "random"), [dq("token"), dq("kv")]),
                (("fwd+bwd G16 T=64k", "random"), [dq("token"), dq("kv")]),
                (("fwd+bwd G16 T=16k", "local"), [dq("token"), dq("kv")])]
        run_op_variants(runs, apply, reset)
        return
    if "--g12" in sys.argv:  # run 99: the crossover (G10, G12) and G8 at 64k
        sys.argv.remove("--g12")
        both = lambda f, d: {"fwd": f, "dq": d}  # noqa: E731
        runs = [(("fwd G12 T=16k", "random"), [tok, kv, tok, kv]),
                (("fwd+bwd G12 T=16k", "random"), [both("token", "token"), both("token", "kv"), both("kv", "kv"),
                                                   both("kv", "token")]),
                (("fwd G10 T=16k", "random"), [tok, kv]),
                (("fwd+bwd G10 T=16k", "random"), [both("token", "kv"), both("kv", "kv"), both("token", "token")]),
                (("fwd G8 T=64k", "random"), [tok, kv]),
                (("fwd+bwd G8 T=64k", "random"), [both("token", "kv"), both("kv", "kv")]),
                (("fwd G12 T=16k", "local"), [tok, kv])]
        run_op_variants(runs, apply, reset)
        return
    runs = [(("fwd G8 T=16k", "random"), [tok, kv, tok, kv]),
            (("fwd G8 T=16k", "local"), [tok, kv]),
            (("fwd+bwd G8 T=16k", "random"), [{"fwd": "token", "dq": "kv"}, {"fwd": "token", "dq": "token"},
                                              {"fwd": "kv", "dq": "kv"}, {"fwd": "kv", "dq": "token"},
                                              {"fwd": "token", "dq": "kv"}]),
            (("fwd+bwd G8 T=16k", "local"), [{"fwd": "token", "dq": "kv"}, {"fwd": "token", "dq": "token"},
                                             {"fwd": "kv", "dq": "kv"}]),
            (("fwd G2 T=16k", "random"), [kv, tok]),
            (("fwd+bwd G2 T=16k", "random"), [{}, {"dq": "token"}]),
            (("fwd G6 T=16k", "random"), [kv, tok]),
            (("fwd+bwd G6 T=16k", "random"), [{}, {"dq": "token"}, {"fwd": "token", "dq": "token"}]),
            (("fwd G32 T=16k", "random"), [tok, kv]),
            (("fwd+bwd G32 T=16k", "random"), [{}, {"dq": "kv"}])]
    run_op_variants(runs, apply, reset)


if __name__ == "__main__":
    main()
