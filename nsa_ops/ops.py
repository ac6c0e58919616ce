"""Every torch.library registration of nsa_ops, in one place.

``nsa::selection``           (q, k, v, block_indices, ...) -> (out, lse)
``nsa::selection_train``     the same -> (out, lse, entry CSR keys, offsets, entries): autograd's
                             forward, which hands the CSR it built to the backward
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


def reuses_csr(q: Tensor, k: Tensor, v: Tensor, block_size: int, cu_seqlens_q: Optional[Tensor],
               backend: str) -> bool:
    """Whether the forward on these inputs builds the entry CSR its backward walks (the
    KV-centric forward of unpacked inputs), so ``nsa::selection_train`` hands it on instead of
    the backward sorting again. Shapes, dtypes and devices only: fakes and setup_context call it."""
    if cu_seqlens_q is not None or not _use_triton(backend, q, k, v, block_size):
        return False
    from .kernels.configs import use_split_decode
    from .kernels.forward_kv import reuses_csr as kv_reuses_csr

    return not use_split_decode(q.shape[1]) and kv_reuses_csr(q, k, v, block_size)


def _forward(q, k, v, block_indices, block_counts, block_size, scale, cu_seqlens_q, cu_seqlens_k, backend,
             keep_csr=False):
    """(out, lse) of the op; with ``keep_csr`` (only where ``reuses_csr``) also the entry CSR."""
    if keep_csr:
        from .kernels.forward_kv import selection_forward_kv

        return selection_forward_kv(q, k, v, block_indices, block_counts, block_size, scale, keep_csr=True)
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
    return _forward(q, k, v, block_indices, block_counts, block_size, scale, cu_seqlens_q, cu_seqlens_k, backend)


@torch.library.triton_op("nsa::selection_train", mutates_args=())
def selection_train(
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
) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """``nsa::selection`` for autograd (``selection_attention`` calls it when a gradient is
    wanted): (out, lse, csr keys, csr offsets, csr entries). Where ``reuses_csr``, the last three
    are the entry CSR (``kernels/csr.py``) that the forward built and the backward walks, saved
    for it instead of a second sort; elsewhere they are empty."""
    if reuses_csr(q, k, v, block_size, cu_seqlens_q, backend):
        out, lse, csr = _forward(q, k, v, block_indices, block_counts, block_size, scale, cu_seqlens_q,
                                 cu_seqlens_k, backend, keep_csr=True)
        return out, lse, csr.keys, csr.offsets, csr.entries
    out, lse = _forward(q, k, v, block_indices, block_counts, block_size, scale, cu_seqlens_q, cu_seqlens_k, backend)
    none = [torch.empty(0, device=q.device, dtype=torch.int32) for _ in range(3)]
    return out, lse, none[0], none[1], none[2]


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
    csr_keys: Optional[Tensor] = None,
    csr_offsets: Optional[Tensor] = None,
    csr_entries: Optional[Tensor] = None,
) -> Tuple[Tensor, Tensor, Tensor]:
    """``csr_*``: the entry CSR of these indices from ``nsa::selection_train`` (unpacked inputs
    on the Triton path), used instead of building it again; None: built here."""
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
            if csr_entries is not None:
                from .kernels.csr import EntryCSR

                csr = EntryCSR(csr_keys, csr_offsets, csr_entries, B * H * NB)
            else:
                csr = build_entry_csr(block_indices, block_counts, block_size, Tk, NB)
            q_last = block_start = None  # plain blocks: the kernels compute both (packed=False)
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


@selection_train.register_fake
def _selection_train_fake(q, k, v, block_indices, block_counts, block_size, scale, cu_seqlens_q, cu_seqlens_k,
                          backend):
    from .kernels.csr import empty_csr_like

    out, lse = selection_fake(q, k, v, block_indices, block_counts, block_size, scale, cu_seqlens_q, cu_seqlens_k,
                              backend)
    if reuses_csr(q, k, v, block_size, cu_seqlens_q, backend):
        return (out, lse) + empty_csr_like(block_indices, (k.shape[1] + block_size - 1) // block_size)
    none = [q.new_empty(0, dtype=torch.int32) for _ in range(3)]
    return out, lse, none[0], none[1], none[2]


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


def _setup_context_train(ctx, inputs, output):
    q, k, v, block_indices, block_counts, block_size, scale, cu_q, cu_k, backend = inputs
    out, lse, keys, offsets, entries = output
    ctx.keep_csr = reuses_csr(q, k, v, block_size, cu_q, backend)
    csr = (keys, offsets, entries) if ctx.keep_csr else ()
    ctx.save_for_backward(q, k, v, out, lse, block_indices, block_counts, cu_q, cu_k, *csr)
    ctx.block_size, ctx.scale, ctx.backend = block_size, scale, backend


def _backward_train(ctx, dout, dlse, *_unused):
    q, k, v, out, lse, block_indices, block_counts, cu_q, cu_k, *csr = ctx.saved_tensors
    dq, dk, dv = torch.ops.nsa.selection_backward.default(
        dout, q, k, v, out, lse, dlse, block_indices, block_counts,
        ctx.block_size, ctx.scale, cu_q, cu_k, ctx.backend, *(csr if ctx.keep_csr else (None, None, None)),
    )
    return dq, dk, dv, None, None, None, None, None, None, None


selection_train.register_autograd(_backward_train, setup_context=_setup_context_train)


def _setup_context_double(ctx, inputs, output):
    ctx.save_for_backward(*(x for x in inputs[:9]))  # dout .. block_counts
    ctx.rest = inputs[9:14]  # block_size, scale, cu_seqlens_q, cu_seqlens_k, backend (the CSR is not needed)
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
    return (*res, None, None, None, None, None, None, None, None, None, None)


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

    @register_flop_formula(torch.ops.nsa.selection_train)
    def _fwd_train(q_shape, k_shape, v_shape, bi_shape, bc_shape, block_size, *args, out_shape=None, **kwargs):
        return _selection_flops(q_shape, k_shape, v_shape, bi_shape, block_size)

    @register_flop_formula(torch.ops.nsa.selection_backward)
    def _bwd(do_shape, q_shape, k_shape, v_shape, o_shape, lse_shape, dlse_shape, bi_shape, bc_shape,
             block_size, *args, out_shape=None, **kwargs):
        # dV, dP, dQ, dK: twice the forward's products (the recomputed QK^T not counted).
        return 2 * _selection_flops(q_shape, k_shape, v_shape, bi_shape, block_size)


_register_flop_formulas()

# Bound once: the entry points call these directly.
selection_op = torch.ops.nsa.selection.default
selection_train_op = torch.ops.nsa.selection_train.default
selection_backward_op = torch.ops.nsa.selection_backward.default
