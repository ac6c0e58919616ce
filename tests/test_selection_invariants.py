"""Invariants of the selected *set* and of causality, on the production torch path (float64,
exact up to rounding: 1e-12)."""
import torch
from hypothesis import given, strategies as st

import nsa_ops
from nsa_ops import selection_attention

from problems import make_problem, problems

TOL = 1e-12


def run(p, **over):
    kw = p.kwargs()
    kw.update(over)
    args = [over.pop("q", p.q), over.pop("k", p.k), over.pop("v", p.v), over.pop("block_indices", p.block_indices)]
    for name in ("q", "k", "v", "block_indices"):
        kw.pop(name, None)
    with nsa_ops.use_backend("torch"):
        return selection_attention(*args, return_lse=True, **kw)


def close(a, b):
    return torch.allclose(a, b, atol=TOL, rtol=0, equal_nan=False) or (
        torch.equal(torch.isinf(a), torch.isinf(b)) and torch.allclose(a.nan_to_num(0, 0, 0), b.nan_to_num(0, 0, 0), atol=TOL, rtol=0)
    )


@given(problems(counts=False), st.integers(0, 2**31 - 1))
def test_slot_order_does_not_matter(p, seed):
    perm = torch.randperm(p.block_indices.shape[-1], generator=torch.Generator().manual_seed(seed))
    out, lse = run(p)
    out2, lse2 = run(p, block_indices=p.block_indices[..., perm])
    assert close(out, out2) and close(lse, lse2)


@given(problems(counts=False), st.integers(0, 2**31 - 1))
def test_duplicated_slots_count_once(p, seed):
    g = torch.Generator().manual_seed(seed)
    S = p.block_indices.shape[-1]
    extra = torch.randint(0, S, (S,), generator=g)
    doubled = torch.cat([p.block_indices, p.block_indices[..., extra]], -1)
    out, lse = run(p)
    out2, lse2 = run(p, block_indices=doubled)
    assert close(out, out2) and close(lse, lse2)


@given(problems(counts=False), st.integers(0, 2**31 - 1))
def test_future_keys_and_values_do_not_leak(p, seed):
    """Changing k and v at positions after query i's position leaves out[:, i] unchanged."""
    Tq, Tk = p.q.shape[1], p.k.shape[1]
    i = int(torch.randint(0, Tq, (1,), generator=torch.Generator().manual_seed(seed)))
    pos = Tk - Tq + i
    k2, v2 = p.k.clone(), p.v.clone()
    k2[:, pos + 1:] = torch.randn_like(k2[:, pos + 1:]) * 5
    v2[:, pos + 1:] = torch.randn_like(v2[:, pos + 1:]) * 5
    out, lse = run(p)
    out2, lse2 = run(p, k=k2, v=v2)
    assert close(out[:, : i + 1], out2[:, : i + 1]) and close(lse[:, : i + 1], lse2[:, : i + 1])


@given(problems(counts=False))
def test_gqa_equals_repeated_kv_heads(p):
    """Group size G over H KV heads == G=1 over KV heads repeated G times."""
    HQ, H = p.q.shape[2], p.k.shape[2]
    G = HQ // H
    out, lse = run(p)
    out2, lse2 = run(
        p, k=p.k.repeat_interleave(G, 2), v=p.v.repeat_interleave(G, 2),
        block_indices=p.block_indices.repeat_interleave(G, 2),
    )
    assert close(out, out2) and close(lse, lse2)


def test_empty_rows_are_zero_with_minus_inf_lse_and_zero_grads():
    p = make_problem(0, B=2, Tq=24, Tk=40, H=2, G=3, D=16, Dv=16, S=3, block_size=16, pad=False)
    bi = p.block_indices.clone()
    bi[0, 5] = -1  # nothing selected
    bi[1, :4] = 2  # only a future block (block 2 starts at 32 > positions 16..19)
    bi[1, 7, 0] = 99  # out of range everywhere else in the row
    bi[1, 7, :, 1:] = -5
    q, k, v = (x.clone().requires_grad_() for x in (p.q, p.k, p.v))
    with nsa_ops.use_backend("torch"):
        out, lse = selection_attention(q, k, v, bi, block_size=16, return_lse=True)
    empty = [(0, 5), (1, 0), (1, 1), (1, 2), (1, 3), (1, 7)]
    for b, t in empty:
        assert torch.equal(out[b, t], torch.zeros_like(out[b, t]))
        assert torch.isneginf(lse[b, t]).all()
    dq, dk, dv = torch.autograd.grad(out.sum() + torch.where(torch.isinf(lse), 0, lse).sum(), (q, k, v))
    assert not any(torch.isnan(g).any() for g in (dq, dk, dv))
    for b, t in empty:
        assert torch.equal(dq[b, t], torch.zeros_like(dq[b, t]))
