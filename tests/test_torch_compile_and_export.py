"""The op composes with PyTorch: torch.compile(fullgraph=True, dynamic=True) over several sizes,
forward and backward equal to eager; torch.export keeps nsa.selection as one node; opcheck on
every registered op; float64 gradcheck; FlopCounterMode counts selection flops."""
import pytest
import torch
from torch.library import opcheck
from torch.utils.flop_counter import FlopCounterMode

import nsa_ops
from nsa_ops import selection_attention

from problems import make_problem

# Compiled vs eager on the same CPU path: same ops, fp32 reassociation only.
COMPILE_TOL = 1e-5


def f(q, k, v, block_indices, block_counts):
    out, lse = selection_attention(q, k, v, block_indices, block_counts=block_counts, block_size=16, return_lse=True)
    return out * 2, lse


def test_compile_fullgraph_dynamic_forward_backward_equals_eager():
    torch._dynamo.reset()
    compiled = torch.compile(f, fullgraph=True, dynamic=True)
    for i, (Tq, Tk) in enumerate([(24, 40), (33, 33), (50, 71)]):
        p = make_problem(i, Tq=Tq, Tk=Tk, H=2, G=3, D=16, Dv=8, S=3, block_size=16, dtype=torch.float32, counts="tensor")
        args = [x.clone().requires_grad_() for x in (p.q, p.k, p.v)]
        out, lse = compiled(*args, p.block_indices, p.block_counts)
        ref_out, ref_lse = f(p.q, p.k, p.v, p.block_indices, p.block_counts)
        torch.testing.assert_close(out, ref_out, atol=COMPILE_TOL, rtol=0)
        torch.testing.assert_close(lse, ref_lse, atol=COMPILE_TOL, rtol=0)
        dout = torch.randn_like(out)
        grads = torch.autograd.grad((out * dout).sum(), args)
        eager_args = [x.clone().requires_grad_() for x in (p.q, p.k, p.v)]
        eo, _ = f(*eager_args, p.block_indices, p.block_counts)
        ref_grads = torch.autograd.grad((eo * dout).sum(), eager_args)
        for a, b in zip(grads, ref_grads):
            torch.testing.assert_close(a, b, atol=COMPILE_TOL, rtol=0)


def test_compile_packed_sequences_fullgraph():
    torch._dynamo.reset()
    p = make_problem(3, Tq=20, Tk=36, H=1, G=2, D=16, Dv=16, S=2, block_size=16, dtype=torch.float32)
    cu = (torch.tensor([0, 8, 20], dtype=torch.int32), torch.tensor([0, 10, 36], dtype=torch.int32))

    def g(q, k, v, bi, cu_q, cu_k):
        return selection_attention(q, k, v, bi, block_size=16, cu_seqlens=(cu_q, cu_k))

    out = torch.compile(g, fullgraph=True)(p.q, p.k, p.v, p.block_indices, *cu)
    torch.testing.assert_close(out, g(p.q, p.k, p.v, p.block_indices, *cu), atol=COMPILE_TOL, rtol=0)


class Attn(torch.nn.Module):
    def forward(self, q, k, v, block_indices):
        return selection_attention(q, k, v, block_indices, block_size=16)


def test_export_keeps_one_selection_node():
    p = make_problem(1, Tq=16, Tk=32, H=2, G=2, D=16, Dv=16, S=2, block_size=16, dtype=torch.float32)
    ep = torch.export.export(Attn(), (p.q, p.k, p.v, p.block_indices))
    targets = [n.target for n in ep.graph.nodes if n.op == "call_function"]
    assert targets.count(torch.ops.nsa.selection.default) == 1
    out = ep.module()(p.q, p.k, p.v, p.block_indices)
    torch.testing.assert_close(out, Attn()(p.q, p.k, p.v, p.block_indices))


def _selection_args(requires_grad, counts):
    p = make_problem(5, B=2, Tq=12, Tk=20, H=2, G=2, D=16, Dv=8, S=3, block_size=16, dtype=torch.float32, counts=counts)
    q, k, v = (x.clone().requires_grad_(requires_grad) for x in (p.q, p.k, p.v))
    return q, k, v, p.block_indices, p.block_counts, 16, 0.25, None, None, "torch"


@pytest.mark.parametrize("requires_grad", [False, True])
@pytest.mark.parametrize("counts", ["none", "tensor"])
def test_opcheck_selection(requires_grad, counts):
    opcheck(torch.ops.nsa.selection.default, _selection_args(requires_grad, counts))


@pytest.mark.parametrize("requires_grad", [False, True])
def test_opcheck_selection_train(requires_grad):
    opcheck(torch.ops.nsa.selection_train.default, _selection_args(requires_grad, "tensor"))


@pytest.mark.parametrize("requires_grad", [False, True])
def test_opcheck_selection_backward(requires_grad):
    q, k, v, bi, bc, bs, scale, cq, ck, backend = _selection_args(False, "tensor")
    out, lse = torch.ops.nsa.selection(q, k, v, bi, bc, bs, scale, cq, ck, backend)
    dout, dlse = torch.randn_like(out), torch.randn_like(lse)
    args = (dout, q, k, v, out, lse, dlse, bi, bc, bs, scale, cq, ck, backend)
    args = tuple(a.clone().requires_grad_(requires_grad) if torch.is_tensor(a) and a.is_floating_point() else a for a in args)
    opcheck(torch.ops.nsa.selection_backward.default, args)


def test_double_backward_gradgradcheck_float64():
    p = make_problem(8, Tq=5, Tk=18, H=1, G=2, D=4, Dv=3, S=2, block_size=16)
    q, k, v = (x.clone().requires_grad_() for x in (p.q, p.k, p.v))
    with nsa_ops.use_backend("torch"):
        assert torch.autograd.gradgradcheck(
            lambda q, k, v: selection_attention(q, k, v, p.block_indices, block_size=16), (q, k, v),
            eps=1e-6, atol=1e-5,
        )


def test_gradcheck_float64():
    p = make_problem(7, Tq=6, Tk=20, H=1, G=2, D=4, Dv=3, S=2, block_size=16, counts="tensor")
    q, k, v = (x.clone().requires_grad_() for x in (p.q, p.k, p.v))

    def fn(q, k, v):
        out, lse = selection_attention(q, k, v, p.block_indices, block_counts=p.block_counts,
                                       block_size=16, return_lse=True)
        return out, torch.where(torch.isinf(lse), 0, lse)

    with nsa_ops.use_backend("torch"):
        assert torch.autograd.gradcheck(fn, (q, k, v), eps=1e-6, atol=1e-6)


def test_flop_counter_counts_selection():
    B, Tq, Tk, HQ, H, D, Dv, S, bs = 1, 32, 64, 4, 2, 16, 8, 3, 16
    p = make_problem(2, B=B, Tq=Tq, Tk=Tk, H=H, G=HQ // H, D=D, Dv=Dv, S=S, block_size=bs, dtype=torch.float32)
    q = p.q.requires_grad_()
    with FlopCounterMode(display=False) as counter:
        selection_attention(q, p.k, p.v, p.block_indices, block_size=bs).sum().backward()
    fwd = 2 * B * Tq * HQ * S * bs * (D + Dv)
    assert counter.get_total_flops() == 3 * fwd
