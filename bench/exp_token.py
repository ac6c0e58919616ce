"""Shared pieces of the token-kernel experiments (``exp_passes``, ``exp_union2``, ``exp_warps``,
``exp_warps2``): the G >= 8 token-centric forward and dQ launched alone on raw indices, a tile
or multi-token choice patched in for one call, and the inputs a dQ call needs per input copy."""
from __future__ import annotations

import contextlib

import torch

from nsa_ops.kernels import backward as bwd
from nsa_ops.kernels import forward as fwd


@contextlib.contextmanager
def patched(module, name: str, value):
    """``module.name = value`` for the block (nothing when ``value`` is None)."""
    real = getattr(module, name)
    if value is not None:
        setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, real)


def constant(value):
    return None if value is None else (lambda *a, **k: value)


def token_fwd(x, bi=None, tile=None, shared=None):
    """(out, lse) of the token forward on ``bi`` (default: x's indices); ``shared``: a
    ``configs.SharedTile`` for the multi-token kernel run first (None: not run)."""
    bi = x.block_indices if bi is None else bi
    with patched(fwd, "shared_tile", constant(shared)):
        return fwd._launch_token_forward(x.q, x.k, x.v, bi, bi, bi, bi, 64, x.q.shape[-1] ** -0.5, raw=True,
                                         has_counts=False, tile=tile, use_shared=shared is not None)


def token_dq(x, e, bi=None, tile=None, shared=None):
    """dq of the token dQ kernel with the saved lse / delta / dO of ``e`` (``backward_inputs``)."""
    bi = x.block_indices if bi is None else bi
    dq = torch.empty_like(x.q)
    with patched(bwd, "dq_tile", constant(tile)), patched(bwd, "shared_tile", constant(shared)):
        bwd._launch_token_dq(e["do"], x.q, x.k, x.v, e["lse"], e["delta"], dq, None, None, 64,
                             x.q.shape[-1] ** -0.5, None, None, (bi, None), shared is not None)
    return dq


def backward_inputs(copies, seed: int = 3):
    """Per input copy: the forward's lse, a random dO and delta = rowsum(dO * O)."""
    gen = torch.Generator(device=copies[0].q.device).manual_seed(seed)
    extra = []
    for x in copies:
        out, lse = token_fwd(x)
        do = torch.randn(out.shape, device=out.device, dtype=out.dtype, generator=gen)
        extra.append(dict(lse=lse, do=do, delta=(do.float() * out.float()).sum(-1)))
    return extra


def experiment():
    """The start of an experiment's main(): (device, L2 bytes, do_bench timer, the TARGETS.md
    cases by name, the command-line filters)."""
    import sys

    from nsa_ops import bench as B

    dev = torch.device("cuda")
    l2 = torch.cuda.get_device_properties(dev).L2_cache_size
    only = [a for a in sys.argv[1:] if not a.startswith("--")]
    return dev, l2, B.make_timer(dev, quick=False), {c.name: c for c in B.cuda_cases()}, only


def table_row(table, label: str, measure) -> None:
    """Appends ``label: measure()`` to ``table`` and prints it; a failure is reported as the
    row (an experiment goes on to its next variant)."""
    try:
        text = measure()
    except Exception as ex:  # noqa: BLE001
        text = f"FAILED {type(ex).__name__}: {str(ex)[:150]}"
    table.append(f"{label}: {text}")
    print(table[-1], flush=True)


def time_token_kernels(table, label: str, timer, copies, extra, ref_out, ref_dq, **choice) -> None:
    """One row per kernel (forward, dQ) of ``token_fwd`` / ``token_dq`` with ``choice`` (tile=
    or shared=): its time over the rotated input copies and its max-abs difference from the
    reference output / dq on copy 0."""
    from nsa_ops import bench as B

    x, e = copies[0], extra[0]
    for kind in ("fwd", "dq"):
        def measure(kind=kind):
            if kind == "fwd":
                err = (token_fwd(x, **choice)[0].float() - ref_out.float()).abs().max().item()
                calls = [lambda c=c: token_fwd(c, **choice) for c in copies]
            else:
                err = (token_dq(x, e, **choice).float() - ref_dq.float()).abs().max().item()
                calls = [lambda c=c, d=d: token_dq(c, d, **choice) for c, d in zip(copies, extra)]
            return f"{timer(B.cycling(calls)):8.3f} ms   max|diff| {err:.2e}"
        table_row(table, f"{label} {kind:3s}", measure)


def op_variants(runs, variants, apply, reset) -> list:
    """The whole op on each (case name, selection) of ``runs``, for each variant in order (list
    the variants twice to interleave them), timed on rotated input copies; ``apply(variant)``
    installs a variant and returns its label, ``reset()`` restores the shipped choice. Outputs
    and gradients are compared with the first variant's (max-abs), the output also with the
    float64 reference. Returns the table's lines."""
    from nsa_ops import bench as B

    dev, l2, timer, cases, only = experiment()
    table = []
    for name, dist in runs:
        if only and not any(o in f"{name} {dist}" for o in only):
            continue
        case = cases[name]
        copies = B.input_copies(case, dist, torch.bfloat16, dev, l2)
        fn = B._nsa_ops(case)
        ref = None
        for variant in variants:
            tag = apply(variant)
            try:
                x = copies[0]
                # Gradients only where timed: a forward-only call takes the inference path.
                q, k, v = (t.detach().clone().requires_grad_(case.kind == "fwd+bwd") for t in (x.q, x.k, x.v))
                out = fn(B.dataclasses.replace(x, q=q, k=k, v=v))
                got = (out.detach(),) + (torch.autograd.grad(out, (q, k, v), torch.ones_like(out))
                                         if case.kind == "fwd+bwd" else ())
                ref = got if ref is None else ref
                err = max((a.float() - b.float()).abs().max().item() for a, b in zip(got, ref))
                ref_err = B.check_rows(case, x, out.detach())[0]
                ms = timer(B.cycling([B._runner(fn, case.kind, c) for c in copies]))
                table.append(f"{name:20s} {dist:6s} {tag:26s}: {ms:8.3f} ms   max|diff| vs first {err:.2e}"
                             f"  out vs float64 {ref_err:.1e}")
            except Exception as ex:  # noqa: BLE001 -- an experiment: report and go on
                table.append(f"{name:20s} {dist:6s} {tag:26s}: FAILED {type(ex).__name__}: {str(ex)[:150]}")
            print(table[-1], flush=True)
        reset()
        del copies
        torch.cuda.empty_cache()
    return table


def run_op_variants(runs, apply, reset) -> None:
    """``op_variants`` for each (case, variants) of ``runs`` in turn, then the whole table again."""
    table = []
    for run, variants in runs:
        table += op_variants([run], variants, apply, reset)
    print("\n==== summary ====")
    for line in table:
        print(line)
