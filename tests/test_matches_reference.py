"""Property tests: the production torch path equals the float64 reference on random problems
covering every edge of CONTRACT.md (GQA sizes, head dims incl. non-powers of two, block sizes,
padding, duplicates, unsorted and future blocks, empty rows, block_counts int/tensor, packed
sequences). Float64 tolerance: 1e-10 max-abs (pure rounding)."""
import torch
from hypothesis import given, settings, strategies as st

import nsa_ops
from nsa_ops import reference_selection, selection_attention

from problems import assert_close_to_reference, make_problem, problems

F64_TOL = 1e-10


@given(problems())
def test_forward_out_and_lse(p):
    with nsa_ops.use_backend("torch"):
        out, lse = selection_attention(p.q, p.k, p.v, p.block_indices, return_lse=True, **p.kwargs())
    ref_out, ref_lse = reference_selection(p.q, p.k, p.v, p.block_indices, **p.kwargs())
    assert out.shape == ref_out.shape and out.dtype == p.q.dtype
    assert_close_to_reference(out, ref_out, F64_TOL, F64_TOL)
    assert_close_to_reference(lse, ref_lse, F64_TOL, F64_TOL, "lse")


@given(problems(max_T=48))
def test_gradients_including_lse(p):
    q, k, v = (x.clone().requires_grad_() for x in (p.q, p.k, p.v))
    g = torch.Generator().manual_seed(1)
    with nsa_ops.use_backend("torch"):
        out, lse = selection_attention(q, k, v, p.block_indices, return_lse=True, **p.kwargs())
    dout = torch.randn(out.shape, generator=g, dtype=out.dtype)
    dlse = torch.randn(lse.shape, generator=g, dtype=lse.dtype)
    finite = ~torch.isinf(lse)
    loss = (out * dout).sum() + (torch.where(finite, lse, 0) * dlse).sum()
    grads = torch.autograd.grad(loss, (q, k, v))
    ref_out, ref_lse = reference_selection(q, k, v, p.block_indices, **p.kwargs())
    ref_loss = (ref_out * dout).sum() + (torch.where(finite, ref_lse, 0) * dlse).sum()
    ref_grads = torch.autograd.grad(ref_loss, (q, k, v))
    for name, a, b in zip("qkv", grads, ref_grads):
        assert_close_to_reference(a, b, F64_TOL, F64_TOL, f"d{name}")


@st.composite
def packed_problems(draw):
    n = draw(st.integers(1, 4))
    lens_k = draw(st.lists(st.integers(0, 40), min_size=n, max_size=n))
    lens_q = [draw(st.integers(0, lk)) for lk in lens_k]
    G = draw(st.sampled_from((1, 2, 3, 4)))
    H = draw(st.integers(1, 2))
    block_size = draw(st.sampled_from((16, 32)))
    S = draw(st.integers(1, 4))
    p = make_problem(draw(st.integers(0, 2**31 - 1)), B=1, Tq=sum(lens_q), Tk=sum(lens_k), H=H, G=G,
                     D=16, Dv=8, S=S, block_size=block_size, counts=draw(st.sampled_from(["none", "tensor"])))
    cu = lambda lens: torch.tensor([0] + torch.tensor(lens).cumsum(0).tolist(), dtype=torch.int32)
    same = draw(st.booleans()) and lens_q == lens_k
    p.cu_seqlens = cu(lens_q) if same else (cu(lens_q), cu(lens_k))
    return p


@given(packed_problems())
def test_packed_sequences_forward_and_backward(p):
    q, k, v = (x.clone().requires_grad_() for x in (p.q, p.k, p.v))
    with nsa_ops.use_backend("torch"):
        out, lse = selection_attention(q, k, v, p.block_indices, return_lse=True, **p.kwargs())
    ref_out, ref_lse = reference_selection(q, k, v, p.block_indices, **p.kwargs())
    assert_close_to_reference(out, ref_out, F64_TOL, F64_TOL)
    assert_close_to_reference(lse, ref_lse, F64_TOL, F64_TOL, "lse")
    if out.numel():
        dout = torch.randn_like(out)
        grads = torch.autograd.grad((out * dout).sum(), (q, k, v), allow_unused=True)
        ref_grads = torch.autograd.grad((ref_out * dout).sum(), (q, k, v), allow_unused=True)
        for name, a, b in zip("qkv", grads, ref_grads):
            assert_close_to_reference(a, b, F64_TOL, F64_TOL, f"d{name}")


# Low-precision tolerances of TARGETS.md: bf16/fp16 2e-2 max-abs and 1e-2 relative Frobenius;
# fp32 1e-5 (the CPU path does not use TF32).
LOW_PRECISION = [(torch.bfloat16, 2e-2, 1e-2), (torch.float16, 2e-2, 1e-2), (torch.float32, 1e-5, 1e-5)]


@settings(max_examples=50)
@given(st.sampled_from(LOW_PRECISION), problems(max_T=64, counts=False))
def test_low_precision_forward(prec, p):
    dtype, atol, fro = prec
    with nsa_ops.use_backend("torch"):
        out = selection_attention(p.q.to(dtype), p.k.to(dtype), p.v.to(dtype), p.block_indices, **p.kwargs())
    # The reference sees the same rounded inputs, in float64.
    ref, _ = reference_selection(*(x.to(dtype).double() for x in (p.q, p.k, p.v)), p.block_indices, **p.kwargs())
    assert out.dtype == dtype
    assert_close_to_reference(out, ref, atol, fro)
