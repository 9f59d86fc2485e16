"""Reductions: Reduce{Sum,Mean,Prod,Max,Min,L1,L2,LogSum,LogSumExp,SumSquare}
(axes an attribute, an input from 13 for ReduceSum and 18 for the rest),
ArgMax/ArgMin, CumSum/CumProd."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..ir import DataType
from ._registry import kernel, shape
from ._shape import Dim, InferenceContext, add, mul, same_as_input
from ._shape import norm_axes
from .math_common import LOW_FLOATS, axis_or_fail, reg_shape, up


def _acc(x: np.ndarray) -> np.dtype:
    """The accumulation type: float32 for the narrow floats, else x's own."""
    return np.dtype(np.float32) if x.dtype in LOW_FLOATS else x.dtype


def _float_acc(x: np.ndarray) -> np.dtype:
    """A float type to compute in (float64 for integers)."""
    return np.dtype(np.float64) if x.dtype.kind in "iub" else _acc(x)


def _extreme_init(x: np.ndarray, is_max: bool):
    """The identity of max / min over x's type (the value of an empty reduction)."""
    if x.dtype == np.bool_:
        return not is_max
    if x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        return info.min if is_max else info.max
    return -np.inf if is_max else np.inf


def _max(x, axes, kd):
    return np.maximum.reduce(up(x), axis=axes, keepdims=kd, initial=_extreme_init(x, True))


def _min(x, axes, kd):
    return np.minimum.reduce(up(x), axis=axes, keepdims=kd, initial=_extreme_init(x, False))


def _sum(x, axes, kd):
    return np.sum(x, axis=axes, keepdims=kd, dtype=_acc(x))


def _mean(x, axes, kd):
    return np.mean(x, axis=axes, keepdims=kd, dtype=_float_acc(x))


def _prod(x, axes, kd):
    return np.prod(x, axis=axes, keepdims=kd, dtype=_acc(x))


def _l1(x, axes, kd):
    return np.sum(np.abs(up(x)), axis=axes, keepdims=kd, dtype=_acc(x))


def _sum_square(x, axes, kd):
    x = up(x)
    return np.sum(x * x, axis=axes, keepdims=kd)


def _l2(x, axes, kd):
    x = x.astype(_float_acc(x), copy=False)
    return np.sqrt(np.sum(x * x, axis=axes, keepdims=kd))


def _log_sum(x, axes, kd):
    return np.log(np.sum(x, axis=axes, keepdims=kd, dtype=_float_acc(x)))


def _log_sum_exp(x, axes, kd):
    x = x.astype(_float_acc(x), copy=False)
    m = np.maximum.reduce(x, axis=axes, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0)
    r = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
    return r if kd else np.squeeze(r, axis=axes)


def _run(fn: Callable, data: np.ndarray, axes, keepdims: int, noop: int) -> np.ndarray:
    if axes is None or len(axes) == 0:
        # noop: nothing reduced, the element-wise part still applies (SumSquare squares)
        axes = () if noop else range(data.ndim)
    ax = tuple(sorted(set(norm_axes(axes, data.ndim)))) if data.ndim else ()
    with np.errstate(all="ignore"):
        return np.asarray(fn(data, ax, bool(keepdims))).astype(data.dtype, copy=False)


def _reducer(fn: Callable, op: str, input_since: int) -> None:
    """Register ``op``: axes an attribute from opset 1, an input from ``input_since``."""
    def with_attr(data: np.ndarray, *, axes=None, keepdims: int = 1) -> np.ndarray:
        return _run(fn, data, axes, keepdims, 0)

    def with_input(data: np.ndarray, axes: np.ndarray | None = None, *, keepdims: int = 1,
                   noop_with_empty_axes: int = 0) -> np.ndarray:
        return _run(fn, data, None if axes is None else axes.reshape(-1).tolist(), keepdims,
                    noop_with_empty_axes)
    kernel(op, 1)(with_attr)
    kernel(op, input_since)(with_input)
    shape(op, 1)(_reduce_shape)
    shape(op, input_since)(_reduce_shape_input)


# -------------------------------------------------------- ArgMax / ArgMin
def _arg(fn: Callable) -> Callable:
    def k(data: np.ndarray, *, axis: int = 0, keepdims: int = 1, select_last_index: int = 0) -> np.ndarray:
        x = up(data)
        ax = norm_axes([axis], x.ndim)[0]
        if select_last_index:
            idx = x.shape[ax] - 1 - fn(np.flip(x, ax), axis=ax)
        else:
            idx = fn(x, axis=ax)
        return np.asarray(np.expand_dims(idx, ax) if keepdims else idx, dtype=np.int64)
    return k


kernel("ArgMax", 1)(_arg(np.argmax))
kernel("ArgMin", 1)(_arg(np.argmin))


# -------------------------------------------------------- CumSum / CumProd
def _cumulative(fn: Callable, identity: int) -> Callable:
    def k(x: np.ndarray, axis: np.ndarray, *, exclusive: int = 0, reverse: int = 0) -> np.ndarray:
        ax = norm_axes([int(np.asarray(axis).reshape(-1)[0])], max(x.ndim, 1))[0]
        xf = np.flip(x, ax) if reverse else x
        acc = fn(xf, axis=ax, dtype=_acc(x))
        if exclusive and acc.shape[ax]:
            out = np.empty_like(acc)
            first = [slice(None)] * acc.ndim
            rest = list(first)
            first[ax], rest[ax] = slice(0, 1), slice(1, None)
            out[tuple(first)] = identity
            prev = list(first)
            prev[ax] = slice(0, -1)
            out[tuple(rest)] = acc[tuple(prev)]
            acc = out
        if reverse:
            acc = np.flip(acc, ax)
        return acc.astype(x.dtype, copy=False)
    return k


kernel("CumSum", 11)(_cumulative(np.cumsum, 0))
kernel("CumProd", 26)(_cumulative(np.cumprod, 1))
reg_shape(same_as_input, ("CumSum", 11), ("CumProd", 26))


# ------------------------------------------------------------ shape rules
def _reduced(ctx: InferenceContext, axes: list[int] | None, keepdims: int, noop: int) -> None:
    """Output 0 of a reduction over ``axes`` (empty: all, or none when ``noop``)."""
    dtype, shp = ctx.input_dtype(0), ctx.input_shape(0)
    if not axes and noop:
        ctx.set_output(0, dtype, shp)
        return
    if shp is None:
        ctx.set_output(0, dtype, None)
        return
    rank = len(shp)
    if axes:
        try:
            axes = sorted(set(norm_axes(axes, rank))) if rank else []
        except ValueError as e:
            ctx.fail(f"axes {axes}: {e}")
            return
    else:
        axes = list(range(rank))
    out = [1 if k in axes else d for k, d in enumerate(shp)] if keepdims else \
        [d for k, d in enumerate(shp) if k not in axes]
    ctx.set_output(0, dtype, out)
    _propagate_numel(ctx, axes, keepdims)


def _propagate_numel(ctx: InferenceContext, axes: list[int], keepdims: int) -> None:
    """ReduceSum / ReduceProd of a shape vector (e.g. numel) as a rule dim."""
    if ctx.node.op_type not in ("ReduceSum", "ReduceProd") or axes != [0]:
        return
    dims = ctx.input_dims(0)
    if dims is None:
        return
    r: Dim = 0 if ctx.node.op_type == "ReduceSum" else 1
    for d in dims:
        r = (add if ctx.node.op_type == "ReduceSum" else mul)(r, d)
    ctx.set_output_dims(0, [r])


def _reduce_shape(ctx: InferenceContext) -> None:
    axes = ctx.attr("axes")
    _reduced(ctx, list(axes) if axes else None, ctx.attr("keepdims", 1), 0)


def _reduce_shape_input(ctx: InferenceContext) -> None:
    keepdims, noop = ctx.attr("keepdims", 1), ctx.attr("noop_with_empty_axes", 0)
    if not ctx.has_input(1):
        _reduced(ctx, None, keepdims, noop)
        return
    value = ctx.input_value(1)
    if value is not None:
        _reduced(ctx, [int(a) for a in np.asarray(value).reshape(-1)], keepdims, noop)
        return
    # axes not known: kept dims are either their own or 1
    dtype, shp = ctx.input_dtype(0), ctx.input_shape(0)
    n_axes = ctx.input_shape(1)
    if shp is not None and keepdims:
        ctx.set_output(0, dtype, [1 if d == 1 else None for d in shp])
    elif shp is not None and n_axes is not None and isinstance(n_axes[0], int) and n_axes[0] > 0:
        ctx.set_output(0, dtype, [None] * (len(shp) - n_axes[0]))
    else:
        ctx.set_output(0, dtype, None)


def _arg_shape(ctx: InferenceContext) -> None:
    shp = ctx.input_shape(0)
    if shp is None:
        ctx.set_output(0, DataType.INT64, None)
        return
    ax = axis_or_fail(ctx, ctx.attr("axis", 0), len(shp))
    if ax is None:
        return
    keep = ctx.attr("keepdims", 1)
    out = [1 if k == ax else d for k, d in enumerate(shp)] if keep else [d for k, d in enumerate(shp) if k != ax]
    ctx.set_output(0, DataType.INT64, out)


reg_shape(_arg_shape, ("ArgMax", 1), ("ArgMin", 1))

for _op, _fn in {"ReduceMax": _max, "ReduceMin": _min, "ReduceMean": _mean, "ReduceProd": _prod,
                 "ReduceL1": _l1, "ReduceL2": _l2, "ReduceLogSum": _log_sum,
                 "ReduceLogSumExp": _log_sum_exp, "ReduceSumSquare": _sum_square}.items():
    _reducer(_fn, _op, 18)
_reducer(_sum, "ReduceSum", 13)
