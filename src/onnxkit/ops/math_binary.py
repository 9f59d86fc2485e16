"""Element-wise binary and variadic math: Add Sub Mul Div Pow Mod, BitShift and
the bitwise ops, the logical ops and comparisons, Where, Max Min Sum Mean.

Their shape rules also propagate the values of small integer shape tensors
(``ctx.input_dims``) element by element, with symbolic dims: exported graphs
compute Reshape targets this way (``Add([N, seq], [0, 1]) -> [N, seq + 1]``).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ..ir import DataType
from ._registry import fast, kernel, shape
from ._shape import Dim, InferenceContext, add, elementwise, mod as mod_dim, mul, sub
from .math_common import legacy_b, reg_shape, up
from .math_unary import nonneg


# ------------------------------------------------------------------ kernels
def _trunc_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer division rounding toward zero (C semantics), as ONNX Div does."""
    if a.dtype.kind == "u":
        return np.floor_divide(a, b)
    q = np.floor_divide(a, b)
    fix = (q * b != a) & ((a < 0) != (b < 0))
    return q + fix.astype(q.dtype)


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _trunc_div(a, b) if a.dtype.kind in "iu" else np.divide(a, b)


def _arith(fn: Callable) -> Callable:
    """A T, T -> T kernel; opset < 7 versions take ``broadcast``/``axis``."""
    def k(a: np.ndarray, b: np.ndarray, *, broadcast: int = 0, axis: int | None = None,
          consumed_inputs=None) -> np.ndarray:
        b = legacy_b(a, b, broadcast, axis)
        with np.errstate(all="ignore"):
            return np.asarray(fn(up(a), up(b))).astype(a.dtype, copy=False)
    k.__name__ = fn.__name__
    return k


def _bool_op(fn: Callable) -> Callable:
    """A T, T -> bool kernel (comparisons and logical ops)."""
    def k(a: np.ndarray, b: np.ndarray, *, broadcast: int = 0, axis: int | None = None) -> np.ndarray:
        return np.asarray(fn(up(a), up(legacy_b(a, b, broadcast, axis))), dtype=bool)
    k.__name__ = fn.__name__
    return k


for _op, _fn in {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": _div}.items():
    kernel(_op, 1)(_arith(_fn))
for _op, _fn in {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}.items():
    fast(_op, arity=2, commutative=_op in ("Add", "Mul"))(_fn)          # the runtime's direct forms
for _op, _fn in {"BitwiseAnd": np.bitwise_and, "BitwiseOr": np.bitwise_or,
                 "BitwiseXor": np.bitwise_xor}.items():
    kernel(_op, 18)(_arith(_fn))
for _op, _fn in {"And": np.logical_and, "Or": np.logical_or, "Xor": np.logical_xor,
                 "Equal": np.equal, "Greater": np.greater, "Less": np.less}.items():
    kernel(_op, 1)(_bool_op(_fn))
kernel("GreaterOrEqual", 12)(_bool_op(np.greater_equal))
kernel("LessOrEqual", 12)(_bool_op(np.less_equal))


@kernel("Mod", 10)
def mod(a: np.ndarray, b: np.ndarray, *, fmod: int = 0) -> np.ndarray:
    """fmod=0: the result takes the divisor's sign (floor); fmod=1: the dividend's (C fmod)."""
    with np.errstate(all="ignore"):
        return np.asarray((np.fmod if fmod else np.mod)(up(a), up(b))).astype(a.dtype, copy=False)


@kernel("BitShift", 11)
def bitshift(x: np.ndarray, y: np.ndarray, *, direction: str) -> np.ndarray:
    """numpy already gives what opset 28 asks for shifts < 0 or >= the bit width."""
    f = np.left_shift if direction == "LEFT" else np.right_shift
    return np.asarray(f(x, y.astype(x.dtype, copy=False))).astype(x.dtype, copy=False)


@kernel("Pow", 1)
def pow_(x: np.ndarray, y: np.ndarray, *, broadcast: int = 0, axis: int | None = None) -> np.ndarray:
    """x ** y in x's type (from opset 12 y may have another type than x)."""
    y = legacy_b(x, y, broadcast, axis)
    with np.errstate(all="ignore"):
        if x.dtype.kind in "iu" and y.dtype.kind in "iu":
            yi = y.astype(np.int64, copy=False)
            neg = yi < 0
            r = np.power(x, np.where(neg, 0, yi) if neg.any() else yi)
            if neg.any():      # x ** -n truncates to 0 unless |x| == 1
                r = np.where(neg, np.power(x.astype(np.float64), yi.astype(np.float64)), r)
            return np.asarray(r).astype(x.dtype)
        xf, yf = up(x), up(y)
        if x.dtype.kind in "iu":
            xf = xf.astype(np.float64)
        if yf.dtype != xf.dtype:
            t = np.result_type(xf.dtype, yf.dtype)
            xf, yf = xf.astype(t, copy=False), yf.astype(t, copy=False)
        return np.asarray(np.power(xf, yf)).astype(x.dtype, copy=False)


@kernel("Where", 9)
def where(c: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.asarray(np.where(c, x, y)).astype(x.dtype, copy=False)


def _variadic(fn: Callable, mean: bool = False) -> Callable:
    def k(*xs: np.ndarray, consumed_inputs=None) -> np.ndarray:
        r = up(xs[0])
        for x in xs[1:]:
            r = fn(r, up(x))
        if mean:
            r = r / len(xs)
        return np.asarray(r).astype(xs[0].dtype, copy=False)
    k.__name__ = fn.__name__
    return k


kernel("Max", 1)(_variadic(np.maximum))
kernel("Min", 1)(_variadic(np.minimum))
kernel("Sum", 1)(_variadic(np.add))
kernel("Mean", 1)(_variadic(np.add, mean=True))


# ------------------------------------------------------ data propagation
def _gt0(d: Dim) -> bool:
    """d is surely > 0."""
    if isinstance(d, int):
        return d > 0
    return nonneg(d) and d.terms.get((), 0) > 0


def _ge0(d: Dim) -> bool:
    """d is surely >= 0."""
    return d >= 0 if isinstance(d, int) else nonneg(d)


def _less(a: Dim, b: Dim) -> Dim:
    d = sub(b, a)
    return None if d is None else 1 if _gt0(d) else 0 if _ge0(-d) else None


def _less_eq(a: Dim, b: Dim) -> Dim:
    d = sub(b, a)
    return None if d is None else 1 if _ge0(d) else 0 if _gt0(-d) else None


def _equal(a: Dim, b: Dim) -> Dim:
    d = sub(a, b)
    return None if d is None else 1 if d == 0 else 0 if _gt0(d) or _gt0(-d) else None


def _div_dim(a: Dim, b: Dim) -> Dim:
    if a is None or b is None or b == 0:
        return None
    if isinstance(a, int) and isinstance(b, int):
        q = abs(a) // abs(b)
        return q if (a < 0) == (b < 0) else -q
    if isinstance(a, int) or (isinstance(b, int) and b < 0):
        return None
    return a // b


def _mod_dim(fmod: int) -> Callable[[Dim, Dim], Dim]:
    def f(a: Dim, b: Dim) -> Dim:
        if isinstance(a, int) and isinstance(b, int):
            return (int(math.fmod(a, b)) if fmod else a % b) if b else None
        if isinstance(b, int) and b > 0 and _ge0(a):
            return mod_dim(a, b)
        return None
    return f


def _extreme(is_max: bool) -> Callable[[Dim, Dim], Dim]:
    def f(a: Dim, b: Dim) -> Dim:
        if _less_eq(a, b) == 1:
            return b if is_max else a
        if _less_eq(b, a) == 1:
            return a if is_max else b
        return None
    return f


def _logical(fn: Callable[[bool, bool], bool]) -> Callable[[Dim, Dim], Dim]:
    def f(a: Dim, b: Dim) -> Dim:
        if isinstance(a, int) and isinstance(b, int):
            return int(fn(bool(a), bool(b)))
        known = a if isinstance(a, int) else b if isinstance(b, int) else None
        if known is not None:      # And(0, ?) = 0, Or(1, ?) = 1
            for other in (False, True):
                if fn(bool(known), other) != fn(bool(known), not other):
                    return None
            return int(fn(bool(known), False))
        return None
    return f


def _flip(f: Callable[[Dim, Dim], Dim]) -> Callable[[Dim, Dim], Dim]:
    return lambda a, b: f(b, a)


def _elements(ctx: InferenceContext, i: int) -> list[Dim] | None:
    """Input i's elements as rule dims (a known bool vector as 0/1 too)."""
    dims = ctx.input_dims(i)
    if dims is None and ctx.input_dtype(i) == DataType.BOOL and (ctx.input_rank(i) or 0) <= 1:
        v = ctx.input_value(i)
        if v is not None and v.size <= 64:
            dims = [int(e) for e in np.asarray(v).reshape(-1)]
    return dims


def propagate(ctx: InferenceContext, fn: Callable[..., Dim], inputs: range | list[int]) -> None:
    """Output 0's elements from the inputs' known elements, broadcast."""
    dims = [_elements(ctx, i) for i in inputs]
    if any(d is None for d in dims):
        return
    n = max(len(d) for d in dims)
    if any(len(d) not in (1, n) for d in dims):
        return
    ctx.set_output_dims(0, [fn(*(d[k] if len(d) > 1 else d[0] for d in dims)) for k in range(n)])


def _rule(dtype: DataType | None = None, prop: Callable | None = None, dtype_from: int = 0) -> Callable:
    """Broadcast shape (B to A's shape under opset < 7 ``broadcast=1``), output
    type ``dtype`` or input ``dtype_from``'s, elements propagated with ``prop``."""
    def rule(ctx: InferenceContext) -> None:
        out_dtype = dtype if dtype is not None else ctx.input_dtype(dtype_from)
        if ctx.attr("broadcast", 0):        # opset < 7: B broadcasts to A
            ctx.set_output(0, out_dtype, ctx.input_shape(0))
        else:
            elementwise(ctx, out_dtype)
        if prop is not None:
            propagate(ctx, prop, range(ctx.n_inputs))
    return rule


def _fold(f: Callable[[Dim, Dim], Dim]) -> Callable[..., Dim]:
    """A variadic dim function from a binary one."""
    def g(*ds: Dim) -> Dim:
        r = ds[0]
        for d in ds[1:]:
            r = f(r, d) if r is not None else None
        return r
    return g


@shape("Mod", 10)
def _mod_shape(ctx: InferenceContext) -> None:
    elementwise(ctx)
    propagate(ctx, _mod_dim(ctx.attr("fmod", 0)), range(2))


_B = DataType.BOOL
reg_shape(_rule(prop=add), ("Add", 1))
reg_shape(_rule(prop=sub), ("Sub", 1))
reg_shape(_rule(prop=mul), ("Mul", 1))
reg_shape(_rule(prop=_div_dim), ("Div", 1))
reg_shape(_rule(), ("Pow", 1), ("BitShift", 11), ("BitwiseAnd", 18), ("BitwiseOr", 18),
          ("BitwiseXor", 18))
reg_shape(_rule(_B, _equal), ("Equal", 1))
reg_shape(_rule(_B, _less), ("Less", 1))
reg_shape(_rule(_B, _flip(_less)), ("Greater", 1))
reg_shape(_rule(_B, _less_eq), ("LessOrEqual", 12))
reg_shape(_rule(_B, _flip(_less_eq)), ("GreaterOrEqual", 12))
reg_shape(_rule(_B, _logical(lambda a, b: a and b)), ("And", 1))
reg_shape(_rule(_B, _logical(lambda a, b: a or b)), ("Or", 1))
reg_shape(_rule(_B, _logical(lambda a, b: a != b)), ("Xor", 1))
reg_shape(_rule(prop=_fold(_extreme(True))), ("Max", 1))
reg_shape(_rule(prop=_fold(_extreme(False))), ("Min", 1))
reg_shape(_rule(prop=_fold(add)), ("Sum", 1))
reg_shape(_rule(), ("Mean", 1))


def _where_dim(c: Dim, x: Dim, y: Dim) -> Dim:
    if isinstance(c, int):
        return x if c else y
    return x if x is not None and x == y else None


reg_shape(_rule(prop=_where_dim, dtype_from=1), ("Where", 9))
