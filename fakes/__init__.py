"""Fake (meta) kernels, one per registered op (installed as ``nsa_ops.fakes``): output shapes
and dtypes from input shapes, nothing else."""
