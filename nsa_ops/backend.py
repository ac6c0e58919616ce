"""Backend choice: ``auto`` (Triton on CUDA where the kernels support the shape, else torch),
``triton`` or ``torch``.

Set by the environment variable ``NSA_SELECTION_BACKEND`` or the context manager
``nsa_ops.use_backend(...)`` (innermost wins). The choice is resolved in Python before the op is
called and passed to it as a string, so torch.compile sees a constant.
"""
from __future__ import annotations

import contextlib
import logging
import os
import threading
from typing import Iterator, Optional

import torch

logger = logging.getLogger("nsa_ops")

BACKENDS = ("auto", "triton", "torch")
SUPPORTED_BLOCK_SIZES = (16, 32, 64, 128)
# Largest head dims the Triton kernels take (register/shared-memory budget of one tile).
TRITON_MAX_HEAD_DIM = 256

_local = threading.local()
_warned: set = set()


def _check(name: str) -> str:
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    return name


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Temporarily select the backend: ``with nsa_ops.use_backend("torch"): ...``."""
    _check(name)
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    stack.append(name)
    try:
        yield
    finally:
        stack.pop()


def requested_backend() -> str:
    stack = getattr(_local, "stack", None)
    if stack:
        return stack[-1]
    env = os.environ.get("NSA_SELECTION_BACKEND", "auto").strip().lower() or "auto"
    if env not in BACKENDS:
        raise ValueError(f"NSA_SELECTION_BACKEND must be one of {BACKENDS}, got {env!r}")
    return env


def triton_available() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def triton_unsupported_reason(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, block_size: int = 64, allow_interpreter: bool = False
) -> Optional[str]:
    """Why the Triton kernels cannot run this call, or None when they can. CPU tensors run
    only when explicitly asked for under TRITON_INTERPRET=1 (tests); ``auto`` never picks the
    interpreter."""
    on_interpreter = allow_interpreter and q.device.type == "cpu" and _interpreting()
    if q.device.type != "cuda" and not on_interpreter:
        return f"device {q.device.type} (the Triton kernels need CUDA, or TRITON_INTERPRET=1 on CPU)"
    if not triton_available():
        return "triton is not installed"
    if q.dtype not in (torch.float16, torch.bfloat16, torch.float32):
        return f"dtype {q.dtype}"
    if q.shape[-1] > TRITON_MAX_HEAD_DIM or v.shape[-1] > TRITON_MAX_HEAD_DIM:
        return f"head dim D={q.shape[-1]}, Dv={v.shape[-1]} above {TRITON_MAX_HEAD_DIM}"
    from .kernels.configs import unsupported_reason

    return unsupported_reason(q.shape[2] // max(k.shape[2], 1), q.shape[-1], v.shape[-1],
                              block_size, q.element_size())


def _log(msg: str, *args) -> None:
    # Dynamo cannot trace logging calls; the decision is logged when the call runs eagerly.
    if not torch.compiler.is_compiling():
        logger.debug(msg, *args)


def resolve(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, block_size: int) -> str:
    """Concrete backend ("triton" or "torch") for this call, logging the decision."""
    want = requested_backend()
    if want == "torch":
        _log("nsa_ops: torch path (requested)")
        return "torch"
    reason = triton_unsupported_reason(q, k, v, block_size, allow_interpreter=want == "triton")
    if reason is None:
        _log("nsa_ops: triton path")
        return "triton"
    if want == "triton":
        raise ValueError(f"backend='triton' was requested but cannot run: {reason}")
    _log("nsa_ops: torch path (%s)", reason)
    if q.device.type == "cuda" and reason not in _warned and not torch.compiler.is_compiling():
        _warned.add(reason)
        import warnings

        warnings.warn(f"nsa_ops: falling back to the torch path on CUDA: {reason}", stacklevel=3)
    return "torch"
