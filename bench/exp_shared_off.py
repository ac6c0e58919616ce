"""What the multi-token (shared K/V) kernels cost where they take no tile: the G16 op with and
without them (``configs.shared_tile`` patched to None in the forward and backward launchers),
interleaved twice in one process, on the random rows (where no tile qualifies) and the local
ones (where most do). Outputs and gradients compared with the first variant (max-abs).

    python bench/exp_shared_off.py [filter ...]
"""
from __future__ import annotations

import os
import sys

import torch

from nsa_ops import bench as B
from nsa_ops.kernels import backward as bwd
from nsa_ops.kernels import forward as fwd

sys.path.insert(0, os.path.dirname(__file__))
from exp_backward import print_summary  # noqa: E402
from exp_token import experiment  # noqa: E402

REAL = fwd.shared_tile, bwd.shared_tile


def set_shared(on: bool) -> None:
    fwd.shared_tile = REAL[0] if on else (lambda *a, **k: None)
    bwd.shared_tile = REAL[1] if on else (lambda *a, **k: None)


def main():
    dev, l2, timer, cases, only = experiment()
    table = []
    runs = [("fwd G16 T=16k", "random"), ("fwd G16 T=64k", "random"), ("fwd+bwd G16 T=16k", "random"),
            ("fwd G16 T=16k", "local"), ("fwd+bwd G16 T=64k", "random"), ("fwd G16 T=64k", "local"),
            ("fwd+bwd G16 T=16k", "local"), ("fwd+bwd G16 T=64k", "local")]
    for name, dist in runs:
        if only and not any(o in f"{name} {dist}" for o in only):
            continue
        case = cases[name]
        copies = B.input_copies(case, dist, torch.bfloat16, dev, l2)
        fn = B._nsa_ops(case)
        ref = None
        for on in (True, False, True, False):
            set_shared(on)
            tag = "shared on" if on else "shared off"
            try:
                x = copies[0]
                q, k, v = (t.detach().clone().requires_grad_() for t in (x.q, x.k, x.v))
                out = fn(B.dataclasses.replace(x, q=q, k=k, v=v))
                got = (out.detach(),) + (torch.autograd.grad(out, (q, k, v), torch.ones_like(out))
                                         if case.kind == "fwd+bwd" else ())
                ref = got if ref is None else ref
                err = max((a.float() - b.float()).abs().max().item() for a, b in zip(got, ref))
                ms = timer(B.cycling([B._runner(fn, case.kind, c) for c in copies]))
                table.append(f"{name:20s} {dist:6s} {tag:10s}: {ms:8.3f} ms   max|diff| vs first {err:.2e}")
            except Exception as ex:  # noqa: BLE001 -- an experiment: report and go on
                table.append(f"{name:20s} {dist:6s} {tag:10s}: FAILED {type(ex).__name__}: {str(ex)[:150]}")
            print(table[-1], flush=True)
        set_shared(True)
        del copies
        torch.cuda.empty_cache()
    print_summary(table)


if __name__ == "__main__":
    main()
