"""nsa_ops: Native Sparse Attention selection attention for PyTorch.

``selection_attention`` is the public entry point; it checks arguments and calls the registered
operator ``torch.ops.nsa.selection`` (see ``nsa_ops.ops``), which runs Triton kernels on CUDA
and a torch path elsewhere.
"""
from . import ops  # noqa: F401  (registers torch.ops.nsa.*)
from . import selections  # noqa: F401
from .api import selection_attention, selection_attention_ranges
from .backend import BACKENDS, SUPPORTED_BLOCK_SIZES, use_backend
from .reference import reference_selection

__all__ = [
    "selection_attention",
    "selection_attention_ranges",
    "reference_selection",
    "use_backend",
    "BACKENDS",
    "SUPPORTED_BLOCK_SIZES",
]
__version__ = "0.1.0"
