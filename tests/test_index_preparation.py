"""The prepared index every backend walks: per row the sorted set of valid, non-future block
ids, then -1; and the entry CSR (kernels/csr.py) of queries per KV block built from it. Checked against plain Python
sets."""
import torch
import pytest
from hypothesis import given, settings, strategies as st

from nsa_ops.indices import prepare_index


@st.composite
def raw_indices(draw):
    B, Tk = draw(st.integers(1, 2)), draw(st.integers(1, 90))
    Tq, H, S = draw(st.integers(1, Tk)), draw(st.integers(1, 3)), draw(st.integers(1, 7))
    bs = draw(st.sampled_from((16, 32, 64)))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    NB = -(-Tk // bs)
    bi = torch.randint(-3, NB + 3, (B, Tq, H, S), generator=g)
    counts = torch.randint(0, S + 1, (B, Tq, H), generator=g) if draw(st.booleans()) else None
    return bi, counts, bs, Tq, Tk


@given(raw_indices())
def test_prepared_rows_are_sorted_distinct_valid_sets(case):
    bi, counts, bs, Tq, Tk = case
    idx = prepare_index(bi, counts, bs, Tq, Tk)
    NB = -(-Tk // bs)
    B, _, H, S = bi.shape
    assert idx.sel.dtype == torch.int32 and idx.cnt.dtype == torch.int32
    assert idx.q_last.tolist() == [Tk - Tq + t for t in range(Tq)]
    assert idx.block_start.tolist() == [g * bs for g in range(NB)]
    for b in range(B):
        for t in range(Tq):
            pos = Tk - Tq + t
            for h in range(H):
                n = S if counts is None else int(counts[b, t, h])
                want = sorted({i for i in bi[b, t, h, :n].tolist() if 0 <= i < NB and i * bs <= pos})
                row = idx.sel[b, t, h].tolist()
                assert int(idx.cnt[b, t, h]) == len(want)
                assert row == want + [-1] * (S - len(want))


@settings(max_examples=25)  # each example launches two kernels (the interpreter on CPU)
@given(raw_indices())
def test_entry_csr_of_prepared_index_lists_every_selecting_query(case):
    """The entry CSR built from the prepared index: block row r lists, in token order, exactly
    the queries whose prepared row holds block g (and the slot holding it)."""
    pytest.importorskip("triton")
    from nsa_ops.kernels.csr import build_entry_csr

    bi, counts, bs, Tq, Tk = case
    dev = "cuda" if torch.cuda.is_available() else "cpu"  # CPU tensors: the Triton interpreter
    idx = prepare_index(bi.to(dev), None if counts is None else counts.to(dev), bs, Tq, Tk)
    NB = idx.block_start.shape[0]
    csr = build_entry_csr(idx.sel, None, bs, Tk, NB, prepared=True)
    B, _, H, S = bi.shape
    off = csr.offsets.tolist()
    assert len(off) == B * H * NB + 1 and off[0] == 0
    for b in range(B):
        for h in range(H):
            for g in range(NB):
                r = (b * H + h) * NB + g
                want = [((b * Tq + t) * H + h) * S + idx.sel[b, t, h].tolist().index(g)
                        for t in range(Tq) if g in idx.sel[b, t, h, : idx.cnt[b, t, h]].tolist()]
                assert csr.entries[off[r]:off[r + 1]].tolist() == want


@settings(max_examples=25)  # each example launches four kernels (the interpreter on CPU)
@given(raw_indices(), st.integers(1, 3), st.booleans())
def test_unordered_entry_csr_is_the_sorted_one_up_to_list_order(case, windows, near):
    """The counting sort on int atomics (``build_entry_csr(stable=False)``) against the radix
    sort on raw rows (padding, duplicates, counts, future ids), with or without the near
    blocks and query windows: the same keys, near bits and offsets, each list the same
    entries in some order, and each kept entry's position its place in the list."""
    pytest.importorskip("triton")
    from nsa_ops.kernels.csr import build_entry_csr

    bi, counts, bs, Tq, Tk = case
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    NB = -(-Tk // bs)
    args = (bi.to(dev), None if counts is None else counts.to(dev), bs, Tk, NB)
    ref = build_entry_csr(*args, positions=True, near=near, windows=windows)
    got = build_entry_csr(*args, positions=True, near=near, windows=windows, stable=False)
    assert torch.equal(got.keys, ref.keys) and torch.equal(got.offsets, ref.offsets)
    assert (got.near is None) == (not near) and (not near or torch.equal(got.near, ref.near))
    off, n = ref.offsets.tolist(), bi.numel()
    ent, pos = got.entries.tolist(), got.positions.tolist()
    for r in range(len(off) - 1):
        assert sorted(ent[off[r]:off[r + 1]]) == ref.entries[off[r]:off[r + 1]].tolist()
    kept = set(ref.entries[:off[-1]].tolist())
    assert all(ent[pos[e]] == e if e in kept else pos[e] == n for e in range(n))


def test_packed_block_table_and_positions():
    cu_q, cu_k = torch.tensor([0, 2, 5]), torch.tensor([0, 20, 50])
    bi = torch.tensor([[0, 1, 0], [1, 3, 3], [0, 3, 0], [3, 1, -1], [0, 0, 1]]).view(1, 5, 1, 3)
    idx = prepare_index(bi, None, 16, 5, 50, cu_q, cu_k)
    # Sequence 0: 20 keys, 2 blocks, queries at 18, 19. Sequence 1: 30 keys from 20, 2 blocks
    # (global ids 2, 3), queries at local 27..29.
    assert idx.q_last.tolist() == [18, 19, 47, 48, 49]
    assert idx.block_start[:4].tolist() == [0, 16, 20, 36]
    assert idx.sel[0, :, 0].tolist() == [[0, 1, -1], [1, -1, -1], [2, -1, -1], [3, -1, -1], [2, 3, -1]]
