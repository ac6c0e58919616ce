"""The slot combine (kernels/combine.py), shared by the KV-centric forward and the split-KV
decode, against a float64 torch merge: partials with -inf (slots that saw no key), all-empty
rows, skipped slots (entry key = sentinel), more slots than one step holds, and output columns
split over programs (including a last chunk that is partly past Dv). Runs under
TRITON_INTERPRET=1 on CPU and on CUDA. Tolerance: 1e-5 max-abs for fp32 partials, 1e-2 for
fp16 partials (their own rounding)."""
from __future__ import annotations

import os

import pytest
import torch

triton = pytest.importorskip("triton")

from nsa_ops.kernels.combine import combine_slots  # noqa: E402

CUDA = torch.cuda.is_available()
INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"
DEVICE = "cuda" if CUDA and not INTERPRETED else "cpu"
pytestmark = pytest.mark.skipif(DEVICE == "cpu" and not INTERPRETED, reason="needs CUDA or TRITON_INTERPRET=1")


def merge_reference(lse2, o, keep):
    """float64: out = sum_s w_s o_s / sum_s w_s with w_s = 2^lse2_s over kept slots; natural lse."""
    lse2 = torch.where(keep, lse2.double(), float("-inf"))
    m = lse2.amax(-1, keepdim=True)
    m = torch.where(torch.isinf(m), 0.0, m)
    w = torch.exp2(lse2 - m)
    tot = w.sum(-1)
    out = (w[..., None] * torch.where(keep[..., None], o.double(), 0.0)).sum(-2) / torch.where(tot > 0, tot, 1.0)[..., None]
    lse = torch.where(tot > 0, (m.squeeze(-1) + torch.log2(torch.where(tot > 0, tot, 1.0))) * 0.6931471805599453,
                      float("-inf"))
    return out, lse


@pytest.mark.parametrize("part_dtype,tol", [(torch.float32, 1e-5), (torch.float16, 1e-2)])
@pytest.mark.parametrize("B,Tq,H,G,S,Dv,elems,cols,keys", [
    (1, 3, 2, 4, 5, 16, 8192, None, True),  # forward-style: keys mark the skipped slots
    (2, 2, 1, 3, 20, 96, 2048, 64, False),  # 20 slots (two steps of 16), Dv=96 in chunks of 64
    (1, 1, 4, 16, 16, 128, 8192, 64, False),  # decode-style: 16 heads, two column chunks
    (1, 5, 3, 1, 7, 24, 512, 16, True),  # G=1, several groups per program, Dv=24 in chunks of 16
])
def test_combine_matches_float64_merge(B, Tq, H, G, S, Dv, elems, cols, keys, part_dtype, tol):
    g = torch.Generator().manual_seed(B * 1000 + S * 10 + G)
    n_groups = B * Tq * H
    lse2 = torch.randn(n_groups, S, G, generator=g) * 3
    lse2[torch.rand(n_groups, S, G, generator=g) < 0.2] = float("-inf")  # slots without keys
    lse2[0] = float("-inf")  # a group whose every slot is empty
    o = torch.randn(n_groups, S, G, Dv, generator=g)
    o[torch.isinf(lse2)] = 0.0
    keep = torch.ones(n_groups, S, dtype=torch.bool)
    sentinel = 12345
    key_t = None
    if keys:
        keep = torch.rand(n_groups, S, generator=g) < 0.7
        key_t = torch.where(keep, torch.arange(n_groups * S).view(n_groups, S) % 97, sentinel).int().to(DEVICE)
        lse2[~keep] = torch.nan  # never written: must not be read
        o[~keep] = torch.nan
    out = torch.empty(B, Tq, H * G, Dv, device=DEVICE, dtype=part_dtype)
    lse = torch.empty(B, Tq, H * G, device=DEVICE, dtype=torch.float32)
    combine_slots(lse2.reshape(-1).to(DEVICE), o.reshape(-1, Dv).to(DEVICE, part_dtype), out, lse, G, S,
                  keys=key_t, sentinel=sentinel, elems=elems, dv_chunk=cols)
    ref_o, ref_lse = merge_reference(lse2.transpose(1, 2), o.to(part_dtype).transpose(1, 2),
                                     keep[:, None, :].expand(n_groups, G, S))
    ref_o = ref_o.reshape(B, Tq, H * G, Dv)
    ref_lse = ref_lse.reshape(B, Tq, H * G)
    assert torch.isfinite(out).all()
    assert torch.equal(torch.isinf(lse.cpu()), torch.isinf(ref_lse)), "-inf lse exactly on the empty rows"
    assert (out.cpu()[0, 0, :G] == 0).all(), "an all-empty group gives out = 0"
    assert (out.cpu().double() - ref_o).abs().max().item() <= tol
    fin = torch.isfinite(ref_lse)
    assert (lse.cpu().double()[fin] - ref_lse[fin]).abs().max().item() <= 1e-5
