"""Element-wise unary math: Abs, Neg, Sign, rounding, exp/log, trigonometric
and hyperbolic functions, Erf, IsInf/IsNaN, Not, BitwiseNot."""

from __future__ import annotations

import numpy as np

from ..ir import DataType
from ._registry import fast, kernel, shape
from ._shape import Dim, InferenceContext, Sym, same_as_input
from .math_activation import erf_f32
from .math_common import erf, reg_shape, up, upcast_unary

def _reciprocal(x: np.ndarray) -> np.ndarray:
    return np.divide(1, x)


def _erf(x: np.ndarray) -> np.ndarray:
    """float32 through the single-precision tanh form (3e-7 relative), every
    other type through the general rational form (1.2e-9 in float64)."""
    return erf_f32(x) if x.dtype == np.float32 and x.ndim else erf(x)


# op -> (first version, numpy function); later versions only widen the types
_UNARY = {
    "Abs": (1, np.abs), "Neg": (1, np.negative), "Sign": (9, np.sign),
    "Ceil": (1, np.ceil), "Floor": (1, np.floor), "Round": (11, np.round),   # half to even
    "Exp": (1, np.exp), "Log": (1, np.log), "Sqrt": (1, np.sqrt), "Reciprocal": (1, _reciprocal),
    "Sin": (7, np.sin), "Cos": (7, np.cos), "Tan": (7, np.tan),
    "Asin": (7, np.arcsin), "Acos": (7, np.arccos), "Atan": (7, np.arctan),
    "Sinh": (9, np.sinh), "Cosh": (9, np.cosh), "Tanh": (1, np.tanh),
    "Asinh": (9, np.arcsinh), "Acosh": (9, np.arccosh), "Atanh": (9, np.arctanh),
    "Erf": (9, _erf), "BitwiseNot": (18, np.invert), "Not": (1, np.logical_not),
}

for _op, (_since, _fn) in _UNARY.items():
    kernel(_op, _since)(upcast_unary(_fn))
    if _op not in ("Abs", "Neg", "Not"):
        shape(_op, _since)(same_as_input)
# the runtime's direct forms (float32/float64: exactly one ufunc, written in place when it may)
for _op, _fn in {"Tanh": np.tanh, "Exp": np.exp, "Sqrt": np.sqrt, "Neg": np.negative, "Abs": np.abs,
                 "Reciprocal": np.reciprocal}.items():
    fast(_op, arity=1)(_fn)


@kernel("IsNaN", 9)
def isnan(x: np.ndarray) -> np.ndarray:
    return np.isnan(up(x))


@kernel("IsInf", 10)
def isinf(x: np.ndarray, *, detect_negative: int = 1, detect_positive: int = 1) -> np.ndarray:
    x = up(x)
    if detect_negative and detect_positive:
        return np.isinf(x)
    if detect_negative:
        return np.isneginf(x)
    if detect_positive:
        return np.isposinf(x)
    return np.zeros(x.shape, dtype=bool)


def _bool_shape(ctx: InferenceContext) -> None:
    ctx.set_output(0, DataType.BOOL, ctx.input_shape(0))


reg_shape(_bool_shape, ("IsNaN", 9), ("IsInf", 10))


# ---------------------------------------------------------- data propagation
def nonneg(d: Dim) -> bool:
    """Whether a symbolic dim is surely >= 0 (every coefficient positive)."""
    return isinstance(d, Sym) and all(c > 0 for c in d.terms.values())


def _abs_dim(d: Dim) -> Dim:
    if isinstance(d, int):
        return abs(d)
    return d if nonneg(d) else None


def _neg_dim(d: Dim) -> Dim:
    return None if d is None else -d


def _not_dim(d: Dim) -> Dim:
    return int(not d) if isinstance(d, int) else None


def _propagating(fn):
    def rule(ctx: InferenceContext) -> None:
        same_as_input(ctx)
        dims = ctx.input_dims(0)
        if dims is not None:
            ctx.set_output_dims(0, [fn(d) for d in dims])
    rule.__name__ = f"{fn.__name__}_shape"
    return rule


reg_shape(_propagating(_abs_dim), ("Abs", 1))
reg_shape(_propagating(_neg_dim), ("Neg", 1))
reg_shape(_propagating(_not_dim), ("Not", 1))
