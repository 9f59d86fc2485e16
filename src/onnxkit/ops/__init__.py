"""Operators: one module per family, each holding the numpy kernels and the
shape & type rules of its ops side by side (see :mod:`onnxkit.ops._registry`).

Every public module of this package is imported on first lookup, so adding an
operator touches one file.
"""

from __future__ import annotations

from ._evaluate import evaluate_node, kernel_attribute
from ._registry import (FastForm, KernelContext, fast, find_fast, find_kernel, find_shape, kernel, registered_fast,
                        registered_ops, shape)

__all__ = ["FastForm", "KernelContext", "evaluate_node", "fast", "find_fast", "find_kernel", "find_shape", "kernel",
           "kernel_attribute", "registered_fast", "registered_ops", "shape"]
