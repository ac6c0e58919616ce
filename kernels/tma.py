"""TMA (Hopper's tensor memory accelerator) loads of the K/V blocks in the token-centric kernels.

The token-centric forward and dQ kernels spend their time moving K/V blocks from L2 (each
(token, kv head) program loads its S selected blocks). Loading them through host-side tensor
descriptors (``triton.tools.tensor_descriptor.TensorDescriptor``) instead of pointer tiles
took the G16 T=16k random forward kernel from 3.95 to 3.62 ms on the H100 (run 53,
``bench/exp_tma.py``; 64k: 17.46 -> 16.59); descriptors built on the device
(``tl.make_tensor_descriptor``) gained half as much (3.84), their per-program set-up costing the rest.

A descriptor views K (V alike) as the 2-D matrix [B*Tk, H*D] with row stride ``k.stride(1)``:
a block is the box of ``block_size`` rows from row ``b*Tk + first token`` and the D columns of
its head. So this path needs: heads packed (``stride(2) == D``, ``stride(3) == 1``), batches
evenly spaced (``B == 1`` or ``stride(0) == Tk * stride(1)``), 16-byte aligned base and row
stride, head-dim pieces that tile D exactly (``configs.head_dim_blocks``: 64, 128, 192 =
128 + 64, 256 ...), B*Tk < 2^31. Rows past the tensor read 0. A block must never reach another
sequence's rows, which TMA would load where pointer loads mask them: so no packed sequences
(``cu_seqlens``) and, for B > 1, Tk a multiple of the block size. (Zeroing those rows in
registers instead, ``tl.where`` on the loaded tiles, took the packed 32k fwd+bwd from 23.3 to
30.1 ms in run 57: the tiles then go shared memory -> registers -> shared memory.)

Within a sequence, the keys of a block past a query's own position are loaded as they are and
masked in the scores (P = 0 there), as every flash-attention kernel does; the pointer loads
also zeroed them. The two paths differ only where such a future key or value is inf or NaN.

Eager calls only. Under tracing (torch.compile, export, fake tensors) torch 2.11 cannot record a
descriptor built inside a ``triton_op`` body (torch/_higher_order_ops/triton_kernel_wrap.py:
"TMA descriptor capturing not yet supported in non-dynamo tracing"), so traced graphs keep the
pointer loads. Both compute the same sums in the same order: the results are bitwise equal.
"""
from __future__ import annotations

import os
from typing import NamedTuple, Optional

import torch

# The bench's experiment switch (``bench/exp_tma.py``); True is the measured default.
USE_TMA = True
# Tests set this to run the TMA path in Triton's interpreter (CPU tensors); never on in use.
FORCE_INTERPRETER = False


class KVDescriptors(NamedTuple):
    k: object  # K, first head-dim piece [block_size, block_d]
    k2: object  # K, second piece [block_size, block_d2] (None without one)
    v: object  # V [block_size, block_dv]


def _descriptor_class():
    try:
        from triton.tools.tensor_descriptor import TensorDescriptor
    except ImportError:  # Triton without the host-side TMA API
        return None
    return TensorDescriptor


def _eager(*tensors) -> bool:
    """Plain tensors, no tracing: no compile, no fake/functional tensors, no dispatch mode."""
    if torch.compiler.is_compiling() or any(type(t) is not torch.Tensor for t in tensors):
        return False
    from torch.utils._python_dispatch import _get_current_dispatch_mode

    return _get_current_dispatch_mode() is None


def _device_ok(t: torch.Tensor) -> bool:
    if t.is_cuda:
        return torch.version.cuda is not None and torch.cuda.get_device_capability(t.device)[0] >= 9
    return FORCE_INTERPRETER and os.environ.get("TRITON_INTERPRET") == "1"


def _packed_heads(x: torch.Tensor, width: int) -> bool:
    B, T, H, D = x.shape
    return (x.stride(3) == 1 and (H == 1 or x.stride(2) == D) and (B == 1 or x.stride(0) == T * x.stride(1))
            and x.data_ptr() % 16 == 0 and (x.stride(1) * x.element_size()) % 16 == 0 and B * T < 2 ** 31
            and D == width)


def kv_descriptors(k: torch.Tensor, v: torch.Tensor, block_size: int, block_d: int, block_d2: int,
                   block_dv: int, packed: bool) -> Optional[KVDescriptors]:
    """Descriptors for the token-centric kernels' K/V loads, or None where the pointer loads
    must serve (see the module docstring). ``packed``: sequences packed by ``cu_seqlens``."""
    desc = _descriptor_class()
    if not USE_TMA or desc is None or not _eager(k, v) or not _device_ok(k):
        return None
    B, Tk, H, D = k.shape
    Dv = v.shape[-1]
    if packed or (B > 1 and Tk % block_size) or not (_packed_heads(k, block_d + block_d2)
                                                     and _packed_heads(v, block_dv)):
        return None

    def make(x, width, block_w):
        return desc(x, [B * Tk, H * width], [x.stride(1), 1], [block_size, block_w])

    k2 = make(k, D, block_d2) if block_d2 else None
    return KVDescriptors(make(k, D, block_d), k2, make(v, Dv, block_dv))


def launch_args(descs: Optional[KVDescriptors], k: torch.Tensor, v: torch.Tensor) -> dict:
    """The kernels' keyword arguments for ``descs``; pointer loads when None, with k and v as
    unused placeholders (Inductor wants every kernel argument passed)."""
    if descs is None:
        return dict(k_desc=k, k2_desc=k, v_desc=v, TMA=False)
    return dict(k_desc=descs.k, k2_desc=descs.k2 if descs.k2 is not None else descs.k, v_desc=descs.v, TMA=True)
