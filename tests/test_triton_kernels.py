"""The Triton kernels (forward, dQ, dK/dV) agree with the float64 reference.

Calls the launchers of ``nsa_ops.kernels`` directly on the prepared index, so a failure here
points at a kernel, not at the API layer. On a machine without CUDA the kernels run under the
Triton interpreter (conftest sets ``TRITON_INTERPRET=1``): shapes are tiny and only fp32/fp16 are
used there (the interpreter's bf16 ``tl.dot`` is wrong). The GPU tests add bf16 and bitwise
run-to-run determinism of the backward.

Tolerances: fp32 1e-4 max-abs (the interpreter multiplies in IEEE fp32; errors seen ~1e-6);
16-bit: out within 2e-2 max-abs, every tensor within 1e-2 relative Frobenius error and 2e-2
max-abs relative to the reference's largest entry (TARGETS.md numerics).
"""
from __future__ import annotations

import os

import pytest
import torch

triton = pytest.importorskip("triton")

from nsa_ops.indices import prepare_index  # noqa: E402
from nsa_ops.kernels.csr import build_entry_csr  # noqa: E402
from nsa_ops.kernels import backward as backward_module  # noqa: E402
from nsa_ops.kernels import forward as forward_module  # noqa: E402
from nsa_ops.kernels.backward import selection_backward  # noqa: E402
from nsa_ops.kernels.forward import selection_forward  # noqa: E402
from nsa_ops.reference import reference_selection  # noqa: E402

CUDA = torch.cuda.is_available()
INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"
DEVICE = "cuda" if CUDA and not INTERPRETED else "cpu"
needs_cuda = pytest.mark.skipif(not CUDA or INTERPRETED, reason="needs a CUDA device")


def make_problem(B, Tq, Tk, HQ, H, D, Dv, block_size, S, dtype, seed=0, device=DEVICE,
                 cu_seqlens=None, counts=True):
    """Random q/k/v and messy block_indices: padding (-1), out-of-range ids, duplicates,
    future blocks, a block_counts tensor, one query with nothing selected, one with only a
    future block."""
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(B, Tq, HQ, D, generator=gen).to(device, dtype)
    k = torch.randn(B, Tk, H, D, generator=gen).to(device, dtype)
    v = torch.randn(B, Tk, H, Dv, generator=gen).to(device, dtype)
    NB = (Tk + block_size - 1) // block_size
    ids = torch.randint(-2, NB + 2, (B, Tq, H, S), generator=gen)
    ids[..., 1] = ids[..., 0]  # duplicates
    block_counts = torch.randint(0, S + 1, (B, Tq, H), generator=gen) if counts else None
    ids[0, 0] = -1  # nothing selected
    if Tq > 1 and cu_seqlens is None:
        ids[0, 1, :, 0] = NB - 1 if Tk - Tq + 1 < (NB - 1) * block_size else -1  # future only
        ids[0, 1, :, 1:] = -1
    return q, k, v, ids.to(device), (None if block_counts is None else block_counts.to(device))


def run_kernels(q, k, v, ids, counts, block_size, scale, cu=None, do_seed=1):
    B, Tq, HQ, D = q.shape
    Tk = k.shape[1]
    cu_q = cu_k = cu
    idx = prepare_index(ids, counts, block_size, Tq, Tk, cu_q, cu_k)
    out, lse = selection_forward(q, k, v, *idx, block_size, scale)
    gen = torch.Generator().manual_seed(do_seed)
    do = torch.randn(out.shape, generator=gen).to(out.device, out.dtype)
    dlse = torch.randn(lse.shape, generator=gen).to(lse.device)
    delta = (do.float() * out.float()).sum(-1) - dlse
    csr = build_entry_csr(idx.sel, None, block_size, Tk, idx.block_start.shape[0], prepared=True)
    grads = selection_backward(do, q, k, v, lse, delta, idx.q_last, idx.block_start, csr, block_size, scale,
                               sel=idx.sel, cnt=idx.cnt)
    return idx, out, lse, do, dlse, grads


def reference_grads(q, k, v, ids, counts, block_size, scale, do, dlse, cu=None):
    qd, kd, vd = [x.detach().double().requires_grad_() for x in (q, k, v)]
    ro, rl = reference_selection(qd, kd, vd, ids, counts, block_size, scale, cu)
    finite = torch.isfinite(rl)
    loss = (ro * do.double()).sum() + (rl[finite] * dlse.double()[finite]).sum()
    return ro.detach(), rl.detach(), torch.autograd.grad(loss, [qd, kd, vd])


def assert_close(name, got, ref, dtype):
    got = got.double()
    assert not torch.isnan(got).any(), f"{name}: NaN"
    if dtype == torch.float32:
        err = (got - ref).abs().max().item()
        assert err <= 1e-4, f"{name}: max-abs {err:.2e} > 1e-4"
        return
    scale = max(ref.abs().max().item(), 1e-6)
    err = (got - ref).abs().max().item() / scale
    rel = ((got - ref).norm() / max(ref.norm().item(), 1e-12)).item()
    assert err <= 2e-2 and rel <= 1e-2, f"{name}: max-abs/max|ref| {err:.2e}, rel-Frobenius {rel:.2e}"


def assert_training_op_matches_reference(q, k, v, bi, counts, block_size, scale, dtype, seed):
    """The public op on the Triton backend, forward and backward with a random upstream
    gradient (seeded), against the float64 reference: out, dq, dk, dv."""
    import nsa_ops

    gen = torch.Generator().manual_seed(seed)
    dout = torch.randn(q.shape[:-1] + (v.shape[-1],), generator=gen).to(DEVICE, dtype)
    x = [t.clone().requires_grad_() for t in (q, k, v)]
    with nsa_ops.use_backend("triton"):
        out = nsa_ops.selection_attention(*x, bi, block_counts=counts, block_size=block_size, scale=scale)
        grads = torch.autograd.grad(out, x, dout)
    no_dlse = torch.zeros(q.shape[:-1], device=DEVICE)
    ro, _, ref_grads = reference_grads(q, k, v, bi, counts, block_size, scale, dout, no_dlse)
    for name, a, r in zip(("out", "dq", "dk", "dv"), (out.detach(),) + grads, (ro,) + tuple(ref_grads)):
        assert_close(name, a, r, dtype)


def check_against_reference(B, Tq, Tk, HQ, H, D, Dv, block_size, S, dtype, cu=None, counts=True, seed=0):
    q, k, v, ids, cnts = make_problem(B, Tq, Tk, HQ, H, D, Dv, block_size, S, dtype, seed=seed,
                                      cu_seqlens=cu, counts=counts)
    scale = D ** -0.5
    idx, out, lse, do, dlse, (dq, dk, dv) = run_kernels(q, k, v, ids, cnts, block_size, scale, cu)
    ro, rl, (rq, rk, rv) = reference_grads(q, k, v, ids, cnts, block_size, scale, do, dlse, cu)

    assert out.shape == (B, Tq, HQ, Dv) and out.dtype == dtype and out.is_contiguous()
    assert lse.shape == (B, Tq, HQ) and lse.dtype == torch.float32
    assert (dq.shape, dk.shape, dv.shape) == (q.shape, k.shape, v.shape)
    assert (dq.dtype, dk.dtype, dv.dtype) == (dtype, dtype, dtype)
    empty = torch.isinf(rl)
    assert torch.equal(torch.isinf(lse) & (lse < 0), empty), "lse -inf exactly where no key is visible"
    assert (out[empty] == 0).all() and (dq[empty] == 0).all(), "rows without keys: out and dq exactly 0"
    assert_close("out", out, ro, dtype)
    assert_close("lse", lse[~empty], rl[~empty], torch.float32)
    assert_close("dq", dq, rq, dtype)
    assert_close("dk", dk, rk, dtype)
    assert_close("dv", dv, rv, dtype)
    return empty


# (B, Tq, Tk, HQ, H, D, Dv, block_size, S, dtype)
CASES = [
    pytest.param(1, 32, 48, 4, 4, 16, 16, 16, 3, torch.float32, id="G1-fp32"),
    pytest.param(2, 24, 64, 12, 4, 48, 32, 16, 4, torch.float32, id="G3-D48-Dv32-fp32-B2"),
    pytest.param(1, 40, 64, 8, 2, 16, 24, 32, 3, torch.float16, id="G4-Dv24-fp16-block32"),
    pytest.param(1, 16, 64, 4, 1, 16, 16, 16, 4, torch.float32, id="G4-decode-chunk-Tq<Tk"),
]


@pytest.mark.parametrize("schedule", ["token", "kv"])
@pytest.mark.parametrize("B,Tq,Tk,HQ,H,D,Dv,block_size,S,dtype", CASES)
def test_kernels_match_reference(B, Tq, Tk, HQ, H, D, Dv, block_size, S, dtype, schedule, monkeypatch):
    # Both schedules on every case: token-centric forward/dQ, and KV-centric gather + combine
    # forward with dq partials written by the dK/dV kernel.
    monkeypatch.setattr(forward_module, "forward_schedule", lambda *shape: schedule)
    monkeypatch.setattr(backward_module, "dq_schedule", lambda *shape: schedule)
    empty = check_against_reference(B, Tq, Tk, HQ, H, D, Dv, block_size, S, dtype)
    assert empty.any(), "the problem should include queries without keys"


@pytest.mark.parametrize("schedule", ["token", "kv"])
def test_packed_varlen_matches_reference(schedule, monkeypatch):
    monkeypatch.setattr(forward_module, "forward_schedule", lambda *shape: schedule)
    monkeypatch.setattr(backward_module, "dq_schedule", lambda *shape: schedule)
    # Sequences of 7, 0 (empty), 23 and 30 tokens with block 16: partial last blocks whose
    # tokens run into the next sequence, and an empty sequence in the middle.
    cu = torch.tensor([0, 7, 7, 30, 60], dtype=torch.int32, device=DEVICE)
    check_against_reference(1, 60, 60, 6, 2, 16, 16, 16, 3, torch.float32, cu=cu)


@pytest.mark.parametrize("d,blocks", [(192, (128, 64)), (160, (128, 32)), (96, (64, 32)), (80, (64, 16)),
                                      (128, (128, 0)), (200, (256, 0)), (48, (32, 16)), (24, (32, 0)), (8, (16, 0))])
def test_head_dim_blocks(d, blocks):
    """A non-power-of-two head dim is held as two power-of-two pieces when that is narrower
    than padding (D=192: 128 + 64 instead of 256), and always covers D."""
    from nsa_ops.kernels.configs import head_dim_blocks

    assert head_dim_blocks(d) == blocks
    assert sum(head_dim_blocks(d)) >= d


@pytest.mark.parametrize("split", [True, False])
@pytest.mark.parametrize("schedule", ["token", "kv"])
def test_split_and_padded_head_dim(split, schedule, monkeypatch):
    """D=40 runs as 32 + 16 columns (split) or padded to 64; both equal the reference in every
    kernel (forward, dQ, dK/dV, dq partials of the KV schedule)."""
    from nsa_ops.kernels import configs

    monkeypatch.setattr(configs, "SPLIT_HEAD_DIM", split)
    monkeypatch.setattr(forward_module, "forward_schedule", lambda *shape: schedule)
    monkeypatch.setattr(backward_module, "dq_schedule", lambda *shape: schedule)
    assert configs.head_dim_blocks(40) == ((32, 16) if split else (64, 0))
    check_against_reference(1, 24, 40, 8, 2, 40, 24, 16, 3, torch.float16, seed=5)


@pytest.mark.parametrize("HQ,H,dq", [(8, 2, "kv"), (32, 2, "token")], ids=["G4", "G16"])
def test_dkv_with_both_head_dims_in_two_pieces(HQ, H, dq, monkeypatch):
    """The dK/dV tile on the GPU (G > 1, D = Dv = 128, block 64) gathers 128 rows and holds D and
    Dv as two 64-wide pieces each (configs.dkv_tile); here the same with D = Dv = 32 as 16 + 16,
    with the KV-scheduled dq partials (G4) and the token-centric dQ (G16): equal to the reference."""
    from nsa_ops.kernels import configs

    for g in (4, 16):
        tile = configs.dkv_tile(g, 128, 128, 64)
        assert (tile.rows, tile.block_d, tile.block_d2, tile.block_dv, tile.block_dv2) == (128, 64, 64, 64, 64)
    real = backward_module.dkv_tile
    monkeypatch.setattr(backward_module, "dkv_tile", lambda *a, **kw: real(*a, **kw)._replace(
        rows=128, block_d=16, block_d2=16, block_dv=16, block_dv2=16, num_warps=8, num_stages=2))
    monkeypatch.setattr(backward_module, "dq_schedule", lambda *shape: dq)
    check_against_reference(1, 40, 48, HQ, H, 32, 32, 16, 3, torch.float32, seed=3)


@pytest.mark.parametrize("pieces", [(16, 32), (32, 16)], ids=["narrow-first", "wide-first"])
def test_dkv_split_head_in_either_order(pieces, monkeypatch):
    """The G >= 16 split-head dK/dV tile holds the narrow piece first on the GPU (D=192 as
    64 + 128, configs.dkv_tile); the pieces are column ranges, so either order equals the
    reference (here D=48 as 16 + 32 or 32 + 16, Dv=32 whole)."""
    from nsa_ops.kernels import configs

    tile = configs.dkv_tile(16, 192, 128, 64)
    assert (tile.block_d, tile.block_d2) == (64, 128)
    real = backward_module.dkv_tile
    monkeypatch.setattr(backward_module, "dkv_tile", lambda *a, **kw: real(*a, **kw)._replace(
        rows=128, block_d=pieces[0], block_d2=pieces[1], block_dv=32, block_dv2=0, num_warps=8, num_stages=1))
    monkeypatch.setattr(backward_module, "dq_schedule", lambda *shape: "token")
    check_against_reference(1, 40, 48, 32, 2, 48, 32, 16, 3, torch.float32, seed=3)


@pytest.mark.parametrize("schedule", ["token", "kv"])
def test_group_larger_than_head_tile(schedule, monkeypatch):
    monkeypatch.setattr(forward_module, "forward_schedule", lambda *shape: schedule)
    monkeypatch.setattr(backward_module, "dq_schedule", lambda *shape: schedule)
    # G = 128 > 64 rows: the forward/dQ tile over heads, dK/dV loops over head tiles.
    check_against_reference(1, 8, 32, 128, 1, 16, 16, 16, 2, torch.float32, counts=False)


def test_non_contiguous_inputs():
    gen = torch.Generator().manual_seed(3)
    B, Tq, Tk, HQ, H, D, block_size, S = 1, 24, 32, 4, 2, 16, 16, 2
    q = torch.randn(B, HQ, Tq, D, generator=gen).transpose(1, 2).to(DEVICE)  # strided tokens
    kv = torch.randn(B, Tk, H, 2 * D + 3, generator=gen).to(DEVICE)
    k, v = kv[..., :D], kv[..., D + 3:]  # views with padded rows
    ids = torch.randint(0, 2, (B, Tq, H, S), generator=gen).to(DEVICE)
    scale = 0.3
    idx, out, lse, do, dlse, (dq, dk, dv) = run_kernels(q, k, v, ids, None, block_size, scale)
    ro, rl, (rq, rk, rv) = reference_grads(q, k, v, ids, None, block_size, scale, do, dlse)
    for name, got, ref in [("out", out, ro), ("dq", dq, rq), ("dk", dk, rk), ("dv", dv, rv)]:
        assert_close(name, got, ref, torch.float32)


def test_split_query_lists_are_exact_and_deterministic(monkeypatch):
    # Cut every block's query list into pieces of 3 tokens so the piece partials and their
    # fixed-order reduction run (on the GPU shapes block 0 alone has Tq tokens).
    monkeypatch.setattr(backward_module, "dkv_piece_tokens", lambda group_size, packed=False: 3)
    q, k, v, ids, cnts = make_problem(1, 32, 48, 6, 2, 16, 16, 16, 3, torch.float32, seed=5)
    ids[..., 0] = 0  # every query selects block 0: its list has 32 tokens -> 11 pieces
    a = run_kernels(q, k, v, ids, None, 16, 0.25)
    b = run_kernels(q, k, v, ids, None, 16, 0.25)
    for x, y in zip(a[5], b[5]):
        assert torch.equal(x, y)
    # Rows of one piece are written by the pieces kernel itself (DIRECT_DKV), the others by the
    # reduce: both equal, bitwise, the reduce writing every row.
    monkeypatch.setattr(backward_module, "DIRECT_DKV", False)
    c = run_kernels(q, k, v, ids, None, 16, 0.25)
    for x, y in zip(a[5], c[5]):
        assert torch.equal(x, y)
    ro, rl, ref = reference_grads(q, k, v, ids, None, 16, 0.25, a[3], a[4])
    for name, got, r in zip(["dq", "dk", "dv"], a[5], ref):
        assert_close(name, got, r, torch.float32)


@pytest.mark.parametrize("HQ,H", [(2, 2), (8, 2)], ids=["G1", "G4"])
def test_gathered_loops_span_several_chunks(HQ, H):
    # Every query selects block 0, so its list (300 entries) spans several gathered chunks of
    # the KV forward and the dK/dV pieces (128 entries per chunk at G1, 16 at G4): the loops
    # that carry the next chunk's entry ids (configs prefetch_ids, G1) and those that do not
    # must both cover every entry once, up to the list's end.
    q, k, v, ids, cnts = make_problem(1, 300, 320, HQ, H, 16, 16, 16, 3, torch.float32, seed=11)
    ids[..., 0] = 0
    idx, out, lse, do, dlse, grads = run_kernels(q, k, v, ids, None, 16, 0.25)
    ro, rl, ref = reference_grads(q, k, v, ids, None, 16, 0.25, do, dlse)
    for name, got, r in zip(["out", "dq", "dk", "dv"], (out, *grads), (ro, *ref)):
        assert_close(name, got, r, torch.float32)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_delta_kernel_matches_torch(dtype):
    # delta = sum(dO * O, -1) - dlse in fp32, on strided (non-contiguous) dO, O and dlse, with
    # more rows than one program takes and a head dim that is not a power of two.
    from nsa_ops.kernels.backward import selection_delta

    gen = torch.Generator().manual_seed(11)
    B, Tq, HQ, Dv = 2, 37, 6, 24
    do = torch.randn(B, HQ, Tq, Dv, generator=gen).to(DEVICE, dtype).transpose(1, 2)
    out = torch.randn(B, Tq, HQ, 2 * Dv, generator=gen).to(DEVICE, dtype)[..., ::2]
    dlse = torch.randn(B, HQ, Tq, generator=gen).to(DEVICE).transpose(1, 2)
    got = selection_delta(do, out, dlse)
    want = (do.double() * out.double()).sum(-1) - dlse.double()
    assert got.dtype == torch.float32 and got.shape == (B, Tq, HQ)
    err = (got.double() - want).abs().max().item()
    assert err <= 1e-5 * max(1.0, want.abs().max().item()), f"delta max-abs {err:.2e}"


def test_fp32_follows_matmul_precision():
    # "high" selects TF32 tl.dot on a GPU; results stay within the TF32 bound either way.
    old = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("high")
        q, k, v, ids, cnts = make_problem(1, 16, 32, 4, 2, 16, 16, 16, 2, torch.float32, seed=7)
        idx, out, lse, do, dlse, grads = run_kernels(q, k, v, ids, cnts, 16, 0.25)
        ro, rl, _ = reference_grads(q, k, v, ids, cnts, 16, 0.25, do, dlse)
        rel = ((out.double() - ro).norm() / ro.norm()).item()
        assert rel <= 1e-3
    finally:
        torch.set_float32_matmul_precision(old)


@needs_cuda
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
@pytest.mark.parametrize("HQ,H,D,Dv,block_size", [
    (16, 1, 128, 128, 64), (12, 4, 192, 128, 64), (32, 2, 192, 128, 64), (8, 8, 64, 64, 128), (6, 2, 48, 96, 32),
    # G3 / G4 / G8 / G12 (and G16 above): the 128-row split dK/dV (configs.dkv_tile), 42 / 32 / 16 / 10
    # entries per chunk
    (12, 4, 128, 128, 64), (8, 2, 128, 128, 64), (16, 2, 128, 128, 64), (24, 2, 128, 128, 64),
])
def test_gpu_kernels_match_reference(dtype, HQ, H, D, Dv, block_size):
    check_against_reference(1, 256, 320, HQ, H, D, Dv, block_size, 6, dtype)


@needs_cuda
@pytest.mark.gpu
@pytest.mark.parametrize("G,D", [(1, 128), (4, 128), (16, 128), (16, 192)])
def test_gpu_backward_is_bitwise_deterministic(G, D):
    q, k, v, ids, cnts = make_problem(1, 512, 512, 4 * G, 4, D, 128, 64, 8, torch.bfloat16, seed=11)
    ids[..., 0] = 0
    a = run_kernels(q, k, v, ids, cnts, 64, 0.1)
    b = run_kernels(q, k, v, ids, cnts, 64, 0.1)
    assert torch.equal(a[1], b[1]) and torch.equal(a[2], b[2])
    for x, y in zip(a[5], b[5]):
        assert torch.equal(x, y)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("G,counts,schedule", [(8, "none", "token"), (16, "tensor", "token"), (3, "tensor", "token"),
                                               (1, "tensor", "kv"), (3, "none", "kv"), (4, "tensor", "kv")])
def test_raw_index_forward_matches_reference(dtype, G, counts, schedule):
    """The token-centric kernel (rows cleaned in registers) and the KV-centric pipeline (rows
    cleaned by the entry-key kernel while building the CSR) on raw block_indices (validity,
    causality and duplicates) equal the reference; 16-bit 2e-2, fp32 1e-4 max-abs."""
    from problems import assert_close_to_reference, make_problem

    from nsa_ops.kernels.forward import selection_forward_raw
    from nsa_ops.kernels.forward_kv import selection_forward_kv

    p = make_problem(21 + G, B=2, Tq=20, Tk=45, H=2, G=G, D=48, Dv=32, S=6, block_size=16,
                     dtype=dtype, counts=counts, device=DEVICE)
    bi = p.block_indices.clone()
    bi[..., 3] = bi[..., 1]  # duplicates
    bi[0, 2] = -1  # empty rows
    launch = selection_forward_raw if schedule == "token" else selection_forward_kv
    out, lse = launch(p.q, p.k, p.v, bi, p.block_counts, 16, 0.2)
    ref, ref_lse = reference_selection(p.q.double(), p.k.double(), p.v.double(), bi,
                                       block_counts=p.block_counts, block_size=16, scale=0.2)
    tol = (1e-4, 1e-4) if dtype == torch.float32 else (2e-2, 1e-2)
    assert_close_to_reference(out, ref, *tol)
    assert_close_to_reference(lse, ref_lse, 1e-3 if dtype == torch.float32 else 2e-2, 1e-3, "lse")


@pytest.mark.parametrize("G,Tq,counts", [(16, 24, "tensor"), (2, 24, "none"), (4, 3, "tensor")])
def test_op_dispatch_on_triton_backend(G, Tq, counts):
    """selection_attention with backend="triton" (token-centric raw, KV-centric, split decode),
    forward and backward, equals the reference; fp32, 1e-4 / grads 1e-3 max-abs."""
    from problems import assert_close_to_reference, make_problem

    import nsa_ops

    p = make_problem(40 + G, B=1, Tq=Tq, Tk=40, H=2, G=G, D=16, Dv=16, S=4, block_size=16,
                     dtype=torch.float32, counts=counts, device=DEVICE)
    q, k, v = (x.clone().requires_grad_() for x in (p.q, p.k, p.v))
    with nsa_ops.use_backend("triton"):
        out = nsa_ops.selection_attention(q, k, v, p.block_indices, **p.kwargs())
    grads = torch.autograd.grad(out, (q, k, v), torch.ones_like(out))
    r = [x.detach().double().requires_grad_() for x in (p.q, p.k, p.v)]
    ref, _ = reference_selection(*r, p.block_indices, **p.kwargs())
    ref_grads = torch.autograd.grad(ref, r, torch.ones_like(ref))
    assert_close_to_reference(out, ref, 1e-4, 1e-4)
    for name, a, b in zip("qkv", grads, ref_grads):
        assert_close_to_reference(a, b, 1e-3, 1e-3, f"d{name}")


@pytest.mark.parametrize("G,counts", [(8, "none"), (16, "none"), (16, "tensor")])
def test_shared_and_token_tiles_mix_correctly(G, counts):
    """Tiles with a small union take the multi-token (shared K/V) kernels, the others the
    token-centric ones, in the forward and in dQ; every (token, head) is written exactly once
    (dq is poisoned with NaN first) and out, lse and dq equal the reference; delta, which the dQ
    kernels compute on the way, equals rowsum(dO * O) - dlse (1e-4). Even tiles give
    all their tokens one row that lists a block twice, except that their first two tokens swap
    the last slot for a block of their own (union <= S + 2 <= 1.5 S: taken, as the dQ flags must
    show); odd tiles are random (union > 1.5 S: left to the token kernel); the last tile has
    one token. fp32: out 1e-4, dq 1e-3 max-abs."""
    from problems import assert_close_to_reference, make_problem

    from nsa_ops.kernels.backward import _launch_token_dq
    from nsa_ops.kernels.configs import shared_tile
    from nsa_ops.kernels.forward import selection_forward_raw

    tokens = shared_tile(G, 16, 16, 16, 6, 4).tokens
    # 13 tiles and one token: a partial last tile.
    Tq = 13 * tokens + 1
    p = make_problem(77, B=1, Tq=Tq, Tk=300, H=1, G=G, D=16, Dv=16, S=6, block_size=16,
                     dtype=torch.float32, pad=False, counts=counts, device=DEVICE)
    bi = p.block_indices.clone()
    gen = torch.Generator().manual_seed(78)
    for tile in range(0, 14, 2):  # even tiles: one shared row (clamped causal for all tokens)
        rows = slice(tile * tokens, (tile + 1) * tokens)
        row = torch.randint(0, (300 - Tq) // 16, (1, 1, 1, 6), generator=gen).to(bi)
        row[..., 2] = row[..., 0]  # a block listed twice by every token of the tile
        bi[:, rows] = row
        # the tile's first two tokens swap their last slot for a block of their own (the union
        # walk must mask each block to the tokens that chose it)
        bi[:, tile * tokens: tile * tokens + 2, :, 5] = torch.randint(0, (300 - Tq) // 16, (1, 2, 1),
                                                                      generator=gen).to(bi)
    out, lse = selection_forward_raw(p.q, p.k, p.v, bi, p.block_counts, 16, 0.3)
    q, k, v = (x.detach().double().requires_grad_() for x in (p.q, p.k, p.v))
    ref, ref_lse = reference_selection(q, k, v, bi, block_counts=p.block_counts, block_size=16, scale=0.3)
    assert_close_to_reference(out, ref, 1e-4, 1e-4)
    assert_close_to_reference(lse, ref_lse, 1e-3, 1e-3, "lse")

    do = torch.randn(out.shape, generator=torch.Generator().manual_seed(5)).to(out)
    dlse = torch.randn(lse.shape, generator=torch.Generator().manual_seed(6)).to(lse)
    dq = torch.full_like(p.q, float("nan"))
    # delta=None: both dQ kernels also compute delta = rowsum(dO * O) - dlse for their rows.
    owned, delta = _launch_token_dq(do, p.q, p.k, p.v, lse, None, dq, None, None, 16, 0.3, None, None,
                                    (bi, p.block_counts), use_shared=True, out=out, dlse=dlse)
    assert_close_to_reference(delta, (do.double() * out.double()).sum(-1) - dlse.double(), 1e-4, 1e-5, "delta")
    finite = torch.isfinite(ref_lse)
    ref_dq, = torch.autograd.grad((ref * do.double()).sum() + (ref_lse[finite] * dlse.double()[finite]).sum(), q)
    # The flags follow the rule of primitives.shared_tile_union, recomputed here: the tile's first
    # and last tokens share at least half of their slots and the union of its tokens' kept
    # blocks (in block_counts, causal) has at most max_union. Even tiles are taken by design;
    # the last tile holds one token (union <= S), so it is taken too.
    max_union = shared_tile(G, 16, 16, 16, 6, 4).max_union
    cnt = p.block_counts[0, :, 0].tolist() if p.block_counts is not None else [6] * Tq
    want = []
    for tile in range(14):
        toks = range(tile * tokens, min((tile + 1) * tokens, Tq))
        rows = [bi[0, t, 0].tolist() for t in toks]
        common = sum(1 for i in rows[0] if i >= 0 and i in rows[-1])  # slots of the first token
        union = {i for t, r in zip(toks, rows) for s_, i in enumerate(r)
                 if s_ < cnt[t] and 0 <= i and i * 16 <= 300 - Tq + t}
        want.append(int(2 * common >= 6 and len(union) <= max_union))
    assert want[0:14:2] == [1] * 7, want
    assert owned is not None and owned.tolist() == want, (owned, want)
    assert_close_to_reference(dq, ref_dq, 1e-3, 1e-3, "dq")


@needs_cuda
@pytest.mark.gpu
@pytest.mark.parametrize("G,dtype", [(16, torch.bfloat16), (8, torch.float16), (16, torch.float32)])
def test_gpu_shared_dq_on_local_selection(G, dtype):
    """On the bench's locality-correlated selection most tiles take the multi-token dQ kernel
    (its flags say so) and dq, poisoned with NaN first, equals the float64 reference within the
    TARGETS.md tolerances (16-bit: 2e-2 max-abs relative to max|ref|, 1e-2 relative Frobenius;
    fp32 with TF32 products: 2e-3)."""
    from problems import assert_close_to_reference

    from nsa_ops.kernels.backward import _launch_token_dq
    from nsa_ops.kernels.forward import selection_forward_raw
    from nsa_ops.selections import local_selection

    T, H, D = 1024, 2, 128
    gen = torch.Generator(device="cuda").manual_seed(G)
    q = torch.randn(1, T, H * G, D, device="cuda", dtype=dtype, generator=gen)
    k, v = (torch.randn(1, T, H, D, device="cuda", dtype=dtype, generator=gen) for _ in range(2))
    bi = local_selection(1, T, H, 16, 64, device="cuda", generator=gen, chunk=T)
    do = torch.randn(1, T, H * G, D, device="cuda", dtype=dtype, generator=gen)
    out, lse = selection_forward_raw(q, k, v, bi, None, 64, D ** -0.5)
    dq = torch.full_like(q, float("nan"))
    owned, _ = _launch_token_dq(do, q, k, v, lse, (do.float() * out.float()).sum(-1), dq, None, None, 64,
                                D ** -0.5, None, None, (bi, None), use_shared=True)
    assert owned.float().mean().item() > 0.5, owned.float().mean()
    qd, kd, vd = (x.detach().double().requires_grad_() for x in (q, k, v))
    ref, _ = reference_selection(qd, kd, vd, bi, block_size=64, scale=D ** -0.5)
    ref_dq, = torch.autograd.grad(ref, qd, do.double())
    atol = (2e-3 if dtype == torch.float32 else 2e-2) * ref_dq.abs().max().item()
    assert_close_to_reference(dq, ref_dq, atol, 2e-3 if dtype == torch.float32 else 1e-2, "dq")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_single_visible_key_gradients(dtype):
    """One query, one key: softmax is exactly 1, so dK is exactly 0 in float64 and the kernels
    may return only rounding noise (checked with max-abs 1e-4); dQ = 0; dV = dO (2e-2 in fp16).
    The GPU parity test once failed here on a relative error against an all-zero reference."""
    from problems import assert_close_to_reference, make_problem

    import nsa_ops

    p = make_problem(3, B=1, Tq=1, Tk=1, H=1, G=16, D=64, Dv=64, S=5, block_size=16, dtype=dtype, device=DEVICE)
    bi = torch.tensor([-1, -1, -1, -2, 0], device=DEVICE).view(1, 1, 1, 5)
    q, k, v = (x.clone().requires_grad_() for x in (p.q, p.k, p.v))
    with nsa_ops.use_backend("triton"):
        out = nsa_ops.selection_attention(q, k, v, bi, block_size=16)
    dout = torch.randn_like(out)
    grads = torch.autograd.grad(out, (q, k, v), dout)
    r = [x.detach().double().requires_grad_() for x in (p.q, p.k, p.v)]
    ref, _ = reference_selection(*r, bi, block_size=16)
    ref_grads = torch.autograd.grad(ref, r, dout.double())
    assert ref_grads[1].abs().max() == 0
    dv_tol = 1e-4 if dtype == torch.float32 else 2e-2  # dV = P dO with P recomputed from lse
    for name, a, b in zip("qkv", grads, ref_grads):
        assert_close_to_reference(a, b, 1e-4 if name != "v" else dv_tol, 1e-2, f"d{name}")


@pytest.mark.parametrize("stable", [True, False])
@pytest.mark.parametrize("counts", [False, True])
@pytest.mark.parametrize("NB,windows", [(5, 1), (11000, 1), (5, 3), (3000, 2)])
def test_entry_csr_lists_each_kept_slot_once(counts, NB, windows, stable):
    """The entry CSR (kernels/csr.py) against a direct construction: the kept slots (in range,
    causal, inside block_counts, first of their id in the row), listed under their block in
    ascending entry order, with exact row offsets. NB = 11000 puts the sentinel (B * H * NB)
    past int16, so the keys are sorted as int32 there and as int16 at NB = 5; with ``windows``
    the rows are (b, h, query window of ceil(Tq / windows) rows, block), and at NB = 3000 two
    windows take the sentinel past int16. ``stable=False`` (the counting sort on int atomics):
    the same lists in any order, each entry's position its place, n for the entries not kept."""
    from nsa_ops.kernels.csr import build_entry_csr

    gen = torch.Generator().manual_seed(9)
    B, Tq, H, S, bs = 2, 11, 3, 5, 8
    Tk = NB * bs
    ids = torch.randint(-2, NB + 2, (B, Tq, H, S), generator=gen)
    ids[..., 2] = ids[..., 0]
    ids[:, ::3, :, 3] = 2 ** 32 + 1  # an int64 id that would wrap to 1 in int32: must be dropped
    cnt = torch.randint(0, S + 1, (B, Tq, H), generator=gen) if counts else None
    csr = build_entry_csr(ids.to(DEVICE), None if cnt is None else cnt.to(DEVICE), bs, Tk, NB, positions=True,
                          windows=windows, stable=stable)
    window = -(-Tq // windows)
    n_rows = B * H * windows * NB
    expected = {}
    for b in range(B):
        for t in range(Tq):
            for h in range(H):
                seen = set()
                for s in range(S):
                    i = int(ids[b, t, h, s])
                    ok = 0 <= i < NB and i * bs <= Tk - Tq + t and (cnt is None or s < cnt[b, t, h])
                    if ok and i not in seen:
                        seen.add(i)
                        row = ((b * H + h) * windows + t // window) * NB + i
                        expected.setdefault(row, []).append(((b * Tq + t) * H + h) * S + s)
    offsets, entries = csr.offsets.cpu().tolist(), csr.entries.cpu().tolist()
    assert csr.sentinel == n_rows and len(offsets) == n_rows + 1 and csr.windows == windows
    for r in range(n_rows):
        got = entries[offsets[r]:offsets[r + 1]]
        assert (got if stable else sorted(got)) == expected.get(r, []), f"row {r}"
    n_kept = sum(len(x) for x in expected.values())
    assert offsets[-1] == n_kept
    assert int((csr.keys != csr.sentinel).sum()) == n_kept
    assert csr.keys.dtype == (torch.int16 if n_rows < 2 ** 15 else torch.int32)
    # positions invert the list: entry e sits at positions[e], below n_kept iff e is kept
    n = B * Tq * H * S
    positions = csr.positions.cpu().tolist()
    kept = {e for row in expected.values() for e in row}
    if stable:
        assert sorted(positions) == list(range(n))
    else:
        assert sorted(positions[e] for e in kept) == list(range(n_kept))
        assert all(positions[e] == n for e in range(n) if e not in kept)
    assert all(entries[positions[e]] == e for e in kept)
    assert all((positions[e] < n_kept) == (e in kept) for e in range(n))



@pytest.mark.parametrize("n_rows,piece,slack", [(1, 4, 0), (7, 3, 5), (1024, 5, 0), (2500, 7, 40), (3000, 64, 1)])
def test_pieces_kernel_cuts_rows_exactly(n_rows, piece, slack):
    """``csr.split_pieces`` (one kernel, several programs past 1024 rows) against a direct
    construction: row r owns items row_first[r] : row_first[r + 1], ceil(len_r / piece) of them,
    item_row names each item's row, and the surplus items of the static bound (rows + entries /
    piece, with ``slack`` entries more than the lists hold) name n_rows. Empty rows included."""
    from nsa_ops.kernels.csr import split_pieces

    gen = torch.Generator().manual_seed(n_rows)
    lengths = torch.randint(0, 3 * piece, (n_rows,), generator=gen)
    lengths[::4] = 0
    offsets = torch.zeros(n_rows + 1, dtype=torch.int32)
    offsets[1:] = torch.cumsum(lengths, 0)
    total = int(offsets[-1])
    pieces = split_pieces(offsets.to(DEVICE), total + slack, piece)
    assert pieces.n_items == n_rows + (total + slack + piece - 1) // piece
    counts = [(int(n) + piece - 1) // piece for n in lengths]
    first = [0]
    for c in counts:
        first.append(first[-1] + c)
    assert pieces.row_first_item.cpu().tolist() == first
    expected = [r for r, c in enumerate(counts) for _ in range(c)]
    expected += [n_rows] * (pieces.n_items - len(expected))
    assert pieces.item_row.cpu().tolist() == expected


@pytest.mark.parametrize("counts", [False, True])
def test_entry_csr_near_blocks_leave_the_lists(counts):
    """With ``near=True`` (kernels/csr.py) a kept slot whose block is the query's own, the one
    before it or block 0 is left out of the lists and recorded in the row's near bits (own 4,
    previous 2, block 0 1, an id named by the first it matches); every other kept slot is
    listed as without ``near``. Tq < Tk, so the query positions are offset."""
    from nsa_ops.kernels.csr import NEAR_OWN, NEAR_PREV, NEAR_ZERO, build_entry_csr

    gen = torch.Generator().manual_seed(13)
    B, Tq, H, S, bs, NB = 2, 23, 2, 6, 8, 7
    Tk = NB * bs - 3
    ids = torch.randint(-1, NB + 1, (B, Tq, H, S), generator=gen)
    own = (Tk - Tq + torch.arange(Tq)) // bs
    ids[:, :, :, 0] = 0
    ids[:, ::2, :, 1] = own[::2, None]
    ids[:, 1::3, :, 4] = (own[1::3, None] - 1).clamp(min=0)
    ids[..., 5] = ids[..., 1]  # duplicates
    cnt = torch.randint(0, S + 1, (B, Tq, H), generator=gen) if counts else None
    full = build_entry_csr(ids.to(DEVICE), None if cnt is None else cnt.to(DEVICE), bs, Tk, NB)
    csr = build_entry_csr(ids.to(DEVICE), None if cnt is None else cnt.to(DEVICE), bs, Tk, NB, near=True)
    full_off, full_ent = full.offsets.cpu().tolist(), full.entries.cpu().tolist()
    offsets, entries = csr.offsets.cpu().tolist(), csr.entries.cpu().tolist()
    near_bits = csr.near.cpu()
    n_near = 0
    for b in range(B):
        for t in range(Tq):
            for h in range(H):
                o = int(own[t])
                expect = 0
                for g in {0, o - 1, o} - {-1}:
                    if any(e // S == (b * Tq + t) * H + h for e in full_ent[full_off[(b * H + h) * NB + g]:
                                                                            full_off[(b * H + h) * NB + g + 1]]):
                        expect |= NEAR_OWN if g == o else NEAR_PREV if g == o - 1 else NEAR_ZERO
                assert int(near_bits[b, t, h]) == expect, (b, t, h)
                n_near += bin(expect).count("1")
    for r in range(B * H * NB):
        g, bh_row = r % NB, r // NB
        want = [e for e in full_ent[full_off[r]:full_off[r + 1]]
                if g not in {0, int(own[(e // (H * S)) % Tq]) - 1, int(own[(e // (H * S)) % Tq])}]
        assert entries[offsets[r]:offsets[r + 1]] == want, f"row {r} (kv row {bh_row})"
    assert n_near > B * Tq * H  # the selections above keep many near blocks
    assert offsets[-1] == full_off[-1] - n_near


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("G,block_size,Tq,Tk", [(4, 16, 70, 70), (1, 16, 90, 101), (2, 32, 40, 77), (3, 16, 37, 60),
                                                 (6, 16, 20, 45)])
def test_near_pass_matches_reference(dtype, G, block_size, Tq, Tk):
    """The KV forward's near pass (kernels/forward_kv.py) on NSA-like selections (block 0, the
    own and the previous block in shuffled slots, duplicates, padding, block_counts) equals the
    reference, and so does the same forward with the pass off; 16-bit 2e-2, fp32 1e-4 max-abs.
    A tile's tokens span several own blocks wherever block_size < the tile's token count."""
    from problems import assert_close_to_reference, make_problem

    from nsa_ops.kernels import configs
    from nsa_ops.kernels.forward_kv import selection_forward_kv

    H, S = 2, 6
    p = make_problem(31 + G, B=2, Tq=Tq, Tk=Tk, H=H, G=G, D=32, Dv=48, S=S, block_size=block_size,
                     dtype=dtype, counts="tensor", device=DEVICE)
    gen = torch.Generator().manual_seed(G)
    bi = p.block_indices.clone().cpu()
    own = (Tk - Tq + torch.arange(Tq)) // block_size
    near = torch.stack([torch.zeros_like(own), (own - 1).clamp(min=0), own], -1)  # [Tq, 3]
    for b in range(2):
        for h in range(H):
            slots = torch.randperm(S, generator=gen)[:3]
            bi[b, :, h, slots] = near
    bi[..., 4] = bi[..., 2]  # duplicates
    bi[0, 3] = -1  # an empty row
    bi = bi.to(DEVICE)
    cnt = p.block_counts.clone()
    cnt[1] = S  # batch 1 keeps every slot
    ref, ref_lse = reference_selection(p.q.double(), p.k.double(), p.v.double(), bi, block_counts=cnt,
                                       block_size=block_size, scale=0.3)
    tol = (1e-4, 1e-4) if dtype == torch.float32 else (2e-2, 1e-2)
    base = configs.forward_kv_tile(G, 32, 48, block_size, p.q.element_size())
    assert base.near_pass
    for near_pass in (True, False):
        tile = base._replace(near_pass=near_pass, num_stages=1)
        out, lse = selection_forward_kv(p.q, p.k, p.v, bi, cnt, block_size, 0.3, tile=tile)
        assert_close_to_reference(out, ref, *tol)
        assert_close_to_reference(lse, ref_lse, 1e-3 if dtype == torch.float32 else 2e-2, 1e-3, "lse")
        assert torch.equal(torch.isinf(lse.cpu()), torch.isinf(ref_lse.cpu()))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("G,Dv", [(4, 32), (2, 24)])
def test_gather_with_head_dims_in_pieces(dtype, G, Dv):
    """The KV forward's gather with q / K split into two head-dim pieces (BLOCK_D2) and V / the
    output into two (BLOCK_DV2, the second piece masked past Dv=24), and the near pass with q / K
    in pieces too, equal the reference, as the unsplit tile does; 16-bit 2e-2, fp32 1e-4 max-abs."""
    from problems import assert_close_to_reference, make_problem

    from nsa_ops.kernels import configs
    from nsa_ops.kernels.forward_kv import selection_forward_kv

    p = make_problem(57 + G, B=1, Tq=70, Tk=70, H=2, G=G, D=32, Dv=Dv, S=5, block_size=16, dtype=dtype,
                     counts="tensor", device=DEVICE)
    ref, ref_lse = reference_selection(p.q.double(), p.k.double(), p.v.double(), p.block_indices,
                                       block_counts=p.block_counts, block_size=16, scale=0.3)
    tol = (1e-4, 1e-4) if dtype == torch.float32 else (2e-2, 1e-2)
    base = configs.forward_kv_tile(G, 32, Dv, 16, p.q.element_size())._replace(num_stages=1)
    assert (base.block_d, base.block_dv) == (32, 32)
    for split in (dict(), dict(block_d=16, block_d2=16), dict(block_dv=16, block_dv2=16),
                  dict(block_d=16, block_d2=16, block_dv=16, block_dv2=16),
                  dict(block_d=16, block_d2=16, block_dv=16, block_dv2=16, near_split=True)):
        out, lse = selection_forward_kv(p.q, p.k, p.v, p.block_indices, p.block_counts, 16, 0.3,
                                        tile=base._replace(**split))
        assert_close_to_reference(out, ref, *tol)
        assert_close_to_reference(lse, ref_lse, 1e-3 if dtype == torch.float32 else 2e-2, 1e-3, "lse")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16] + ([torch.bfloat16] if DEVICE == "cuda" else []))
@pytest.mark.parametrize("G,Tq,Tk", [(4, 70, 70), (1, 40, 77), (2, 37, 60)])
def test_training_op_hands_its_csr_to_the_backward(monkeypatch, dtype, G, Tq, Tk):
    """``selection_attention`` with a gradient wanted runs ``nsa::selection_train``: on the
    KV-centric forward (small G, unpacked) its entry CSR keeps the near entries in the lists and
    goes to the backward, which then builds none. Output and gradients equal, bitwise, those of
    ``torch.ops.nsa.selection`` (whose backward sorts again), and the float64 reference
    (``assert_close``'s tolerances)."""
    import nsa_ops
    from nsa_ops.kernels import csr as csr_module
    from nsa_ops.ops import reuses_csr

    block_size, H, S = 16, 2, 6
    q, k, v, bi, counts = make_problem(2, Tq, Tk, H * G, H, 32, 32, block_size, S, dtype, seed=G)
    bi = bi.cpu()
    own = (Tk - Tq + torch.arange(Tq)) // block_size
    gen = torch.Generator().manual_seed(G)
    for b in range(2):  # NSA-like rows: block 0, the own and the previous block in random slots
        for h in range(H):
            bi[b, :, h, torch.randperm(S, generator=gen)[:3]] = torch.stack(
                [torch.zeros_like(own), (own - 1).clamp(min=0), own], -1)
    bi = bi.to(DEVICE)
    assert reuses_csr(q, k, v, block_size, None, "triton")
    gen = torch.Generator().manual_seed(3)
    dout = torch.randn((2, Tq, H * G, 32), generator=gen).to(DEVICE, dtype)
    builds = []
    real_keys = csr_module.entry_keys
    monkeypatch.setattr(csr_module, "entry_keys", lambda *a, **kw: builds.append(1) or real_keys(*a, **kw))

    def run(train: bool):
        x = [t.clone().requires_grad_() for t in (q, k, v)]
        builds.clear()
        with nsa_ops.use_backend("triton"):
            if train:
                out = nsa_ops.selection_attention(*x, bi, block_counts=counts, block_size=block_size, scale=0.3)
            else:
                out = torch.ops.nsa.selection(*x, bi, counts, block_size, 0.3, None, None, "triton")[0]
            grads = torch.autograd.grad(out, x, dout)
        return (out.detach(),) + grads, len(builds)

    got, n_train = run(True)
    plain, n_plain = run(False)
    assert (n_train, n_plain) == (1, 2)
    for name, a, b in zip(("out", "dq", "dk", "dv"), got, plain):
        assert torch.equal(a, b), name
    no_dlse = torch.zeros(2, Tq, H * G, device=DEVICE)
    ro, _, ref_grads = reference_grads(q, k, v, bi, counts, block_size, 0.3, dout, no_dlse)
    for name, a, r in zip(("out", "dq", "dk", "dv"), got, (ro,) + tuple(ref_grads)):
        assert_close(name, a, r, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16] + ([torch.bfloat16] if DEVICE == "cuda" else []))
@pytest.mark.parametrize("G,full_view,dq_in_reduce,scale", [
    (1, True, True, 0.3), (1, False, False, 0.3), (4, True, True, 0.3), (4, False, True, -0.2),
    (16, True, False, 0.3), (16, True, True, -0.2)])
def test_lean_gathered_loops_match_reference(monkeypatch, dtype, G, full_view, dq_in_reduce, scale):
    """The gathered loops' shortcuts on unpacked inputs, each forced on and off: the dK/dV
    chunks whose queries see the whole block skip the causal mask (``backward.FULL_VIEW``; the
    masked prefix spans several chunks at G16), the dq partials leave their scale to the reduce
    (``DQ_SCALE_IN_REDUCE``), and the forward gather on far-only pieces drops its mask and
    normalises p before P @ V (``forward_kv.FAR_ONLY``, taken only for scale > 0: a negative
    scale must take the masked path). Output and gradients against the float64 reference."""
    from nsa_ops.kernels import forward_kv

    monkeypatch.setattr(backward_module, "FULL_VIEW", full_view)
    monkeypatch.setattr(backward_module, "DQ_SCALE_IN_REDUCE", dq_in_reduce)
    monkeypatch.setattr(forward_kv, "FAR_ONLY", full_view)
    block_size, H, S, Tq, Tk = 16, 2, 5, 45, 80
    q, k, v, bi, counts = make_problem(1, Tq, Tk, H * G, H, 32, 32, block_size, S, dtype, seed=G)
    assert_training_op_matches_reference(q, k, v, bi, counts, block_size, scale, dtype, seed=5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16] + ([torch.bfloat16] if DEVICE == "cuda" else []))
@pytest.mark.parametrize("G,mode", [(2, "inference"), (4, "training"), (4, "packed")])
def test_gather_written_positions_match_reference(monkeypatch, dtype, G, mode):
    """The gather writing the CSR's positions itself (``forward_kv.GATHER_POSITIONS``; the
    combine then picks its slots by key): on the inference CSR (near entries out of the
    lists), the training one (near entries in the lists, skipped by the pieces: their
    positions stay unwritten) and packed sequences (prepared index), with padding,
    duplicates, counts and empty rows. The positions buffer starts as garbage (-7: a stale
    read would fetch a wrong lse, or fault), and the output must match the float64 reference."""
    import nsa_ops
    from nsa_ops.kernels import forward_kv

    monkeypatch.setattr(forward_kv, "GATHER_POSITIONS", True)
    real_build = forward_kv.build_entry_csr
    allocated = []

    def poisoned_build(*a, **kw):  # the allocated positions start as garbage
        csr = real_build(*a, **kw)
        if kw.get("positions") == "alloc":
            csr.positions.fill_(-7)
            allocated.append(True)
        return csr

    monkeypatch.setattr(forward_kv, "build_entry_csr", poisoned_build)
    block_size, H, S, Tk = 16, 2, 5, 80
    Tq = Tk if mode == "packed" else 45
    cu = torch.tensor([0, 30, 80], device=DEVICE) if mode == "packed" else None
    q, k, v, bi, counts = make_problem(1, Tq, Tk, H * G, H, 32, 32, block_size, S, dtype, seed=G,
                                       cu_seqlens=cu)
    scale = 0.3
    x = [t.clone().requires_grad_(mode == "training") for t in (q, k, v)]
    with nsa_ops.use_backend("triton"):
        out = nsa_ops.selection_attention(*x, bi, block_counts=counts, block_size=block_size, scale=scale,
                                          cu_seqlens=cu)
    ro, _ = reference_selection(q.double(), k.double(), v.double(), bi, counts, block_size, scale, cu)
    assert allocated, "the gather-written positions path was not taken"
    assert_close("out", out.detach(), ro, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16] + ([torch.bfloat16] if DEVICE == "cuda" else []))
@pytest.mark.parametrize("G,window_q_bytes,gpos", [(2, 1, False), (4, 3000, True), (1, 500, False)])
def test_gather_over_query_windows_matches_reference(monkeypatch, dtype, G, window_q_bytes, gpos):
    """The KV forward with its CSR cut into query windows (``configs.KVForwardTile.window_q_bytes``,
    ``forward_kv.query_windows``; 1 byte: one window per query row, the most rows there are),
    also with the gather writing the positions: output and lse against the float64 reference,
    with padding, duplicates, counts and empty rows. The training op keeps single-window
    CSRs for its backward, so the gradients must match too."""
    import nsa_ops
    from nsa_ops.kernels import forward_kv

    real_tile = forward_kv.forward_kv_tile
    monkeypatch.setattr(forward_kv, "forward_kv_tile",
                        lambda *a, **k: real_tile(*a, **k)._replace(window_q_bytes=window_q_bytes,
                                                                                 window_kv_floor=False))
    monkeypatch.setattr(forward_kv, "GATHER_POSITIONS", gpos)
    real_build = forward_kv.build_entry_csr
    seen = []
    monkeypatch.setattr(forward_kv, "build_entry_csr", lambda *a, **k: seen.append(k.get("windows", 1))
                        or real_build(*a, **k))
    block_size, H, S, Tq, Tk = 16, 2, 5, 45, 80
    q, k, v, bi, counts = make_problem(1, Tq, Tk, H * G, H, 32, 32, block_size, S, dtype, seed=G)
    scale = 0.3
    with nsa_ops.use_backend("triton"):
        out, lse = nsa_ops.selection_attention(q, k, v, bi, block_counts=counts, block_size=block_size,
                                               scale=scale, return_lse=True)
    assert seen and seen[-1] == forward_kv.query_windows(1, Tq, Tk, H, (Tk + 15) // 16, G * 32 * q.element_size(),
                                                        0, window_q_bytes) and seen[-1] > 1
    ro, rl = reference_selection(q.double(), k.double(), v.double(), bi, counts, block_size, scale)
    assert_close("out", out, ro, dtype)
    fin = torch.isfinite(rl)
    assert torch.equal(torch.isfinite(lse), fin)
    assert_close("lse", lse[fin], rl[fin], torch.float32)
    assert_training_op_matches_reference(q, k, v, bi, counts, block_size, scale, dtype, seed=3)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16] + ([torch.bfloat16] if DEVICE == "cuda" else []))
@pytest.mark.parametrize("G,B,window_q_bytes", [(1, 2, 0), (4, 1, 3000), (2, 2, 0)])
def test_unordered_csr_forward_matches_sorted_and_reference(monkeypatch, dtype, G, B, window_q_bytes):
    """The inference forward on the CSR built by int atomics (``csr.UNORDERED_CSR``: lists in
    any order): the path is taken (an unordered CSR is built), out and lse match the float64
    reference with padding, duplicates, counts and empty rows, and equal bitwise what the
    sorted CSR gives (one partial per entry, merged in slot order). The training op keeps the
    sorted CSR (its dK/dV sums walk the lists in order): it must take ``stable=True``."""
    import nsa_ops
    from nsa_ops.kernels import csr as csr_mod
    from nsa_ops.kernels import forward_kv

    if window_q_bytes:
        real_tile = forward_kv.forward_kv_tile
        monkeypatch.setattr(forward_kv, "forward_kv_tile",
                            lambda *a, **k: real_tile(*a, **k)._replace(window_q_bytes=window_q_bytes,
                                                                         window_kv_floor=False))
    real_build = forward_kv.build_entry_csr
    stable_seen = []
    monkeypatch.setattr(forward_kv, "build_entry_csr", lambda *a, **k: stable_seen.append(k.get("stable", True))
                        or real_build(*a, **k))
    block_size, H, S, Tq, Tk = 16, 2, 5, 45, 80
    q, k, v, bi, counts = make_problem(B, Tq, Tk, H * G, H, 32, 32, block_size, S, dtype, seed=G + 7)
    scale = 0.3
    runs = []
    for unordered in (True, False):
        monkeypatch.setattr(csr_mod, "UNORDERED_CSR", unordered)
        with nsa_ops.use_backend("triton"):
            runs.append(nsa_ops.selection_attention(q, k, v, bi, block_counts=counts, block_size=block_size,
                                                    scale=scale, return_lse=True))
    assert stable_seen == [False, True], stable_seen
    (out, lse), (out_sorted, lse_sorted) = runs
    ro, rl = reference_selection(q.double(), k.double(), v.double(), bi, counts, block_size, scale)
    assert_close("out", out, ro, dtype)
    fin = torch.isfinite(rl)
    assert torch.equal(torch.isfinite(lse), fin)
    assert_close("lse", lse[fin], rl[fin], torch.float32)
    assert torch.equal(out, out_sorted) and torch.equal(lse, lse_sorted)
    monkeypatch.setattr(csr_mod, "UNORDERED_CSR", True)
    stable_seen.clear()
    assert_training_op_matches_reference(q, k, v, bi, counts, block_size, scale, dtype, seed=5)
    assert stable_seen and all(stable_seen), stable_seen


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("G,B", [(1, 2), (4, 2), (2, 3)])
def test_fast_entry_decode_matches_reference(monkeypatch, dtype, G, B):
    """The gathered loops decoding their entries' query rows with one unsigned division and the
    batch offset (``primitives.entry_token``, ``FAST_DECODE`` of the KV forward and the dK/dV
    kernel), over several batches (where a missing batch offset would read another batch's q):
    output and gradients against the float64 reference."""
    import nsa_ops
    from nsa_ops.kernels import forward_kv

    monkeypatch.setattr(forward_kv, "FAST_DECODE", True)
    monkeypatch.setattr(backward_module, "FAST_DECODE", True)
    block_size, H, S, Tq, Tk = 16, 2, 5, 37, 64
    q, k, v, bi, counts = make_problem(B, Tq, Tk, H * G, H, 32, 32, block_size, S, dtype, seed=10 + G)
    with nsa_ops.use_backend("triton"):
        out_inf = nsa_ops.selection_attention(q, k, v, bi, block_counts=counts, block_size=block_size, scale=0.3)
    ro, _ = reference_selection(q.double(), k.double(), v.double(), bi, counts, block_size, 0.3)
    assert_close("out (inference)", out_inf, ro, dtype)
    assert_training_op_matches_reference(q, k, v, bi, counts, block_size, 0.3, dtype, seed=4)


@pytest.mark.parametrize("addr32", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("G,B", [(1, 2), (4, 3), (2, 1)])
def test_gather_addr32_matches_reference(monkeypatch, dtype, G, B, addr32):
    """The KV gather and the dK/dV pieces with their row and partial offsets as unsigned 32-bit
    products (``forward_kv.ADDR32``, the default since run 157; ``backward.ADDR32``;
    ``primitives.wide_u32``) and as signed 64-bit arithmetic (the path of int64 entry ids), on
    a q with padded rows and heads (its strides are not those of a contiguous tensor) over
    several batches: output and lse, and the training op's gradients, against the float64
    reference."""
    import nsa_ops
    from nsa_ops.kernels import backward, forward_kv

    monkeypatch.setattr(forward_kv, "ADDR32", addr32)
    monkeypatch.setattr(backward, "ADDR32", addr32)
    block_size, H, S, Tq, Tk, D = 16, 2, 5, 41, 72, 32
    q, k, v, bi, counts = make_problem(B, Tq, Tk, H * G, H, D, D, block_size, S, dtype, seed=20 + G)
    q = torch.nn.functional.pad(q, (0, 8, 0, 1))[:, :, : H * G, :D]  # a head and 8 columns of padding
    assert q.stride(1) == (H * G + 1) * (D + 8)
    entries = torch.zeros(1, dtype=torch.int32)
    assert forward_kv.addr32_fits(entries, B * Tq * H * S, G, q)
    assert not forward_kv.addr32_fits(entries.long(), B * Tq * H * S, G, q)
    assert not forward_kv.addr32_fits(entries, 2 ** 31, 2, q)
    rows = torch.zeros(B, Tq, H * G)
    assert backward.dkv_addr32_fits(entries, B * Tq * H * S, G, q, q, rows, rows)
    wide = torch.empty_strided((B, Tq, H * G), (0, 2 ** 31, 1), device="meta")  # rows 2^31 apart
    assert not backward.dkv_addr32_fits(entries, B * Tq * H * S, G, q, q, wide, rows)
    assert not backward.dkv_addr32_fits(entries, B * Tq * H * S, G, q, wide, rows, rows)
    with nsa_ops.use_backend("triton"):
        out, lse = nsa_ops.selection_attention(q, k, v, bi, block_counts=counts, block_size=block_size,
                                               scale=0.3, return_lse=True)
    ro, rl = reference_selection(q.double(), k.double(), v.double(), bi, counts, block_size, 0.3)
    assert_close("out", out, ro, dtype)
    fin = torch.isfinite(rl)
    assert torch.equal(torch.isfinite(lse), fin)
    assert_close("lse", lse[fin], rl[fin], torch.float32)
    assert_training_op_matches_reference(q, k, v, bi, counts, block_size, 0.3, dtype, seed=5)
