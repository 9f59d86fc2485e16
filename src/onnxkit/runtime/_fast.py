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

from ..ops import _parallel
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


# element-wise ops on arrays this large split over onnxkit's threads when a
# run may use enough of them (``onnxkit.ops._parallel``); smaller ones, or
# fewer threads, take the one-call path
_BIG = 2 * _parallel.DEFAULT_MIN_WORK


def _split1(u: Callable, x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``u(x, out=out)``, over pieces of the rows when threads allow."""
    if _parallel.workers() < _parallel.MIN_WORKERS or x.ndim == 0 or not (x.flags.c_contiguous
                                                                         and out.flags.c_contiguous):
        return u(x, out=out)
    fx, fo = x.reshape(-1), out.reshape(-1)
    _parallel.split_rows(fx.size, lambda i, j: u(fx[i:j], out=fo[i:j]))
    return out


def _split2(u: Callable, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``u(a, b, out=out)`` (``b`` broadcasts into ``a``), over pieces of ``a``'s
    first dim when threads allow."""
    if _parallel.workers() < _parallel.MIN_WORKERS or a.ndim == 0 or a.shape[0] < 2:
        return u(a, b, out=out)
    whole_b = b.ndim < a.ndim or b.shape[0] == 1
    _parallel.split_rows(a.shape[0], lambda i, j: u(a[i:j], b if whole_b else b[i:j], out=out[i:j]),
                         row_work=a.size // a.shape[0])
    return out


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
            if x.dtype in _FLOATS:
                return u(x) if x.size < _BIG else _split1(u, x, np.empty_like(x))
            return kernel(x)

        def inplace(x):
            if x.dtype in _FLOATS:
                return u(x, out=x) if x.size < _BIG else _split1(u, x, x)
            return None
        return call, inplace, False
    if n_inputs == 2:
        def call2(a, b):
            if a.dtype is b.dtype and a.dtype in _FLOATS:
                if a.size >= _BIG and _fits(a, b):
                    return _split2(u, a, b, np.empty_like(a))
                return u(a, b)
            return kernel(a, b)

        def inplace2(a, b):
            if a.dtype is b.dtype and a.dtype in _FLOATS and _fits(a, b):
                return u(a, b, out=a) if a.size < _BIG else _split2(u, a, b, a)
            return None
        return call2, inplace2, form.commutative
    return None
