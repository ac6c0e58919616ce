"""Every invalid argument raises ValueError or TypeError naming it; nothing crashes."""
import pytest
import torch

from nsa_ops import selection_attention, selection_attention_ranges

B, Tq, Tk, HQ, H, D, S = 1, 8, 16, 4, 2, 16, 2


def good():
    g = torch.Generator().manual_seed(0)
    return dict(
        q=torch.randn(B, Tq, HQ, D, generator=g), k=torch.randn(B, Tk, H, D, generator=g),
        v=torch.randn(B, Tk, H, D, generator=g), block_indices=torch.zeros(B, Tq, H, S, dtype=torch.int64),
        block_size=16,
    )


def with_(**over):
    kw = good()
    for key, val in over.items():
        kw[key] = val(kw) if callable(val) else val
    return kw


CASES = [
    ("q", TypeError, with_(q=[1.0])),
    ("q", ValueError, with_(q=lambda kw: kw["q"][0])),
    ("k", ValueError, with_(k=lambda kw: kw["k"][..., 0])),
    ("v", ValueError, with_(v=lambda kw: kw["v"][:, :5])),
    ("HQ", ValueError, with_(k=lambda kw: torch.randn(B, Tk, 3, D), v=lambda kw: torch.randn(B, Tk, 3, D),
                             block_indices=torch.zeros(B, Tq, 3, S, dtype=torch.int64))),
    ("q", TypeError, with_(q=lambda kw: kw["q"].int())),
    ("k", TypeError, with_(k=lambda kw: kw["k"].half())),
    ("v", TypeError, with_(v=lambda kw: kw["v"].double())),
    ("head dim", ValueError, with_(k=lambda kw: torch.randn(B, Tk, H, D + 1))),
    ("batch", ValueError, with_(k=lambda kw: torch.randn(2, Tk, H, D), v=lambda kw: torch.randn(2, Tk, H, D))),
    ("Tq", ValueError, with_(q=lambda kw: torch.randn(B, Tk + 1, HQ, D),
                             block_indices=torch.zeros(B, Tk + 1, H, S, dtype=torch.int64))),
    ("block_indices", TypeError, with_(block_indices=lambda kw: kw["block_indices"].float())),
    ("block_indices", TypeError, with_(block_indices=lambda kw: kw["block_indices"].to(torch.int16))),
    ("block_indices", ValueError, with_(block_indices=lambda kw: kw["block_indices"][..., 0])),
    ("block_indices", ValueError, with_(block_indices=torch.zeros(B, Tq + 1, H, S, dtype=torch.int64))),
    ("block_indices", TypeError, with_(block_indices=[[0]])),
    ("block_size", ValueError, with_(block_size=48)),
    ("block_size", TypeError, with_(block_size=16.0)),
    ("block_counts", ValueError, with_(block_counts=-1)),
    ("block_counts", TypeError, with_(block_counts=1.5)),
    ("block_counts", TypeError, with_(block_counts=True)),
    ("block_counts", TypeError, with_(block_counts=torch.ones(B, Tq, H))),
    ("block_counts", ValueError, with_(block_counts=torch.ones(B, Tq, H + 1, dtype=torch.int32))),
    ("scale", TypeError, with_(scale="0.1")),
    ("scale", ValueError, with_(scale=float("nan"))),
    ("cu_seqlens", TypeError, with_(cu_seqlens=[0, 8])),
    ("cu_seqlens_q", TypeError, with_(cu_seqlens=torch.tensor([0.0, 8.0]))),
    ("cu_seqlens_q", ValueError, with_(cu_seqlens=torch.tensor([[0, 8]]))),
    ("cu_seqlens_q", ValueError, with_(cu_seqlens=(torch.tensor([0, 4, 10]), torch.tensor([0, 4, 16])))),
    ("cu_seqlens_q", ValueError, with_(cu_seqlens=(torch.tensor([0, 5, 4, 8]), torch.tensor([0, 5, 6, 16])))),
    ("cu_seqlens_k", ValueError, with_(cu_seqlens=(torch.tensor([0, 4, 8]), torch.tensor([0, 8, 15])))),
    ("cu_seqlens", ValueError, with_(cu_seqlens=(torch.tensor([0, 6, 8]), torch.tensor([0, 4, 16])))),
    ("same length", ValueError, with_(cu_seqlens=(torch.tensor([0, 8]), torch.tensor([0, 8, 16])))),
    ("B=1", ValueError, with_(q=torch.randn(2, Tq, HQ, D), k=torch.randn(2, Tk, H, D), v=torch.randn(2, Tk, H, D),
                              block_indices=torch.zeros(2, Tq, H, S, dtype=torch.int64),
                              cu_seqlens=(torch.tensor([0, 8]), torch.tensor([0, 16])))),
    ("return_lse", TypeError, with_(return_lse="yes")),
]


@pytest.mark.parametrize("name,exc,kwargs", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_invalid_argument_is_named(name, exc, kwargs):
    with pytest.raises(exc, match=name):
        selection_attention(**kwargs)


def test_device_mismatch_is_named():
    kw = good()
    kw["k"] = kw["k"].to("meta")
    with pytest.raises(ValueError, match="k must be on"):
        selection_attention(**kw)


def test_seed_ranges_must_be_block_aligned():
    Q = torch.randn(1, 4, 2, 2, 16)
    K, V = torch.randn(1, 2, 32, 16), torch.randn(1, 2, 32, 16)
    ranges = torch.zeros(1, 4, 2, 1, 2, dtype=torch.int64)
    ranges[..., 0], ranges[..., 1] = 3, 16  # start not a multiple of block_size
    with pytest.raises(ValueError, match="block-aligned"):
        selection_attention_ranges(Q, K, V, ranges, block_size=16)
    with pytest.raises(ValueError, match="ranges"):
        selection_attention_ranges(Q, K, V, ranges[..., :1], block_size=16)
