"""Do Hopper's tensor-memory-accelerator (TMA) loads move the G16 token forward off its L2 floor?

Session 7 (run 43, ``bench/exp_l2_floor.py``) measured that a kernel with the shipped token
forward's grid and K/V loads (``tl.load`` of pointer tiles, which Triton lowers to cp.async)
and almost no math takes 3.66 ms at T=16k: the shipped forward is within ~9% of it. This
experiment loads the same K/V blocks through TMA tensor descriptors instead, created

- on the device (``tl.make_tensor_descriptor``, needs ``triton.set_allocator`` for its
  scratch), or
- on the host (``triton.tools.tensor_descriptor.TensorDescriptor``, passed as an argument),

and times, on G16 bf16 D=128 random selections (T=16k and 64k) and the local one (16k):

- ``floor``: the loads-only kernel with pointer loads and with TMA loads;
- ``token``: the shipped token-centric forward kernel alone (raw index, no multi-token kernel),
  and the same forward with TMA loads (device and host descriptors), checked against it.

Prediction: at most the floor gap, ~9% (3.97 -> ~3.65 ms at 16k random), and only if TMA
lifts the floor itself can the forward gain more.

    python bench/exp_tma.py        # the kernel-level comparison above (run 53)
    python bench/exp_tma.py --op   # the shipped op, TMA off / on (after the TMA path shipped)
"""
from __future__ import annotations

import os
import sys

import torch
import triton
import triton.language as tl

from nsa_ops import bench as B
from nsa_ops.kernels.configs import LOG2E
from nsa_ops.kernels.forward import _launch_token_forward
from nsa_ops.kernels.primitives import clean_raw_row, finish_softmax, kept_block, online_softmax_step

sys.path.insert(0, os.path.dirname(__file__))
from exp_backward import print_summary  # noqa: E402
from exp_l2_floor import floor_runner  # noqa: E402


@triton.jit
def _tma_floor_kernel(bi_ptr, out_ptr, k_desc, v_desc, stride_it, stride_ih, Tq, Tk, H, S, NB,
                      BLOCK_S: tl.constexpr, BLOCK_SIZE: tl.constexpr, BLOCK_D: tl.constexpr):
    t = tl.program_id(0)
    h = tl.program_id(1)
    t64 = t.to(tl.int64)
    ids, keep, rank, n = clean_raw_row(bi_ptr + t64 * stride_it + h * stride_ih, 1, bi_ptr, S, NB,
                                       Tk - Tq + t, False, BLOCK_S, BLOCK_SIZE)
    acc = tl.zeros([BLOCK_SIZE], tl.float32)
    for i in range(0, n):
        row = (kept_block(ids, keep, rank, i) * BLOCK_SIZE).to(tl.int32)
        k = k_desc.load([row, h * BLOCK_D])
        v = v_desc.load([row, h * BLOCK_D])
        acc += tl.sum(k.to(tl.float32), 1) + tl.sum(v.to(tl.float32), 1)
    tl.store(out_ptr + (t64 * H + h) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE), acc)


@triton.jit
def _tma_fwd_body(q_ptr, out_ptr, lse_ptr, bi_ptr, k_desc, v_desc, stride_qt, stride_qh, stride_ot, stride_oh,
                  stride_lt, stride_it, stride_ih, H, G, scale_log2e, Tq, Tk, NB, S,
                  BLOCK_SIZE: tl.constexpr, BLOCK_G: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_S: tl.constexpr,
                  PRECISION: tl.constexpr):
    t = tl.program_id(0)
    h = tl.program_id(1)
    t64 = t.to(tl.int64)
    heads = tl.arange(0, BLOCK_G)
    head_ok = heads < G
    hq = (h * G + heads).to(tl.int64)
    offs_d = tl.arange(0, BLOCK_D)
    offs_n = tl.arange(0, BLOCK_SIZE)
    q = tl.load(q_ptr + t64 * stride_qt + hq[:, None] * stride_qh + offs_d[None, :], mask=head_ok[:, None],
                other=0.0)
    last = Tk - Tq + t
    ids, keep, rank, n_sel = clean_raw_row(bi_ptr + t64 * stride_it + h * stride_ih, 1, bi_ptr, S, NB, last,
                                           False, BLOCK_S, BLOCK_SIZE)
    m_i = tl.full([BLOCK_G], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_G], tl.float32)
    acc = tl.zeros([BLOCK_G, BLOCK_D], tl.float32)
    for i in range(0, n_sel):
        start = kept_block(ids, keep, rank, i) * BLOCK_SIZE
        k = k_desc.load([start.to(tl.int32), h * BLOCK_D])
        v = v_desc.load([start.to(tl.int32), h * BLOCK_D])
        visible = (start + offs_n) <= last
        m_i, l_i, acc = online_softmax_step(q, k, v, visible[None, :], m_i, l_i, acc, scale_log2e, PRECISION,
                                            q, k, 0)
    out, lse = finish_softmax(acc, m_i, l_i)
    tl.store(out_ptr + t64 * stride_ot + hq[:, None] * stride_oh + offs_d[None, :], out.to(out_ptr.dtype.element_ty),
             mask=head_ok[:, None])
    tl.store(lse_ptr + t64 * stride_lt + hq, lse, mask=head_ok)


@triton.jit
def _tma_fwd_host_kernel(q_ptr, out_ptr, lse_ptr, bi_ptr, k_desc, v_desc, stride_qt, stride_qh, stride_ot,
                         stride_oh, stride_lt, stride_it, stride_ih, H, G, scale_log2e, Tq, Tk, NB, S,
                         BLOCK_SIZE: tl.constexpr, BLOCK_G: tl.constexpr, BLOCK_D: tl.constexpr,
                         BLOCK_S: tl.constexpr, PRECISION: tl.constexpr):
    _tma_fwd_body(q_ptr, out_ptr, lse_ptr, bi_ptr, k_desc, v_desc, stride_qt, stride_qh, stride_ot, stride_oh,
                  stride_lt, stride_it, stride_ih, H, G, scale_log2e, Tq, Tk, NB, S, BLOCK_SIZE, BLOCK_G, BLOCK_D,
                  BLOCK_S, PRECISION)


@triton.jit
def _tma_fwd_device_kernel(q_ptr, k_ptr, v_ptr, out_ptr, lse_ptr, bi_ptr, stride_qt, stride_qh, stride_kt, stride_vt,
                           stride_ot, stride_oh, stride_lt, stride_it, stride_ih, H, G, scale_log2e, Tq, Tk, NB, S,
                           BLOCK_SIZE: tl.constexpr, BLOCK_G: tl.constexpr, BLOCK_D: tl.constexpr,
                           BLOCK_S: tl.constexpr, PRECISION: tl.constexpr):
    k_desc = tl.make_tensor_descriptor(k_ptr, shape=[Tk, H * BLOCK_D], strides=[stride_kt, 1],
                                       block_shape=[BLOCK_SIZE, BLOCK_D])
    v_desc = tl.make_tensor_descriptor(v_ptr, shape=[Tk, H * BLOCK_D], strides=[stride_vt, 1],
                                       block_shape=[BLOCK_SIZE, BLOCK_D])
    _tma_fwd_body(q_ptr, out_ptr, lse_ptr, bi_ptr, k_desc, v_desc, stride_qt, stride_qh, stride_ot, stride_oh,
                  stride_lt, stride_it, stride_ih, H, G, scale_log2e, Tq, Tk, NB, S, BLOCK_SIZE, BLOCK_G, BLOCK_D,
                  BLOCK_S, PRECISION)


def _descs(x):
    from triton.tools.tensor_descriptor import TensorDescriptor

    Tk, H, D = x.k.shape[1:]
    k2, v2 = x.k.reshape(Tk, H * D), x.v.reshape(Tk, H * D)
    return TensorDescriptor.from_tensor(k2, [64, D]), TensorDescriptor.from_tensor(v2, [64, D])


def tma_floor_runner(x):
    Tq, HQ, D = x.q.shape[1:]
    Tk, H = x.k.shape[1], x.k.shape[2]
    bi = x.block_indices
    out = torch.empty(Tq * H * 64, device=x.q.device, dtype=torch.float32)
    kd, vd = _descs(x)

    def run():
        _tma_floor_kernel[(Tq, H)](bi, out, kd, vd, bi.stride(1), bi.stride(2), Tq, Tk, H, bi.shape[-1],
                                   triton.cdiv(Tk, 64), BLOCK_S=triton.next_power_of_2(bi.shape[-1]),
                                   BLOCK_SIZE=64, BLOCK_D=D, num_warps=4, num_stages=2)
        return out
    return run


def tma_forward(x, host: bool, num_warps=4, num_stages=2):
    """(out, lse) of the TMA token forward (B=1, D=Dv, no block_counts)."""
    Tq, HQ, D = x.q.shape[1:]
    Tk, H = x.k.shape[1], x.k.shape[2]
    G = HQ // H
    bi = x.block_indices
    out = torch.empty(x.q.shape[:3] + (D,), device=x.q.device, dtype=x.q.dtype)
    lse = torch.empty(x.q.shape[:3], device=x.q.device, dtype=torch.float32)
    scale = D ** -0.5 * LOG2E
    common = dict(BLOCK_SIZE=64, BLOCK_G=max(16, G), BLOCK_D=D, BLOCK_S=triton.next_power_of_2(bi.shape[-1]),
                  PRECISION="ieee" if x.q.dtype != torch.float32 else "tf32", num_warps=num_warps,
                  num_stages=num_stages)
    tail = (out.stride(1), out.stride(2), lse.stride(1), bi.stride(1), bi.stride(2), H, G, scale, Tq, Tk,
            triton.cdiv(Tk, 64), bi.shape[-1])
    if host:
        kd, vd = _descs(x)
        _tma_fwd_host_kernel[(Tq, H)](x.q, out, lse, bi, kd, vd, x.q.stride(1), x.q.stride(2), *tail, **common)
    else:
        _tma_fwd_device_kernel[(Tq, H)](x.q, x.k, x.v, out, lse, bi, x.q.stride(1), x.q.stride(2), x.k.stride(1),
                                        x.v.stride(1), *tail, **common)
    return out, lse


def shipped_token(x):
    D = x.q.shape[-1]
    return _launch_token_forward(x.q, x.k, x.v, x.block_indices, x.block_indices, x.block_indices,
                                 x.block_indices, 64, D ** -0.5, raw=True, has_counts=False, use_shared=False)


def install_allocator():
    def alloc(size: int, alignment: int, stream):
        return torch.empty(size, device="cuda" if torch.cuda.is_available() else "cpu", dtype=torch.int8)
    triton.set_allocator(alloc)


def main():
    dev = torch.device("cuda")
    l2 = torch.cuda.get_device_properties(dev).L2_cache_size
    timer = B.make_timer(dev, quick=False)
    table = []
    cases = {c.name: c for c in B.cuda_cases()}
    for name, dist in (("fwd G16 T=16k", "random"), ("fwd G16 T=64k", "random"), ("fwd G16 T=16k", "local")):
        case = cases[name]
        copies = B.input_copies(case, dist, torch.bfloat16, dev, l2)
        x = copies[0]
        ref_out, ref_lse = shipped_token(x)
        variants = [("floor ptr", lambda x: floor_runner(False)(x)), ("floor tma", lambda x: tma_floor_runner(x)())]
        variants += [("token shipped", shipped_token), ("op shipped", B._nsa_ops(case))]
        for host in (False, True):
            for w, s in ((4, 2), (4, 3), (8, 2)):
                tag = f"tma {'host' if host else 'dev '} w{w}s{s}"
                try:
                    out, lse = tma_forward(x, host, w, s)
                    torch.cuda.synchronize()
                    err = (out.float() - ref_out.float()).abs().max().item()
                    lerr = (lse - ref_lse).abs().nan_to_num(0.0).max().item()
                    print(f"{name} {dist} {tag}: max|out - shipped| {err:.2e}, max|lse - shipped| {lerr:.2e}",
                          flush=True)
                    if err > 2e-2 or lerr > 1e-3:
                        table.append(f"{name:14s} {dist:6s} {tag:18s}: WRONG ({err:.2e}, {lerr:.2e})")
                        continue
                except Exception as e:  # noqa: BLE001 -- an experiment: report and go on
                    table.append(f"{name:14s} {dist:6s} {tag:18s}: FAILED {type(e).__name__}: {str(e)[:200]}")
                    print(table[-1], flush=True)
                    continue
                variants.append((tag, lambda x, host=host, w=w, s=s: tma_forward(x, host, w, s)))
        for tag, fn in variants:
            try:
                ms = timer(B.cycling([B._runner(fn, case.kind, c) for c in copies]))
                table.append(f"{name:14s} {dist:6s} {tag:18s}: {ms:7.3f} ms")
            except Exception as e:  # noqa: BLE001
                table.append(f"{name:14s} {dist:6s} {tag:18s}: FAILED {type(e).__name__}: {str(e)[:200]}")
            print(table[-1], flush=True)
        copies = x = None
        torch.cuda.empty_cache()
    print_summary(table)


def op_main():
    """The shipped op with ``tma.USE_TMA`` off and on (and the TMA dQ with 2 stages instead of
    3), on the TARGETS.md G16 rows; outputs and gradients compared bitwise between the two."""
    from nsa_ops.kernels import backward as backward_module
    from nsa_ops.kernels import forward as forward_module
    from nsa_ops.kernels import tma

    dev = torch.device("cuda")
    l2 = torch.cuda.get_device_properties(dev).L2_cache_size
    timer = B.make_timer(dev, quick=False)
    table = []
    cases = {c.name: c for c in B.cuda_cases()}
    real_dq_tile = backward_module.dq_tile
    real_forward_tile = forward_module.forward_tile

    def two_stages(real):
        def tile(*a, **kw):
            t = real(*a, **kw)
            return t._replace(num_stages=min(t.num_stages, 2))
        return tile

    only = [a for a in sys.argv[1:] if not a.startswith("--")]
    wanted = [("fwd G16 T=16k", "random"), ("fwd G16 T=16k", "local"), ("fwd G16 T=64k", "random"),
              ("fwd+bwd G16 T=16k", "random"), ("fwd+bwd G16 T=16k", "local"), ("fwd+bwd G16 T=64k", "random"),
              ("fwd+bwd G16 T=64k", "local")]
    wanted += [(n, "random") for n in cases if "D=192" in n]
    wanted = [(n, d) for n, d in wanted if not only or any(o in f"{n} {d}" for o in only)]
    for name, dist in wanted:
        case = cases[name]
        copies = B.input_copies(case, dist, torch.bfloat16, dev, l2)
        fn = B._nsa_ops(case)
        results = {}
        for use in (False, True):
            tma.USE_TMA = use
            x = copies[0]
            q, k, v = (t.detach().clone().requires_grad_() for t in (x.q, x.k, x.v))
            xx = B.dataclasses.replace(x, q=q, k=k, v=v)
            out = fn(xx)
            results[use] = (out.detach(),) + (torch.autograd.grad(out, (q, k, v), torch.ones_like(out))
                                              if case.kind == "fwd+bwd" else ())
        same = all(torch.equal(a, b) for a, b in zip(results[False], results[True]))
        # (tag, TMA on, forward tile at <= 2 stages, dQ tile at <= 2 stages)
        variants = [("pointer", False, False, False), ("tma", True, False, False), ("tma s2", True, True, True)]
        if case.kind == "fwd+bwd":
            variants.append(("tma dq s2", True, False, True))
        for tag, use, fwd_two, dq_two in variants:
            tma.USE_TMA = use
            forward_module.forward_tile = two_stages(real_forward_tile) if fwd_two else real_forward_tile
            backward_module.dq_tile = two_stages(real_dq_tile) if dq_two else real_dq_tile
            ms = timer(B.cycling([B._runner(fn, case.kind, c) for c in copies]))
            table.append(f"{name:22s} {dist:6s} {tag:10s}: {ms:7.3f} ms   bitwise equal on/off: {same}")
            print(table[-1], flush=True)
        backward_module.dq_tile = real_dq_tile
        forward_module.forward_tile = real_forward_tile
        tma.USE_TMA = True
        copies = None
        torch.cuda.empty_cache()
    print_summary(table)


if __name__ == "__main__":
    install_allocator()
    if "--op" in sys.argv:
        op_main()
    else:
        main()
