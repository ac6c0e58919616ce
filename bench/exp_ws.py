"""Session 27: Triton's Hopper warp specialization on the dK/dV pieces kernel's chunk loop.

Session 13 found that ``tl.range(..., warp_specialize=True)`` does not compile the KV-centric
forward gather on Triton 3.6 (the ``NVGPUWarpSpecialization`` pass fails); upstream reports the
same for pointer-based loops with ``tl.dot`` (triton-lang/triton#9728). This checks the dK/dV
pieces kernel, the one the G16 fwd+bwd rows would need faster: its source with the chunk loop
as ``tl.range(..., warp_specialize=True)`` is written to a sibling module file and swapped in
for one variant; the whole op is timed against the shipped kernel (gradients compared).

    python bench/exp_ws.py [filter ...]
"""
from __future__ import annotations

import importlib.util
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from exp_token import run_op_variants  # noqa: E402

from nsa_ops.kernels import backward as bwd  # noqa: E402

SHIPPED = bwd._selection_dkv_piece_kernel
LOOP = "        for c in range(lo, hi, chunk_tokens):\n"


def ws_kernel(num_stages=None):
    src = open(bwd.__file__).read()
    assert src.count(LOOP) == 1, "the dK/dV chunk loop moved; update exp_ws.py"
    extra = "" if num_stages is None else f", num_stages={num_stages}"
    src = src.replace(LOOP, f"        for c in tl.range(lo, hi, chunk_tokens, warp_specialize=True{extra}):\n")
    path = os.path.join(os.path.dirname(bwd.__file__), f"_backward_ws{num_stages or ''}.py")
    with open(path, "w") as f:
        f.write(src)
    name = f"{bwd.__package__}._backward_ws{num_stages or ''}"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod._selection_dkv_piece_kernel


def inspect_compiled(kernels) -> None:
    """For each variant's compiled kernels: warps, shared memory, and whether the TTGIR holds
    a warp-specialized region (``ttg.warp_specialize``) or partition tags."""
    for label, k in kernels.items():
        for dev_cache in getattr(k, "device_caches", {}).values():
            for key, ck in dev_cache[0].items():
                ttgir = ck.asm.get("ttgir", "")
                print(f"{label}: num_warps {ck.metadata.num_warps}, shared {ck.metadata.shared} B, "
                      f"ttg.warp_specialize {ttgir.count('ttg.warp_specialize')}, "
                      f"partition tags {ttgir.count('ttg.partition')}, "
                      f"async_task {ttgir.count('async_task')}", flush=True)


def main():
    kernels = {"shipped": SHIPPED, "ws": ws_kernel()}
    if "--inspect" in sys.argv:  # after one call of each, what Triton compiled
        sys.argv.remove("--inspect")
        from nsa_ops import bench as B

        case = {c.name: c for c in B.cuda_cases()}["fwd+bwd G16 T=16k"]
        import torch

        x = B.input_copies(case, "random", torch.bfloat16, torch.device("cuda"), 0)[0]
        for label, k in kernels.items():
            bwd._selection_dkv_piece_kernel = k
            q, kk, v = (t.detach().clone().requires_grad_(True) for t in (x.q, x.k, x.v))
            B._nsa_ops(case)(B.dataclasses.replace(x, q=q, k=kk, v=v)).sum().backward()
        bwd._selection_dkv_piece_kernel = SHIPPED
        torch.cuda.synchronize()
        inspect_compiled(kernels)
        return

    def apply(variant):
        bwd._selection_dkv_piece_kernel = kernels[variant]
        return variant

    def reset():
        bwd._selection_dkv_piece_kernel = SHIPPED

    runs = [(("fwd+bwd G16 T=16k", "random"), ["shipped", "ws", "shipped", "ws"]),
            (("fwd+bwd G4 T=16k", "random"), ["shipped", "ws"]),
            (("fwd+bwd G16 D=192 T=16k", "random"), ["shipped", "ws"])]
    run_op_variants(runs, apply, reset)


if __name__ == "__main__":
    main()
