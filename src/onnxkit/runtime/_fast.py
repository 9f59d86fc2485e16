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

from ..ops._parallel import MIN_WORK, parallel_rows

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


def _rows(a: np.ndarray, b: np.ndarray | None):
    """``(a2, b2, b_split)``: ``a`` as rows (its leading dims flattened, a view)
    and ``b`` as what each row block reads -- itself when it broadcasts over
    the rows, or rows of its own when it has ``a``'s shape -- or None when the
    operands do not split that way."""
    if a.ndim == 0 or not a.flags.c_contiguous:
        return None
    a2 = a.reshape(-1, a.shape[-1]) if a.ndim > 1 else a.reshape(-1, 1)
    if b is None:
        return a2, None, False
    if b.shape == a.shape and b.flags.c_contiguous:
        return a2, b.reshape(a2.shape), True
    if all(d == 1 for d in b.shape[:-1]) and (a.ndim > 1 or b.size == 1):
        return a2, b.reshape(b.shape[-1:] if b.ndim else ()), False
    return None


def _split(f: Callable, a: np.ndarray, b: np.ndarray | None, out: np.ndarray) -> np.ndarray | None:
    """``f(a[, b], out=out)`` over row blocks on all cores; None when it does
    not split (the caller runs it whole)."""
    r = _rows(a, b)
    if r is None:
        return None
    a2, b2, b_split = r
    o2 = out.reshape(a2.shape)
    if b2 is None:
        parallel_rows(lambda lo, hi: f(a2[lo:hi], out=o2[lo:hi]), a2.shape[0], a.size)
    else:
        parallel_rows(lambda lo, hi: f(a2[lo:hi], b2[lo:hi] if b_split else b2, out=o2[lo:hi]),
                      a2.shape[0], a.size)
    return out


def fast_call(op: str, kernel: Callable, n_inputs: int) -> tuple[Callable, Callable | None, bool] | None:
    """``(call, inplace, commutative)`` for an ai.onnx op at opset >= 7 without
    attributes, or None when the op has no direct form.  ``inplace(a, b)``
    writes into ``a`` and returns the result, or None when it cannot."""
    if op in _UNARY and n_inputs == 1:
        u = _UNARY[op]

        def call(x):
            if x.dtype not in _FLOATS:
                return kernel(x)
            if x.size >= MIN_WORK:
                r = _split(u, x, None, np.empty_like(x))
                if r is not None:
                    return r
            return u(x)

        def inplace(x):
            if x.dtype not in _FLOATS:
                return None
            if x.size >= MIN_WORK and _split(u, x, None, x) is not None:
                return x
            return u(x, out=x)
        return call, inplace, False
    if op in _BINARY and n_inputs == 2:
        f = _BINARY[op]

        def call2(a, b):
            if a.dtype is not b.dtype or a.dtype not in _FLOATS:
                return kernel(a, b)
            if a.size >= MIN_WORK and _fits(a, b):
                r = _split(f, a, b, np.empty_like(a))
                if r is not None:
                    return r
            return f(a, b)

        def inplace2(a, b):
            if a.dtype is b.dtype and a.dtype in _FLOATS and _fits(a, b):
                if a.size >= MIN_WORK and _split(f, a, b, a) is not None:
                    return a
                return f(a, b, out=a)
            return None
        return call2, inplace2, op in _COMMUTATIVE
    return None
