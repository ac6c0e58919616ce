"""The TMA path of the token-centric forward and dQ kernels (``kernels/tma.py``).

CPU: Triton's interpreter runs the descriptor loads on CPU tensors (``FORCE_INTERPRETER``), so
the path's indexing (rows b*Tk + first token, the head's columns, the second head-dim piece,
rows past the tensor) and which inputs keep the pointer loads are checked in CI: forward and
gradients through the op must equal the pointer-load path bitwise (same sums in the same order)
and the float64 reference (fp32 1e-4 max-abs, gradients 1e-3). Eligibility (which layouts and
calls may use descriptors) is checked on its own. GPU: the same bitwise comparison in bf16 and
fp16 on a Hopper GPU, and a compiled call (traced: pointer loads) against the eager one.
"""
from __future__ import annotations

import os

import pytest
import torch

from problems import assert_close_to_reference, make_problem

import nsa_ops
from nsa_ops.kernels import tma
from nsa_ops.reference import reference_selection

CUDA = torch.cuda.is_available()
INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"
DEVICE = "cuda" if CUDA and not INTERPRETED else "cpu"
HOPPER = CUDA and not INTERPRETED and torch.cuda.get_device_capability()[0] >= 9


def _has_descriptors() -> bool:
    import importlib.util

    return importlib.util.find_spec("triton.tools.tensor_descriptor") is not None


pytestmark = pytest.mark.skipif(not _has_descriptors(), reason="Triton without host-side tensor descriptors")


def _counting(monkeypatch):
    """Counts the launches that got descriptors (so a test cannot pass on the pointer path)."""
    used = []
    real = tma.kv_descriptors

    def spy(*args, **kwargs):
        descs = real(*args, **kwargs)
        used.append(descs is not None)
        return descs

    from nsa_ops.kernels import backward, forward

    monkeypatch.setattr(forward, "kv_descriptors", spy)
    monkeypatch.setattr(backward, "kv_descriptors", spy)
    return used


def _run(p, dtype):
    q, k, v = (x.to(dtype).clone().requires_grad_() for x in (p.q, p.k, p.v))
    with nsa_ops.use_backend("triton"):
        out = nsa_ops.selection_attention(q, k, v, p.block_indices, **p.kwargs())
    g = torch.Generator().manual_seed(5)
    dout = torch.randn(out.shape, generator=g).to(out.device, dtype)
    return (out.detach(),) + torch.autograd.grad(out, (q, k, v), dout), dout


# B=2 (rows b*Tk + token), a split head dim (48 = 32 + 16), G16 (the multi-token kernel runs
# first), G12 (the smallest group on the token-centric forward: configs.forward_schedule) and a
# partial last block of a single sequence (rows past the tensor read 0) take the TMA path; B=2
# with a partial last block and packed sequences keep the pointer loads.
CASES = [
    pytest.param(dict(B=2, Tq=20, Tk=48, H=2, G=16, D=48, Dv=32, S=5, block_size=16, counts="tensor"), None, True,
                 id="G16-B2-D48"),
    pytest.param(dict(B=1, Tq=24, Tk=37, H=2, G=12, D=16, Dv=16, S=4, block_size=16, counts="none"), None, True,
                 id="G12-B1-tail"),
    pytest.param(dict(B=2, Tq=20, Tk=45, H=1, G=16, D=16, Dv=16, S=4, block_size=16, counts="none"), None, False,
                 id="G16-B2-tail-pointer"),
    pytest.param(dict(B=1, Tq=40, Tk=40, H=1, G=16, D=16, Dv=16, S=3, block_size=16, counts="none"),
                 [0, 7, 7, 23, 40], False, id="G16-packed-pointer"),
]


@pytest.mark.skipif(not INTERPRETED, reason="the interpreter variant (CPU)")
@pytest.mark.parametrize("shape,cu,takes_tma", CASES)
def test_tma_path_equals_pointer_path_interpreter(shape, cu, takes_tma, monkeypatch):
    p = make_problem(61, dtype=torch.float32, **shape)
    if cu is not None:
        p.cu_seqlens = torch.tensor(cu, dtype=torch.int32)
    monkeypatch.setattr(tma, "FORCE_INTERPRETER", False)
    used = _counting(monkeypatch)
    pointer, dout = _run(p, torch.float32)
    assert used and not any(used), "the pointer run must not use descriptors"
    used.clear()
    monkeypatch.setattr(tma, "FORCE_INTERPRETER", True)
    described, _ = _run(p, torch.float32)
    assert used and all(u == takes_tma for u in used), f"TMA taken by {used}, expected {takes_tma}"
    for name, a, b in zip(("out", "dq", "dk", "dv"), described, pointer):
        assert torch.equal(a, b), f"{name}: the TMA path differs from the pointer path"
    r = [x.detach().double().requires_grad_() for x in (p.q, p.k, p.v)]
    ref, _ = reference_selection(*r, p.block_indices, **p.kwargs())
    ref_grads = torch.autograd.grad(ref, r, dout.double())
    assert_close_to_reference(described[0], ref, 1e-4, 1e-4)
    for name, a, b in zip("qkv", described[1:], ref_grads):
        assert_close_to_reference(a, b, 1e-3, 1e-3, f"d{name}")


@pytest.mark.skipif(not INTERPRETED, reason="the interpreter variant (CPU)")
def test_tma_descriptors_follow_the_tiles_pieces(monkeypatch):
    """A token tile whose head-dim pieces differ from ``head_dim_blocks`` (D=48 as 16 + 32, the
    narrow piece first) gets descriptors of its own pieces: equal to the pointer path bitwise
    and to the reference."""
    from nsa_ops.kernels import backward, configs, forward

    assert configs.head_dim_blocks(48) == (32, 16)
    for make in (configs.forward_tile, configs.dq_tile):  # the GPU rule: D=192 on TMA only
        assert (make(16, 192, 128, 64, 2, tma=True).block_d, make(16, 192, 128, 64, 2, tma=True).block_d2) == (64, 128)
        assert (make(16, 192, 128, 64, 2, tma=False).block_d, make(16, 192, 128, 64, 2).block_d2) == (128, 64)
    for mod, name in ((forward, "forward_tile"), (backward, "dq_tile")):
        real = getattr(mod, name)
        monkeypatch.setattr(mod, name, lambda *a, _r=real, **kw: _r(*a, **kw)._replace(block_d=16, block_d2=32))
    p = make_problem(62, dtype=torch.float32, B=1, Tq=20, Tk=48, H=2, G=16, D=48, Dv=32, S=4, block_size=16,
                     counts="none")
    monkeypatch.setattr(tma, "FORCE_INTERPRETER", False)
    pointer, dout = _run(p, torch.float32)
    pieces = []
    real_kv = tma.kv_descriptors

    def spy(k, v, block_size, block_d, block_d2, *rest, **kw):
        descs = real_kv(k, v, block_size, block_d, block_d2, *rest, **kw)
        pieces.append((block_d, block_d2, descs is not None))
        return descs

    monkeypatch.setattr(forward, "kv_descriptors", spy)
    monkeypatch.setattr(backward, "kv_descriptors", spy)
    monkeypatch.setattr(tma, "FORCE_INTERPRETER", True)
    described, _ = _run(p, torch.float32)
    assert (16, 32, True) in pieces, f"no descriptors of the tile's pieces: {pieces}"
    for name, a, b in zip(("out", "dq", "dk", "dv"), described, pointer):
        assert torch.equal(a, b), f"{name}: the TMA path differs from the pointer path"
    r = [x.detach().double().requires_grad_() for x in (p.q, p.k, p.v)]
    ref, _ = reference_selection(*r, p.block_indices, **p.kwargs())
    assert_close_to_reference(described[0], ref, 1e-4, 1e-4)
    for name, a, b in zip("qkv", described[1:], torch.autograd.grad(ref, r, dout.double())):
        assert_close_to_reference(a, b, 1e-3, 1e-3, f"d{name}")


@pytest.mark.skipif(not INTERPRETED, reason="the interpreter variant (CPU)")
def test_tma_eligibility(monkeypatch):
    monkeypatch.setattr(tma, "FORCE_INTERPRETER", True)
    k = torch.randn(2, 40, 3, 64)
    v = torch.randn(2, 40, 3, 32)
    assert tma.kv_descriptors(k, v, 16, 64, 0, 32, packed=False) is None, "B=2, partial block: next batch's rows"
    whole = tma.kv_descriptors(torch.randn(2, 32, 3, 64), torch.randn(2, 32, 3, 32), 16, 64, 0, 32, packed=False)
    assert whole is not None and whole.k2 is None, "B=2 with whole blocks"
    assert tma.kv_descriptors(k[:1], v[:1], 16, 64, 0, 32, packed=False) is not None, "B=1, partial block"
    assert tma.kv_descriptors(k[:1], v[:1], 16, 64, 0, 32, packed=True) is None, "packed sequences"
    split = tma.kv_descriptors(k[:1, ..., :48].contiguous(), v[:1], 16, 32, 16, 32, packed=False)
    assert split is not None and split.k2 is not None, "D=48 as 32 + 16"
    k, v = k[:1], v[:1]
    # Heads not packed (a [B, H, T, D] tensor seen as [B, T, H, D]), a padded head dim, a
    # misaligned base, batches not evenly spaced: pointer loads.
    assert tma.kv_descriptors(k.transpose(1, 2).contiguous().transpose(1, 2), v, 16, 64, 0, 32, False) is None
    assert tma.kv_descriptors(k[..., :48], v, 16, 64, 0, 32, packed=False) is None
    assert tma.kv_descriptors(torch.randn(1, 40 * 3 * 64 + 1)[:, 1:].view(1, 40, 3, 64), v, 16, 64, 0, 32,
                              packed=False) is None
    k2, v2 = torch.randn(2, 33, 3, 64)[:, :32], torch.randn(2, 32, 3, 32)
    assert tma.kv_descriptors(k2, v2, 16, 64, 0, 32, packed=False) is None, "batches not evenly spaced"
    # Only plain eager calls: not under a dispatch mode (tracing), and only when enabled.
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode() as mode:
        fk, fv = mode.from_tensor(k), mode.from_tensor(v)
        assert tma.kv_descriptors(fk, fv, 16, 64, 0, 32, packed=False) is None
    monkeypatch.setattr(tma, "USE_TMA", False)
    assert tma.kv_descriptors(k, v, 16, 64, 0, 32, packed=False) is None
    monkeypatch.setattr(tma, "FORCE_INTERPRETER", False)
    monkeypatch.setattr(tma, "USE_TMA", True)
    assert tma.kv_descriptors(k, v, 16, 64, 0, 32, packed=False) is None, "CPU tensors outside the test switch"


@pytest.mark.gpu
@pytest.mark.skipif(not HOPPER, reason="needs a Hopper (sm_90+) GPU")
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("shape,cu", [
    pytest.param(dict(B=2, Tq=300, Tk=320, H=2, G=16, D=128, Dv=128, S=8, block_size=64, counts="tensor"), None,
                 id="G16-B2"),
    pytest.param(dict(B=1, Tq=333, Tk=333, H=2, G=16, D=128, Dv=128, S=8, block_size=64, counts="none"), None,
                 id="G16-B1-tail"),
    pytest.param(dict(B=1, Tq=256, Tk=256, H=2, G=16, D=192, Dv=128, S=6, block_size=64, counts="none"), None,
                 id="G16-D192"),
    pytest.param(dict(B=1, Tq=400, Tk=400, H=2, G=12, D=64, Dv=64, S=6, block_size=32, counts="none"), None,
                 id="G12-D64-block32"),
])
def test_gpu_tma_path_equals_pointer_path_and_compile(shape, cu, dtype, monkeypatch):
    p = make_problem(62, dtype=torch.float32, device="cuda", **shape)
    used = _counting(monkeypatch)
    monkeypatch.setattr(tma, "USE_TMA", False)
    pointer, dout = _run(p, dtype)
    monkeypatch.setattr(tma, "USE_TMA", True)
    used.clear()
    described, _ = _run(p, dtype)
    assert used and all(used), "every token-centric launch must take the TMA path"
    for name, a, b in zip(("out", "dq", "dk", "dv"), described, pointer):
        assert torch.equal(a, b), f"{name}: the TMA path differs from the pointer path"
    r = [x.detach().to(dtype).double().requires_grad_() for x in (p.q, p.k, p.v)]
    ref, _ = reference_selection(*r, p.block_indices, **p.kwargs())
    assert_close_to_reference(described[0], ref, 2e-2, 1e-2)

    # Compiled (traced: pointer loads) against eager (descriptors). Inductor compiles user
    # kernels with its own options, so allow bf16/fp16 rounding differences (as
    # test_gpu_op.py does), far inside the parity bound.
    q, k, v = (x.to(dtype).clone().requires_grad_() for x in (p.q, p.k, p.v))
    kwargs = p.kwargs()

    def f(q, k, v):
        return nsa_ops.selection_attention(q, k, v, p.block_indices, **kwargs)

    torch._dynamo.reset()
    with nsa_ops.use_backend("triton"):
        out = torch.compile(f, fullgraph=True)(q, k, v)
    grads = torch.autograd.grad(out, (q, k, v), dout)
    for name, a, b in zip(("out", "dq", "dk", "dv"), (out.detach(),) + grads, described):
        torch.testing.assert_close(a.float(), b.float(), atol=2e-3 * max(1.0, b.abs().max().item()), rtol=2 ** -7,
                                   msg=lambda m, name=name: f"{name}: compiled differs from eager: {m}")
