"""Every torch.library registration of nsa_ops, in one place.

``nsa::selection``           (q, k, v, block_indices, ...) -> (out, lse)
``nsa::selection_backward``  (dout, q, k, v, out, lse, dlse, block_indices, ...) -> (dq, dk, dv)

Both are ``triton_op``s: under torch.compile Inductor re-traces their bodies, so the device
choice is made *inside* the body (a ``register_kernel("cpu")`` would be bypassed there). The
body launches the Triton kernels through ``wrap_triton`` (on unpacked inputs they read the raw
``block_indices``; packed sequences go through the prepared index) or prepares the index and
runs the torch path. Fakes live in ``nsa_ops.fakes``; autograd is a thin
layer that calls the backward op; a flop formula feeds ``FlopCounterMode``.

Arguments reach these ops already validated by ``nsa_ops.api`` (the public entry point);
``backend`` is "auto", "triton" or "torch".
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor

from . import torch_path
from .backend import triton_unsupported_reason
from .fakes.selection import selection_backward_fake, selection_fake
from .indices import prepare_index


def _use_triton(backend: str, q: Tensor, k: Tensor, v: Tensor, block_size: int) -> bool:
    if backend == "torch":
        return False
    if backend == "triton":
        return True
    return triton_unsupported_reason(q, k, v, block_size) is None


def _prepare(q, k, block_indices, block_counts, block_size, cu_seqlens_q, cu_seqlens_k):
    return prepare_index(
        block_indices, block_counts, block_size, q.shape[1], k.shape[1], cu_seqlens_q, cu_seqlens_k
    )


@torch.library.triton_op("nsa::selection", mutates_args=())
def selection(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    block_indices: Tensor,
    block_counts: Optional[Tensor],
    block_size: int,
    scale: float,
    cu_seqlens_q: Optional[Tensor],
    cu_seqlens_k: Optional[Tensor],
    backend: str,
) -> Tuple[Tensor, Tensor]:
    use_triton = _use_triton(backend, q, k, v, block_size)
    if use_triton and cu_seqlens_q is None:
        from .kernels.configs import use_split_decode

        if use_split_decode(q.shape[1]):
            # Decode / short chunks: split over the selected slots, reading the raw indices
            # (no index preparation: two launches, CUDA-graph safe).
            from .kernels.decode import selection_decode

            return selection_decode(q, k, v, block_indices, block_counts, block_size, scale)
        from .kernels.forward import selection_forward_raw, uses_raw_forward

        if uses_raw_forward(q.shape[2] // k.shape[2], q.shape[-1], v.shape[-1], block_size):
            # Token-centric schedule: the kernel cleans each raw row in registers.
            return selection_forward_raw(q, k, v, block_indices, block_counts, block_size, scale)
        from .kernels.forward_kv import selection_forward_kv

        # KV-centric schedule: the entry-key kernel cleans the raw rows while building the CSR.
        return selection_forward_kv(q, k, v, block_indices, block_counts, block_size, scale)
    idx = _prepare(q, k, block_indices, block_counts, block_size, cu_seqlens_q, cu_seqlens_k)
    if use_triton:
        from .kernels.forward import selection_forward

        return selection_forward(q, k, v, idx.sel, idx.cnt, idx.q_last, idx.block_start, block_size, scale)
    return torch_path.forward(q, k, v, idx, block_size, scale)


@torch.library.triton_op("nsa::selection_backward", mutates_args=())
def selection_backward(
    dout: Tensor,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    out: Tensor,
    lse: Tensor,
    dlse: Tensor,
    block_indices: Tensor,
    block_counts: Optional[Tensor],
    block_size: int,
    scale: float,
    cu_seqlens_q: Optional[Tensor],
    cu_seqlens_k: Optional[Tensor],
    backend: str,
) -> Tuple[Tensor, Tensor, Tensor]:
    # delta = rowsum(dO * O) - dlse: the lse output's gradient enters dS = P * (dP - delta).
    if _use_triton(backend, q, k, v, block_size):
        from .kernels.backward import needs_prepared_index, selection_backward as launch
        from .kernels.csr import build_entry_csr

        B, Tq, HQ, D = q.shape
        Tk, H = k.shape[1], k.shape[2]
        raw = sel = cnt = None
        if cu_seqlens_q is None:
            # Unpacked: the entry CSR and the token-centric dQ kernel both clean the raw rows
            # themselves; no index preparation.
            NB = (Tk + block_size - 1) // block_size
            csr = build_entry_csr(block_indices, block_counts, block_size, Tk, NB)
            q_last = torch.arange(Tk - Tq, Tk, device=q.device, dtype=torch.int32)
            block_start = torch.arange(0, NB * block_size, block_size, device=q.device, dtype=torch.int32)
            if needs_prepared_index(HQ // H, D, v.shape[-1], block_size):
                raw = (block_indices, block_counts)
        else:
            idx = _prepare(q, k, block_indices, block_counts, block_size, cu_seqlens_q, cu_seqlens_k)
            csr = build_entry_csr(idx.sel, None, block_size, Tk, idx.block_start.shape[0], prepared=True)
            q_last, block_start = idx.q_last, idx.block_start
            if needs_prepared_index(HQ // H, D, v.shape[-1], block_size):
                sel, cnt = idx.sel, idx.cnt
        # delta=None: computed by the token-centric dQ kernels or by selection_delta first.
        return launch(dout, q, k, v, lse.float(), None, q_last, block_start, csr, block_size, scale,
                      sel=sel, cnt=cnt, raw=raw, out=out, dlse=dlse, packed=cu_seqlens_q is not None)
    acc = torch.promote_types(q.dtype, torch.float32)
    delta = (dout.to(acc) * out.to(acc)).sum(-1) - dlse.to(acc)
    idx = _prepare(q, k, block_indices, block_counts, block_size, cu_seqlens_q, cu_seqlens_k)
    return torch_path.backward(dout, q, k, v, lse, delta, idx, block_size, scale)


selection.register_fake(selection_fake)
selection_backward.register_fake(selection_backward_fake)


def _setup_context(ctx, inputs, output):
    q, k, v, block_indices, block_counts, block_size, scale, cu_q, cu_k, backend = inputs
    out, lse = output
    ctx.save_for_backward(q, k, v, out, lse, block_indices, block_counts, cu_q, cu_k)
    ctx.block_size, ctx.scale, ctx.backend = block_size, scale, backend


def _backward(ctx, dout, dlse):
    q, k, v, out, lse, block_indices, block_counts, cu_q, cu_k = ctx.saved_tensors
    dq, dk, dv = torch.ops.nsa.selection_backward.default(
        dout, q, k, v, out, lse, dlse, block_indices, block_counts,
        ctx.block_size, ctx.scale, cu_q, cu_k, ctx.backend,
    )
    return dq, dk, dv, None, None, None, None, None, None, None


selection.register_autograd(_backward, setup_context=_setup_context)


def _setup_context_double(ctx, inputs, output):
    ctx.save_for_backward(*(x for x in inputs[:9]))  # dout .. block_counts
    ctx.rest = inputs[9:]  # block_size, scale, cu_seqlens_q, cu_seqlens_k, backend
    ctx.cu = (inputs[11], inputs[12])


def _double_backward(ctx, gdq, gdk, gdv):
    """Derivative of the backward op (double backward), by autograd through the torch path's
    recomputation. Slow but exact; the Triton kernels have no double backward."""
    dout, q, k, v, out, lse, dlse, block_indices, block_counts = ctx.saved_tensors
    block_size, scale, cu_q, cu_k, _ = ctx.rest
    diff = [x.detach().requires_grad_() for x in (dout, q, k, v, out, lse, dlse)]
    with torch.enable_grad():
        d_out, d_q, d_k, d_v, d_o, d_lse, d_dlse = diff
        idx = _prepare(d_q, d_k, block_indices, block_counts, block_size, cu_q, cu_k)
        acc = torch.promote_types(q.dtype, torch.float32)
        delta = (d_out.to(acc) * d_o.to(acc)).sum(-1) - d_dlse.to(acc)
        grads = torch_path.backward(d_out, d_q, d_k, d_v, d_lse, delta, idx, block_size, scale)
    wanted = [(g, c) for g, c in zip(grads, (gdq, gdk, gdv)) if c is not None]
    res = torch.autograd.grad([g for g, _ in wanted], diff, [c for _, c in wanted], allow_unused=True)
    res = [torch.zeros_like(x) if r is None else r for r, x in zip(res, diff)]
    return (*res, None, None, None, None, None, None, None)


selection_backward.register_autograd(_double_backward, setup_context=_setup_context_double)


def _selection_flops(q_shape, k_shape, v_shape, block_indices_shape, block_size):
    """Nominal flops: every selected slot as a full block (QK^T and PV, 2 flops per MAC)."""
    B, Tq, HQ, D = q_shape
    keys = block_indices_shape[-1] * block_size
    return 2 * B * Tq * HQ * keys * (D + v_shape[-1])


def _register_flop_formulas():
    try:
        from torch.utils.flop_counter import register_flop_formula
    except ImportError:  # pragma: no cover - very old torch
        return

    @register_flop_formula(torch.ops.nsa.selection)
    def _fwd(q_shape, k_shape, v_shape, bi_shape, bc_shape, block_size, *args, out_shape=None, **kwargs):
        return _selection_flops(q_shape, k_shape, v_shape, bi_shape, block_size)

    @register_flop_formula(torch.ops.nsa.selection_backward)
    def _bwd(do_shape, q_shape, k_shape, v_shape, o_shape, lse_shape, dlse_shape, bi_shape, bc_shape,
             block_size, *args, out_shape=None, **kwargs):
        # dV, dP, dQ, dK: twice the forward's products (the recomputed QK^T not counted).
        return 2 * _selection_flops(q_shape, k_shape, v_shape, bi_shape, block_size)


_register_flop_formulas()

# Bound once: the entry points call these directly.
selection_op = torch.ops.nsa.selection.default
selection_backward_op = torch.ops.nsa.selection_backward.default
