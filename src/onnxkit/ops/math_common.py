"""Helpers shared by the math families (math_*.py): precision upcasts, the
legacy (opset < 7) broadcast attribute, erf, axis handling and shape rules."""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from ._registry import shape
from ._shape import InferenceContext, normalize_axis

__all__ = ["LOW_FLOATS", "blockwise", "erf", "legacy_b", "reg_shape", "up", "upcast_unary", "axis_or_fail"]

# numpy computes these imprecisely (float16 reductions) or not at all (ml_dtypes
# types lack many ufuncs): kernels compute in float32 and cast back.
# (by name: an ml_dtypes type can only be met once ml_dtypes is imported, so nothing here imports it)
class _LowFloats:
    NAMES = frozenset({"float16", "bfloat16", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2",
                       "float8_e5m2fnuz"})

    def __contains__(self, dt: object) -> bool:
        return isinstance(dt, np.dtype) and dt.kind in "fV" and dt.name in self.NAMES


LOW_FLOATS = _LowFloats()


def up(x: np.ndarray) -> np.ndarray:
    """``x`` in float32 when it is a float type narrower than that, else ``x``."""
    return x.astype(np.float32) if x.dtype in LOW_FLOATS else x


def upcast_unary(fn: Callable[[np.ndarray], Any]) -> Callable[[np.ndarray], np.ndarray]:
    """A T -> T kernel from ``fn``: computed in float32 for the narrow floats,
    cast back to the input's dtype (older versions' ``consumed_inputs`` ignored)."""
    def k(x: np.ndarray, *, consumed_inputs: Any = None) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.asarray(fn(up(x))).astype(x.dtype, copy=False)
    k.__name__ = getattr(fn, "__name__", "unary")
    return k


def legacy_b(a: np.ndarray, b: np.ndarray, broadcast: int, axis: int | None) -> np.ndarray:
    """B aligned to A as opset < 7 binary ops did: with ``broadcast=1`` and an
    ``axis``, B's dims line up with A's from ``axis`` on."""
    if broadcast and axis is not None and b.ndim:
        axis = axis + a.ndim if axis < 0 else axis
        b = b.reshape(b.shape + (1,) * (a.ndim - axis - b.ndim))
    return b


def axis_or_fail(ctx: InferenceContext, axis: int, rank: int) -> int | None:
    """``normalize_axis`` for shape rules: ctx.fail instead of an exception."""
    try:
        return normalize_axis(axis, rank)
    except ValueError as e:
        ctx.fail(str(e))
        return None


def reg_shape(rule: Callable, *ops: tuple[str, int]) -> None:
    """Register ``rule`` as the shape rule of every (op, since) pair."""
    for op, since in ops:
        shape(op, since)(rule)


# -------------------------------------------------------------------- erf
# erf(x) = x * P(s) / Q(s), s = (x / 4.5)^2, |x| clamped to 4.5: a rational fit
# (Lawson-weighted least squares against math.erf, degrees 7/7), absolute
# error below 1.2e-9 over the whole real line.
_ERF_CLAMP = 4.5
_ERF_P = (1.1283791785194812, 2.8690536075510265, 19.480633178686208, 15.244121686842842,
          42.073526270501816, -25.94740248366612, -4.3853615361530025, 1.5666065816227361)
_ERF_Q = (1.0, 9.292635867071827, 38.982989834178625, 93.31126134518877,
          127.00440860968489, 66.21603564192985, -120.9788758465436, 19.3045484993382)
_EXACT_BELOW = 256       # small float64 arrays: math.erf element by element (exact)
_erf_exact = np.frompyfunc(math.erf, 1, 1)


def _horner(coeffs: Sequence[float], s: np.ndarray) -> np.ndarray:
    r = np.full_like(s, coeffs[-1])
    for c in coeffs[-2::-1]:
        r *= s
        r += c
    return r


_BLOCK = 32768     # elements: a block and its temporaries stay in the L2 cache


def blockwise(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """``fn`` (element-wise, many passes) over cache-sized blocks of ``x``:
    on large arrays several times faster than whole-array passes."""
    if x.size <= _BLOCK:
        return fn(x)
    flat = x.reshape(-1)
    first = fn(flat[:_BLOCK])
    out = np.empty(x.size, first.dtype)
    out[:_BLOCK] = first
    for i in range(_BLOCK, x.size, _BLOCK):
        out[i:i + _BLOCK] = fn(flat[i:i + _BLOCK])
    return out.reshape(x.shape)


def _erf_block(x: np.ndarray) -> np.ndarray:
    c = np.clip(x, -_ERF_CLAMP, _ERF_CLAMP)      # erf is odd: c * P(s) / Q(s) keeps the sign
    s = c * (1.0 / _ERF_CLAMP)
    s *= s
    r = _horner(_ERF_P, s)
    r /= _horner(_ERF_Q, s)
    r *= c
    return r


def erf(x: np.ndarray) -> np.ndarray:
    """Vectorized erf in x's float type (float64 for integers): error < 1.2e-9
    in float64, a few ulp in float32."""
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    if x.dtype == np.float64 and x.size <= _EXACT_BELOW:
        return _erf_exact(x).astype(np.float64) if x.ndim else np.float64(math.erf(float(x)))
    return blockwise(_erf_block, x.reshape(1) if x.ndim == 0 else x).reshape(x.shape)
