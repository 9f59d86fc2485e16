"""Direct calls for the hottest element-wise ops, and their in-place forms.

The registered kernels handle every dtype and every opset's quirks (legacy
broadcast attributes, float16 computed in float32, integer division), at the
cost of a wrapper per call.  For float32/float64 operands of equal dtype these
ops are exactly one numpy ufunc, so the plan calls that ufunc directly and
falls back to the kernel otherwise.

In place: when the plan knows an operand dies at this step and nothing else
holds its buffer (see ``Plan``), the ufunc writes into it (``out=a``) instead
of allocating: the same bytes, no new buffer, warm in cache.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["fast_call"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _sigmoid(x, out=None):
    t = np.negative(x, out=out)
    np.exp(t, out=t)
    t += 1
    return np.reciprocal(t, out=t)


def _relu(x, out=None):
    return np.maximum(x, 0, out=out) if out is not None else np.maximum(x, 0)


_UNARY: dict[str, Callable] = {"Relu": _relu, "Sigmoid": _sigmoid, "Tanh": np.tanh, "Exp": np.exp,
                               "Sqrt": np.sqrt, "Neg": np.negative, "Abs": np.abs, "Reciprocal": np.reciprocal}
_BINARY: dict[str, Callable] = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}
_COMMUTATIVE = {"Add", "Mul"}
# the version from which each op's kernel takes no attributes (legacy broadcast/consumed_inputs before)
_SINCE = 7


def _fits(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether ``a op b`` has ``a``'s shape (``b`` broadcasts into ``a``)."""
    sa, sb = a.shape, b.shape
    if sa == sb:
        return True
    if len(sb) > len(sa):
        return False
    return all(y == 1 or x == y for x, y in zip(sa[len(sa) - len(sb):], sb))


def fast_call(op: str, kernel: Callable, n_inputs: int) -> tuple[Callable, Callable | None, bool] | None:
    """``(call, inplace, commutative)`` for an ai.onnx op at opset >= 7 without
    attributes, or None when the op has no direct form.  ``inplace(a, b)``
    writes into ``a`` and returns the result, or None when it cannot."""
    if op in _UNARY and n_inputs == 1:
        u = _UNARY[op]

        def call(x):
            return u(x) if x.dtype in _FLOATS else kernel(x)

        def inplace(x):
            return u(x, out=x) if x.dtype in _FLOATS else None
        return call, inplace, False
    if op in _BINARY and n_inputs == 2:
        f = _BINARY[op]

        def call2(a, b):
            return f(a, b) if a.dtype is b.dtype and a.dtype in _FLOATS else kernel(a, b)

        def inplace2(a, b):
            if a.dtype is b.dtype and a.dtype in _FLOATS and _fits(a, b):
                return f(a, b, out=a)
            return None
        return call2, inplace2, op in _COMMUTATIVE
    return None
