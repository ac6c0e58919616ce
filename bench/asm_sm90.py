"""Compile the kernels a launcher starts for an H100 (sm_90a) on a machine without a GPU, and
report what ptxas made of them: registers, spill bytes, shared memory, wgmma vs mma.sync
(``--dump DIR`` also writes each kernel's TTGIR, PTX and SASS).

The launchers run on CPU tensors with ``torch.library.wrap_triton`` replaced by a recorder, so
no kernel executes (outputs stay uninitialised); each launch is specialised by Triton's own
binder (the same signature, constexprs and alignment attributes a GPU launch would get) and
compiled for the target. Use the Triton version the GPU has (3.6 on the device tool):

    pip install --no-deps triton==3.6.0 --target /work/t36
    PYTHONPATH=/work/t36 python bench/asm_sm90.py G16 G4 [--dump DIR]

A register/spill report, not a timing: decide speed on the GPU.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile

import torch

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource, make_backend
from triton.runtime.jit import create_function_from_signature

TARGET = GPUTarget("cuda", 90, 32)
BACKEND = make_backend(TARGET)
REPORT = []
DUMP = None


def ptxas_report(ptx: str, arch: str = "sm_90a") -> str:
    ptxas = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "ptxas")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "k.ptx")
        with open(path, "w") as f:
            f.write(ptx)
        res = subprocess.run([ptxas, "-v", f"--gpu-name={arch}", path, "-o", os.path.join(d, "k.o")],
                             capture_output=True, text=True)
    return res.stderr


def compile_launch(fn, args, kwargs):
    binder = create_function_from_signature(fn.signature, fn.params, BACKEND)
    bound_args, specialization, options = binder(*args, **kwargs)
    options, signature, constexprs, attrs = fn._pack_args(BACKEND, kwargs, bound_args, specialization, options)
    src = ASTSource(fn, signature, constexprs, attrs)
    compiled = triton.compile(src, target=TARGET, options=options.__dict__)
    ptx = compiled.asm["ptx"]
    text = ptxas_report(ptx)
    regs = re.search(r"Used (\d+) registers", text)
    spill_st = re.search(r"(\d+) bytes spill stores", text)
    spill_ld = re.search(r"(\d+) bytes spill loads", text)
    ttgir = compiled.asm["ttgir"]
    row = dict(kernel=fn.__name__, warps=options.num_warps, stages=options.num_stages,
               regs=int(regs.group(1)) if regs else -1,
               spill_st=int(spill_st.group(1)) if spill_st else -1,
               spill_ld=int(spill_ld.group(1)) if spill_ld else -1,
               smem=compiled.metadata.shared, wgmma=ttgir.count("warp_group_dot "), mma=ttgir.count("tt.dot "))
    REPORT.append(row)
    if DUMP:
        os.makedirs(DUMP, exist_ok=True)
        base = os.path.join(DUMP, f"{fn.__name__}_w{row['warps']}_s{row['stages']}")
        for ext in ("ttgir", "ptx"):
            with open(f"{base}.{ext}", "w") as f:
                f.write(compiled.asm[ext])
        # SASS too (session 21 counted instructions per loop iteration in it): cuobjdump ships
        # with Triton next to ptxas.
        with open(f"{base}.cubin", "wb") as f:
            f.write(compiled.asm["cubin"])
        cuobjdump = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
        sass = subprocess.run([cuobjdump, "-sass", f"{base}.cubin"], capture_output=True, text=True).stdout
        with open(f"{base}.sass", "w") as f:
            f.write(sass)


class _Recorder:
    def __init__(self, fn):
        self.fn = fn

    def __getitem__(self, grid):
        return lambda *args, **kwargs: compile_launch(self.fn, args, kwargs)


def install():
    """Kernels only compile; buffers they would fill start as zeros (not torch.empty's garbage),
    so host code that sizes or indexes from them (``split_into_pieces``) stays in range."""
    torch.library.wrap_triton = _Recorder
    empty = torch.empty

    def zeros(*args, **kwargs):
        return empty(*args, **kwargs).zero_()

    torch.empty = zeros


def print_report():
    print(f"{'kernel':34s} {'w':>2s} {'s':>2s} {'regs':>4s} {'spill st/ld B':>14s} {'smem':>7s} {'wgmma':>5s} {'mma':>4s}")
    for r in REPORT:
        print(f"{r['kernel']:34s} {r['warps']:2d} {r['stages']:2d} {r['regs']:4d} "
              f"{r['spill_st']:6d}/{r['spill_ld']:<7d} {r['smem']:7d} {r['wgmma']:5d} {r['mma']:4d}")
    REPORT.clear()


SHAPES = {"G16": (64, 4, 128), "G4": (32, 8, 128), "G1": (16, 16, 128), "D192": (64, 4, 192)}


def backward_launch(name: str, T: int = 1024):
    """The backward launcher (dQ kernels for G16, the dK/dV pieces and reduces) on CPU tensors."""
    from nsa_ops.kernels import backward as bw
    from nsa_ops.kernels.csr import build_entry_csr

    HQ, H, D = SHAPES[name]
    q = torch.randn(1, T, HQ, D, dtype=torch.bfloat16)
    k = torch.randn(1, T, H, D, dtype=torch.bfloat16)
    v = torch.randn(1, T, H, 128, dtype=torch.bfloat16)
    do = torch.randn(1, T, HQ, 128, dtype=torch.bfloat16)
    out = torch.randn(1, T, HQ, 128, dtype=torch.bfloat16)
    lse = torch.randn(1, T, HQ)
    S = 16
    bi = torch.randint(0, T // 64, (1, T, H, S), dtype=torch.int32)
    NB = T // 64
    csr = build_entry_csr(bi, None, 64, T, NB)
    q_last = torch.zeros(T, dtype=torch.int32)
    block_start = torch.arange(0, T, 64, dtype=torch.int32)
    bw.selection_backward(do, q, k, v, lse, None, q_last, block_start, csr, 64, D ** -0.5,
                          raw=(bi, None), out=out, dlse=torch.zeros_like(lse), packed=False)


def forward_launch(name: str, T: int = 1024):
    """The forward launcher the dispatcher picks for the shape (token-centric with the
    multi-token kernel, or for small G the KV-centric gather and its combine) on CPU tensors."""
    from nsa_ops.kernels.configs import forward_schedule
    from nsa_ops.kernels.forward import selection_forward_raw
    from nsa_ops.kernels.forward_kv import selection_forward_kv

    HQ, H, D = SHAPES[name]
    q = torch.randn(1, T, HQ, D, dtype=torch.bfloat16)
    k = torch.randn(1, T, H, D, dtype=torch.bfloat16)
    v = torch.randn(1, T, H, 128, dtype=torch.bfloat16)
    bi = torch.randint(0, T // 64, (1, T, H, 16), dtype=torch.int32)
    if forward_schedule(HQ // H, D, 128, 64) == "kv":
        selection_forward_kv(q, k, v, bi, None, 64, D ** -0.5)
    else:
        selection_forward_raw(q, k, v, bi, None, 64, D ** -0.5)


def main():
    global DUMP
    argv = sys.argv[1:]
    if "--dump" in argv:
        i = argv.index("--dump")
        DUMP = argv[i + 1]
        del argv[i:i + 2]
    install()
    for name in argv or ["G16", "G4", "D192"]:
        for label, launch in (("forward", forward_launch), ("backward", backward_launch)):
            print(f"== {label} {name}")
            launch(name)
            print_report()


if __name__ == "__main__":
    main()
