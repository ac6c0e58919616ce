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
