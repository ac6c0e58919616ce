"""A first-order model of the small-G KV forward gather's q re-reads through L2 (session 22, no GPU).

One kv head at G4 (a token's 4 q rows: 1 KB, one cache entry), the bench's "random" selection
(block 0 and the two latest blocks to the near pass, 13 far blocks drawn per token), the gather's
work items in launch order (CSR rows cut into 1024-entry pieces; with ``window`` the rows are
(query window, block) as ``csr.build_entry_csr(windows=...)`` orders them), LIVE programs
advancing round-robin one 16-token chunk at a time, an LRU of ``cap`` token rows for q and one
of 600 blocks for K/V. Prints the q misses (HBM bytes, all 8 kv heads of the G4 case) and the
K/V block misses. A model, not a measurement: it ignores the partials' traffic, L2's two
partitions and its replacement policy; its capacity is the knob to vary.

    python bench/model_q_l2.py T [window_tokens] [cap_rows]
"""
from __future__ import annotations

import sys
from collections import OrderedDict

import numpy as np

LIVE, BS, PIECE, FAR = 264, 64, 1024, 13


def touch(cache: OrderedDict, key, cap: int) -> int:
    if key in cache:
        cache.move_to_end(key)
        return 0
    cache[key] = True
    if len(cache) > cap:
        cache.popitem(last=False)
    return 1


def model(T: int, window: int, cap: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    lists = {}
    for t in range(T):
        far = np.arange(1, max(1, t // BS - 1))
        if len(far):
            for g in rng.choice(far, size=min(FAR, len(far)), replace=False):
                lists.setdefault((t // window, int(g)), []).append(t)
    items = [(key[1], lst[j:j + PIECE]) for key in sorted(lists) for lst in [lists[key]]
             for j in range(0, len(lst), PIECE)]
    q_cache, kv_cache = OrderedDict(), OrderedDict()
    q_acc = q_miss = kv_miss = 0
    live, nxt = [], 0
    while nxt < len(items) or live:
        while len(live) < LIVE and nxt < len(items):
            g, lst = items[nxt]
            nxt += 1
            kv_miss += touch(kv_cache, g, 600)
            live.append([lst, 0])
        still = []
        for prog in live:
            lst, p = prog
            for t in lst[p:p + 16]:
                q_acc += 1
                q_miss += touch(q_cache, t, cap)
            prog[1] = p + 16
            if prog[1] < len(lst):
                still.append(prog)
        live = still
    return dict(items=len(items), q_accesses=q_acc, q_misses=q_miss, q_hbm_mb_8heads=8 * q_miss / 1e3,
                kv_hbm_mb_8heads=8 * kv_miss * 32 / 1e3)


if __name__ == "__main__":
    T = int(sys.argv[1])
    window = int(sys.argv[2]) if len(sys.argv) > 2 else T
    cap = int(sys.argv[3]) if len(sys.argv) > 3 else 40000
    r = model(T, window, cap)
    print(f"T={T} window={window} cap={cap} rows: " + ", ".join(f"{k} {v:.0f}" for k, v in r.items()))
