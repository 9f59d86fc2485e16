"""Direct calls for the hottest element-wise ops, and their in-place forms.

The registered kernels handle every dtype and every opset's quirks (legacy
broadcast attributes, float16 computed in float32, integer division), at the
cost of a wrapper per call.  For float32/float64 operands of equal dtype these
ops are exactly one numpy ufunc: each op's module in :mod:`onnxkit.ops`
registers that direct form beside its kernel (``@fast``), and the plan calls
it directly, falling back to the kernel otherwise.

In place: when the plan knows an operand dies at this step and nothing else
holds its buffer (see ``Plan``), the ufunc writes into it (``out=a``) instead
of allocating: the same bytes, no new buffer, warm in cache.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..ops._registry import find_fast

__all__ = ["fast_call"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _fits(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether ``a op b`` has ``a``'s shape (``b`` broadcasts into ``a``)."""
    sa, sb = a.shape, b.shape
    if sa == sb:
        return True
    if len(sb) > len(sa):
        return False
    return all(y == 1 or x == y for x, y in zip(sa[len(sa) - len(sb):], sb))


def fast_call(op: str, kernel: Callable, n_inputs: int, opset: int = 1 << 30,
              domain: str = "") -> tuple[Callable, Callable | None, bool] | None:
    """``(call, inplace, commutative)`` for a node of ``op`` without attributes
    whose op registered a fast form (:func:`onnxkit.ops.fast`) in force at
    ``opset``, or None.  ``inplace(a[, b])`` writes into ``a`` and returns the
    result, or None when it cannot."""
    form = find_fast(op, opset, domain)
    if form is None or form.arity != n_inputs:
        return None
    u = form.fn
    if n_inputs == 1:
        def call(x):
            return u(x) if x.dtype in _FLOATS else kernel(x)

        def inplace(x):
            return u(x, out=x) if x.dtype in _FLOATS else None
        return call, inplace, False
    if n_inputs == 2:
        def call2(a, b):
            return u(a, b) if a.dtype is b.dtype and a.dtype in _FLOATS else kernel(a, b)

        def inplace2(a, b):
            if a.dtype is b.dtype and a.dtype in _FLOATS and _fits(a, b):
                return u(a, b, out=a)
            return None
        return call2, inplace2, form.commutative
    return None
