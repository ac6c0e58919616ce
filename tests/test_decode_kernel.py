"""Split-KV decode kernel (kernels/decode.py) against the float64 reference: raw indices with
padding, duplicates, future blocks, block_counts, empty rows; Tq = 1, 2, 7; a prefix view of a
larger KV cache; through the op, chunked prefill (Tq = 1, 2, 7, 64 at the end of a longer cache)
and packed sequences equal to each sequence run alone (forward and gradients). Runs under
TRITON_INTERPRET=1 on CPU (fp32, fp16) and on CUDA (adds bf16).
Tolerances: fp32 1e-4 max-abs (interpreter: exact IEEE products), 16-bit 2e-2 / 1e-2 Frobenius."""
import os

import pytest
import torch

from nsa_ops import reference_selection

from problems import assert_close_to_reference, make_problem

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
pytestmark = pytest.mark.skipif(
    DEVICE == "cpu" and os.environ.get("TRITON_INTERPRET") != "1", reason="needs CUDA or TRITON_INTERPRET=1"
)
DTYPES = [torch.float32, torch.float16] + ([torch.bfloat16] if DEVICE == "cuda" else [])
TOL = {torch.float32: (1e-4, 1e-4), torch.float16: (2e-2, 1e-2), torch.bfloat16: (2e-2, 1e-2)}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B,Tq,Tk,H,G,D,Dv,S,bs,counts", [
    (2, 1, 100, 2, 4, 16, 16, 5, 16, "none"),
    (1, 2, 64, 1, 3, 48, 32, 4, 32, "tensor"),
    (3, 7, 90, 2, 1, 16, 16, 6, 16, "tensor"),
    (1, 1, 40, 1, 16, 32, 32, 3, 16, "none"),
    (1, 1, 70, 2, 2, 16, 96, 4, 16, "none"),  # Dv=96: two combine column chunks, the last partial
])
def test_split_decode_matches_reference(dtype, B, Tq, Tk, H, G, D, Dv, S, bs, counts):
    from nsa_ops.kernels.decode import selection_decode

    p = make_problem(B * 100 + Tq, B=B, Tq=Tq, Tk=Tk, H=H, G=G, D=D, Dv=Dv, S=S, block_size=bs,
                     dtype=dtype, counts=counts, device=DEVICE)
    bi = p.block_indices.clone()
    bi[0, 0, 0, :] = -1  # an empty row
    if S > 2:
        bi[..., 1] = bi[..., 2]  # duplicates
    out, lse = selection_decode(p.q, p.k, p.v, bi, p.block_counts, bs, D ** -0.5)
    ref, ref_lse = reference_selection(p.q.double(), p.k.double(), p.v.double(), bi, block_counts=p.block_counts,
                                       block_size=bs)
    assert_close_to_reference(out, ref, *TOL[dtype])
    assert_close_to_reference(lse, ref_lse, 1e-3 if dtype == torch.float32 else 2e-2, 1e-3, "lse")
    assert torch.equal(out[0, 0, :G], torch.zeros_like(out[0, 0, :G]))


def test_reads_a_prefix_view_of_a_larger_cache():
    from nsa_ops.kernels.decode import selection_decode

    p = make_problem(9, B=2, Tq=1, Tk=50, H=2, G=2, D=16, Dv=16, S=4, block_size=16,
                     dtype=torch.float32, device=DEVICE)
    cache_k = torch.randn(2, 128, 2, 16, device=DEVICE)
    cache_v = torch.randn(2, 128, 2, 16, device=DEVICE)
    cache_k[:, :50], cache_v[:, :50] = p.k, p.v
    out, _ = selection_decode(p.q, cache_k[:, :50], cache_v[:, :50], p.block_indices, None, 16, 0.25)
    ref, _ = reference_selection(p.q.double(), p.k.double(), p.v.double(), p.block_indices, block_size=16, scale=0.25)
    assert_close_to_reference(out, ref, *TOL[torch.float32])


@pytest.mark.parametrize("Tq", [1, 2, 7, 64])
def test_chunked_prefill_through_the_op(Tq):
    """Decode and chunked prefill through ``selection_attention`` on the Triton backend: Tq
    queries at the end of a longer cache (split decode for Tq <= 16, the prefill kernels
    above), out and lse against the reference; fp32, 1e-4."""
    import nsa_ops

    G = 4
    p = make_problem(300 + Tq, B=2, Tq=Tq, Tk=Tq + 90, H=2, G=G, D=16, Dv=16, S=4, block_size=16,
                     dtype=torch.float32, counts="tensor", device=DEVICE)
    with nsa_ops.use_backend("triton"):
        out, lse = nsa_ops.selection_attention(p.q, p.k, p.v, p.block_indices, p.block_counts, block_size=16,
                                               return_lse=True)
    ref, ref_lse = reference_selection(p.q.double(), p.k.double(), p.v.double(), p.block_indices,
                                       block_counts=p.block_counts, block_size=16)
    assert_close_to_reference(out, ref, 1e-4, 1e-4)
    assert_close_to_reference(lse, ref_lse, 1e-3, 1e-3, "lse")


def test_varlen_equals_each_sequence_alone():
    """Packed sequences (cu_seqlens, B=1) on the Triton backend give, for every sequence, the
    output and the q/k/v gradients of running that sequence alone (block ids count from each
    sequence's start); fp32, 1e-5 (the dK/dV sums may group terms differently)."""
    import nsa_ops

    lens = [23, 0, 40, 9]
    total = sum(lens)
    p = make_problem(77, B=1, Tq=total, Tk=total, H=2, G=4, D=16, Dv=16, S=3, block_size=16,
                     dtype=torch.float32, pad=False, device=DEVICE)
    cu = torch.tensor([0] + list(torch.tensor(lens).cumsum(0)), dtype=torch.int32, device=DEVICE)
    start = torch.repeat_interleave(cu[:-1].long().cpu(), torch.tensor(lens))
    pos = torch.arange(total) - start
    bi = torch.minimum(p.block_indices.cpu(), (pos // 16).view(1, total, 1, 1)).to(DEVICE)  # ids within each doc
    dout = torch.randn(1, total, 8, 16, generator=torch.Generator().manual_seed(1)).to(DEVICE)
    with nsa_ops.use_backend("triton"):
        q, k, v = (x.clone().requires_grad_() for x in (p.q, p.k, p.v))
        packed = nsa_ops.selection_attention(q, k, v, bi, block_size=16, cu_seqlens=cu)
        grads = torch.autograd.grad(packed, (q, k, v), dout)
        for i, n in enumerate(lens):
            if n == 0:
                continue
            s = slice(int(cu[i]), int(cu[i + 1]))
            qi, ki, vi = (x[:, s].detach().clone().requires_grad_() for x in (p.q, p.k, p.v))
            alone = nsa_ops.selection_attention(qi, ki, vi, bi[:, s], block_size=16)
            alone_grads = torch.autograd.grad(alone, (qi, ki, vi), dout[:, s])
            torch.testing.assert_close(packed[:, s], alone, atol=1e-5, rtol=0)
            for name, a, b in zip("qkv", grads, alone_grads):
                torch.testing.assert_close(a[:, s], b, atol=1e-5, rtol=0, msg=f"d{name} of sequence {i}")
