"""Kernel-level benchmark and GPU parity check for the selection-attention Triton kernels.

Calls the launchers of ``kernels/`` directly (no torch.library layer) on the TARGETS.md shapes:
B=1, D=Dv=128, S=16 blocks of 64, bf16; "random" selection (block 0 and the two most recent
blocks always selected, the rest random causal blocks per token) and "local" (neighbouring
tokens share most of their selection). Prints a parity table against the float64 reference on
small shapes, a determinism check of the backward, then median ms (triton.testing.do_bench).

    python bench/kernel_bench.py [--quick]
"""
from __future__ import annotations

import argparse

import torch



from nsa_ops import indices, reference  # noqa: E402
import nsa_ops.kernels.backward as bwd_mod  # noqa: E402
import nsa_ops.kernels.forward as fwd_mod  # noqa: E402
from nsa_ops.kernels.backward import selection_backward  # noqa: E402
from nsa_ops.kernels.configs import KVTile  # noqa: E402
from nsa_ops.kernels.csr import build_entry_csr  # noqa: E402
from nsa_ops.kernels.forward import selection_forward  # noqa: E402


def with_schedule(schedule):
    fwd_mod.forward_schedule = lambda *shape: schedule
    bwd_mod.dq_schedule = lambda *shape: schedule


def make_selection(B, T, H, S, block_size, kind, device, seed=0):
    """[B, T, H, S] int32 block ids: block 0, the query's own block and the one before it,
    then random causal blocks ("random") or a slowly drifting window ("local")."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    t = torch.arange(T)
    own = t // block_size
    if kind == "random":
        r = torch.rand(B, T, H, 4 * S, generator=gen)
        cand = (r * (own + 1)[None, :, None, None]).long()
    else:  # local: candidates drawn per 64-token stretch, shared by its tokens
        stretch = T // 64 + 1
        r = torch.rand(B, stretch, H, 4 * S, generator=gen)
        r = r.repeat_interleave(64, dim=1)[:, :T]
        cand = (r * (own + 1)[None, :, None, None]).long()
    ids = torch.cat([torch.zeros(B, T, H, 1, dtype=torch.long), own.expand(B, H, T).permute(0, 2, 1)[..., None],
                     (own - 1).clamp(min=0).expand(B, H, T).permute(0, 2, 1)[..., None], cand], -1)
    # keep the first S distinct ids in priority order (forced blocks first, then candidates)
    srt, order = torch.sort(ids, dim=-1, stable=True)
    dup = torch.zeros_like(srt, dtype=torch.bool)
    dup[..., 1:] = srt[..., 1:] == srt[..., :-1]
    prio = torch.where(dup, torch.full_like(order, 1 << 30), order)
    prio, pick = torch.sort(prio, -1)
    srt = torch.where(prio[..., :S] < (1 << 30), srt.gather(-1, pick[..., :S]), torch.full_like(prio[..., :S], -1))
    return srt.to(torch.int32).to(device)


def run_case(B, T, HQ, H, D, Dv, S, bs, dtype, kind, device):
    g = torch.Generator(device=device).manual_seed(1)
    q = torch.randn(B, T, HQ, D, device=device, dtype=dtype, generator=g)
    k = torch.randn(B, T, H, D, device=device, dtype=dtype, generator=g)
    v = torch.randn(B, T, H, Dv, device=device, dtype=dtype, generator=g)
    bi = make_selection(B, T, H, S, bs, kind, device)
    idx = indices.prepare_index(bi, None, bs, T, T)
    NB = idx.block_start.shape[0]
    inv = build_entry_csr(idx.sel, None, bs, T, NB, prepared=True)
    scale = D ** -0.5
    return q, k, v, bi, idx, inv, scale


def parity(device, schedule, tile=None):
    with_schedule(schedule)
    orig = bwd_mod.dkv_tile
    if tile is not None:
        bwd_mod.dkv_tile = lambda G, D, Dv, bs: KVTile(tile[0], orig(G, D, Dv, bs).block_d,
                                                      orig(G, D, Dv, bs).block_dv, tile[1], 2)
    rows = []
    for (T, HQ, H, D, Dv, bs, dtype) in [
        (512, 16, 1, 128, 128, 64, torch.bfloat16), (512, 8, 2, 64, 64, 32, torch.float16),
        (384, 12, 4, 192, 128, 64, torch.bfloat16), (300, 6, 2, 48, 96, 16, torch.float32),
        (512, 4, 4, 128, 128, 128, torch.float16), (256, 128, 2, 64, 64, 64, torch.bfloat16),
    ]:
        q, k, v, bi, idx, inv, scale = run_case(1, T, HQ, H, D, Dv, 8, bs, dtype, "random", device)
        out, lse = selection_forward(q, k, v, *idx, bs, scale)
        do = torch.randn_like(out)
        dlse = torch.randn_like(lse)
        delta = (do.float() * out.float()).sum(-1) - dlse
        grads = selection_backward(do, q, k, v, lse, delta, idx.q_last, idx.block_start, inv, bs, scale, sel=idx.sel, cnt=idx.cnt)
        grads2 = selection_backward(do, q, k, v, lse, delta, idx.q_last, idx.block_start, inv, bs, scale, sel=idx.sel, cnt=idx.cnt)
        det = all(torch.equal(a, b) for a, b in zip(grads, grads2))
        qd, kd, vd = [x.double().requires_grad_() for x in (q, k, v)]
        ro, rl = reference.reference_selection(qd, kd, vd, bi, None, bs, scale)
        fin = torch.isfinite(rl)
        loss = (ro * do.double()).sum() + (rl[fin] * dlse.double()[fin]).sum()
        rg = torch.autograd.grad(loss, [qd, kd, vd])
        errs = [(out.double() - ro).abs().max().item()]
        rel = [((out.double() - ro).norm() / ro.norm()).item()]
        for a, r in zip(grads, rg):
            errs.append((a.double() - r).abs().max().item() / max(r.abs().max().item(), 1e-9))
            rel.append(((a.double() - r).norm() / r.norm()).item())
        rows.append((T, HQ, H, D, Dv, bs, str(dtype)[6:], det, errs, rel))
    bwd_mod.dkv_tile = orig
    print(f"schedule={schedule} dkv tile override={tile}")
    print("parity (max-abs out; max-abs/max|ref| for grads; rel-Frobenius), det = bitwise-equal backward")
    for r in rows:
        print(f"T={r[0]} HQ={r[1]} H={r[2]} D={r[3]} Dv={r[4]} bs={r[5]} {r[6]} det={r[7]} "
              + " ".join(f"{n}={e:.1e}/{f:.1e}" for n, e, f in zip(["out", "dq", "dk", "dv"], r[8], r[9])))


def bench(device, quick):
    from triton.testing import do_bench
    import torch.nn.functional as F
    cases = [(16384, 64, 4), (16384, 32, 4), (16384, 32, 8), (16384, 16, 16)]
    if not quick:
        cases += [(65536, 64, 4)]
    table = []
    for kind in ["random", "local"]:
        for T, HQ, H in cases:
            q, k, v, bi, idx, inv, scale = run_case(1, T, HQ, H, 128, 128, 16, 64, torch.bfloat16, kind, device)
            out, lse = selection_forward(q, k, v, *idx, 64, scale)
            do = torch.randn_like(out)
            delta = (do.float() * out.float()).sum(-1)
            f = lambda: selection_forward(q, k, v, *idx, 64, scale)
            bw = lambda: selection_backward(do, q, k, v, lse, delta, idx.q_last, idx.block_start, inv, 64, scale, sel=idx.sel, cnt=idx.cnt)
            prep = lambda: indices.prepare_index(bi, None, 64, T, T)
            invb = lambda: build_entry_csr(idx.sel, None, 64, T, idx.block_start.shape[0], prepared=True)
            with_schedule("kv")
            t_fk, t_bk = do_bench(f), do_bench(bw)
            with_schedule("token")
            t_f, t_b = do_bench(f), do_bench(bw)
            t_p, t_i = do_bench(prep), do_bench(invb)
            t_d = float("nan")
            if kind == "random":
                qh, kh, vh = (x.transpose(1, 2) for x in (q, k.repeat_interleave(HQ // H, 2), v.repeat_interleave(HQ // H, 2)))
                t_d = do_bench(lambda: F.scaled_dot_product_attention(qh, kh, vh, is_causal=True))
            table.append((kind, T, HQ // H, t_f, t_fk, t_b, t_bk, t_p, t_i, t_d))
            del q, k, v, do, out, lse
            torch.cuda.empty_cache()
    print(f"device: {torch.cuda.get_device_name()}  torch {torch.__version__}")
    print("| sel | T | G | fwd token ms | fwd kv ms (incl. inverse index) | bwd token-dq ms | bwd kv-dq ms | prepare_index ms | inverse_index ms | dense fwd ms |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in table:
        print("| " + " | ".join([str(r[0]), str(r[1]), str(r[2])] + [f"{x:.3f}" for x in r[3:]]) + " |")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-parity", action="store_true")
    a = ap.parse_args()
    dev = "cuda"
    if not a.no_parity:
        parity(dev, "kv")
        parity(dev, "token")
    bench(dev, a.quick)
