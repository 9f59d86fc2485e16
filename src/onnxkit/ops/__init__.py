"""Operators: one module per family, each holding the numpy kernels and the
shape & type rules of its ops side by side (see :mod:`onnxkit.ops._registry`).

Every public module of this package is imported on first lookup, so adding an
operator touches one file.
"""

from __future__ import annotations

from ._registry import KernelContext, find_kernel, find_shape, kernel, registered_ops, shape

__all__ = ["KernelContext", "find_kernel", "find_shape", "kernel", "registered_ops", "shape"]
