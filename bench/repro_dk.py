"""Sweep Tq=1 backward shapes on the GPU for the dk mismatch seen by the hypothesis test."""
import itertools, sys, torch
sys.path.insert(0, "tests")
import nsa_ops
from nsa_ops import reference_selection, selection_attention
from problems import make_problem
bad = 0
for dtype, G, (D, Dv), H, B, Tk in itertools.product(
        (torch.bfloat16, torch.float16, torch.float32), (1, 3, 16, 32), ((64, 64), (192, 128), (256, 256)),
        (1, 3), (1, 2), (5, 300, 700)):
    p = make_problem(7, B=B, Tq=1, Tk=Tk, H=H, G=G, D=D, Dv=Dv, S=5, block_size=16, dtype=dtype, device="cuda")
    if nsa_ops.backend.triton_unsupported_reason(p.q, p.k, p.v, 16) is not None:
        continue
    bi = torch.tensor([-1, -1, -1, -2, 0], device="cuda").view(1, 1, 1, 5).expand(B, 1, H, 5).contiguous()
    q, k, v = (x.clone().requires_grad_() for x in (p.q, p.k, p.v))
    out = selection_attention(q, k, v, bi, block_size=16)
    g = torch.autograd.grad(out, (q, k, v), torch.ones_like(out))
    r = [x.detach().double().requires_grad_() for x in (p.q, p.k, p.v)]
    ro, _ = reference_selection(*r, bi, block_size=16)
    rg = torch.autograd.grad(ro, r, torch.ones_like(ro))
    e = [(a.double() - b).abs().max().item() for a, b in zip(g, rg)]
    if max(e) > 0.1 * max(1, max(b.abs().max().item() for b in rg)) or any(x != x for x in e):
        bad += 1
        if bad < 15:
            print("BAD", dtype, "G", G, "D", D, Dv, "H", H, "B", B, "Tk", Tk, ["%.2e" % x for x in e])
print("sweep done, bad =", bad)
