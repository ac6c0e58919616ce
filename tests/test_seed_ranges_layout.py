"""selection_attention_ranges accepts the seed project's layout and equals the main API."""
import torch

from nsa_ops import reference_selection, selection_attention_ranges


def test_ranges_layout_equals_reference():
    g = torch.Generator().manual_seed(0)
    B, T, G, h, D, Dv, bs, n = 2, 40, 2, 3, 16, 8, 16, 3
    Q = torch.randn(B, T, G, h, D, generator=g, dtype=torch.float64)
    K = torch.randn(B, G, T, D, generator=g, dtype=torch.float64)
    V = torch.randn(B, G, T, Dv, generator=g, dtype=torch.float64)
    t = torch.arange(T).view(1, T, 1, 1)
    blocks = (torch.rand(B, T, G, n, generator=g) * (t // bs + 1)).long()
    blocks[..., 0] = t[..., 0] // bs  # the token's own block: its end is clamped to t + 1
    blocks[:, ::3, :, 2] = -1  # some padding slots
    start = blocks * bs
    end = torch.minimum(start + bs, t + 1)
    ranges = torch.stack([start, end], -1)
    ranges[blocks < 0] = 0  # empty span [0, 0)
    out = selection_attention_ranges(Q, K, V, ranges, block_size=bs)
    ref, _ = reference_selection(Q.reshape(B, T, G * h, D), K.transpose(1, 2), V.transpose(1, 2), blocks, block_size=bs)
    assert out.shape == (B, T, G, h, Dv)
    torch.testing.assert_close(out, ref.reshape(B, T, G, h, Dv), atol=1e-10, rtol=0)


def test_single_query_row_is_not_causal_first_key_only():
    """The seed's bug: SDPA is_causal on one query row attended only key 0. Here a single decode
    row attends its whole selected range."""
    g = torch.Generator().manual_seed(1)
    Q = torch.randn(1, 1, 1, 1, 16, generator=g, dtype=torch.float64)
    K = torch.randn(1, 1, 32, 16, generator=g, dtype=torch.float64)
    V = torch.randn(1, 1, 32, 16, generator=g, dtype=torch.float64)
    ranges = torch.tensor([0, 16, 16, 32]).view(1, 1, 1, 2, 2)
    out = selection_attention_ranges(Q, K, V, ranges, block_size=16)
    p = torch.softmax((K[0, 0] @ Q[0, 0, 0, 0]) * 16 ** -0.5, 0)
    torch.testing.assert_close(out[0, 0, 0, 0], p @ V[0, 0], atol=1e-12, rtol=0)
