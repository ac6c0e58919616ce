"""Triton kernels for selection attention (installed as ``nsa_ops.kernels``).

Triton only: no torch.library here. Each module exposes launchers that take tensors and return
tensors; launches go through ``torch.library.wrap_triton`` so that, when a launcher is called
from a ``triton_op`` body under torch.compile, Inductor sees the kernel.

Index inputs: the token-centric forward (``selection_forward_raw``), the KV-centric forward
(``forward_kv.selection_forward_kv``) and the decode kernel read the user's raw
``block_indices`` (unpacked inputs) and clean rows themselves; otherwise launchers take the
prepared index of ``nsa_ops.indices`` (see its docstring): ``sel`` int32 [B,Tq,H,S] (ascending
distinct global block ids, first ``cnt`` valid, rest -1), ``cnt`` int32 [B,Tq,H], ``q_last``
int32 [Tq] (last visible key per query, token axis of k), ``block_start`` int32 [NB] (first
token of each global block). Keys of block ``g`` are tokens ``block_start[g] + [0, block_size)``
of k masked by ``token <= q_last[t]``. The KV-centric kernels walk the entry CSR of
``csr.py``. The token-centric forward and dQ load K/V through TMA descriptors where
``tma.py`` allows (eager calls on Hopper), through pointer tiles otherwise.
"""
