"""Symbolic size arithmetic: ``x.size(1)``, ``s0 * 4``, ``max(s0, 1)``, ``t.item()``.

A size known at trace time is a Python int and computed here; a symbolic one is
an int64 scalar ``Value`` and becomes Shape/Gather/Mul/... nodes, so the model
computes it at run time.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import torch

from ...ir import DataType, Value
from .._registry import conversion_rule
from ._util import aten


def _dt(*xs: Any) -> DataType:
    for x in xs:
        if isinstance(x, float):
            return DataType.FLOAT
        if isinstance(x, Value) and x.dtype is not None and DataType(x.dtype).is_floating:
            return DataType.FLOAT
    return DataType.INT64


def _arith(py, onnx_op: str):
    def rule(ctx, a, b):
        if not isinstance(a, Value) and not isinstance(b, Value):
            return py(a, b)
        dt = _dt(a, b)
        out = getattr(ctx.o, onnx_op)(ctx.cast(a, dt), ctx.cast(b, dt))
        return ctx.typed(out, dt, [])
    return rule


add = conversion_rule(operator.add)(_arith(operator.add, "Add"))
sub = conversion_rule(operator.sub)(_arith(operator.sub, "Sub"))
mul = conversion_rule(operator.mul)(_arith(operator.mul, "Mul"))


@conversion_rule(operator.truediv)
def truediv(ctx, a, b):
    """``a / b`` is a float even for two sizes (``math.ceil(n / 4)``): computed in
    float64 (exact for sizes below 2**53), the result a float32 scalar as the
    tracer types a SymFloat."""
    if not isinstance(a, Value) and not isinstance(b, Value):
        return a / b
    q = ctx.o.Div(ctx.cast(a, DataType.DOUBLE), ctx.cast(b, DataType.DOUBLE))
    return ctx.cast(ctx.typed(q, DataType.DOUBLE, []), DataType.FLOAT)
sym_max = conversion_rule(torch.sym_max, max)(_arith(max, "Max"))
sym_min = conversion_rule(torch.sym_min, min)(_arith(min, "Min"))


@conversion_rule(operator.floordiv)
def floordiv(ctx, a, b):
    """Python's ``//``: floor, also for negative values (``-(-n // 4)``, the ceil
    idiom, and ``(n - 10) // 4`` with ``n < 10``).  For integers, ``a - a mod b``
    (ONNX Mod with fmod=0 takes the divisor's sign, as Python's ``%``) is a
    multiple of ``b``, so Div is exact whichever way a runtime rounds."""
    if not isinstance(a, Value) and not isinstance(b, Value):
        return a // b
    dt = _dt(a, b)
    a, b = ctx.cast(a, dt), ctx.cast(b, dt)
    if dt.is_floating:
        q = ctx.o.Floor(ctx.o.Div(a, b))
    else:
        r = ctx.o.Mod(a, b, fmod=0)
        q = ctx.o.Div(ctx.o.Sub(a, r), b)
    return ctx.typed(q, dt, [])


@conversion_rule(operator.mod)
def mod(ctx, a, b):
    if not isinstance(a, Value) and not isinstance(b, Value):
        return a % b
    dt = _dt(a, b)
    return ctx.typed(ctx.o.Mod(ctx.cast(a, dt), ctx.cast(b, dt), fmod=0 if dt == DataType.INT64 else 1), dt, [])


@conversion_rule(operator.neg)
def neg(ctx, a):
    if not isinstance(a, Value):
        return -a
    return ctx.typed(ctx.o.Neg(a), ctx.dtype(a), [])


@conversion_rule(operator.pow)
def pow_(ctx, a, b):
    if not isinstance(a, Value) and not isinstance(b, Value):
        return a ** b
    p = ctx.o.Pow(ctx.cast(a, DataType.DOUBLE), ctx.cast(b, DataType.DOUBLE))
    return ctx.cast(p, _dt(a, b))


def _compare(py, onnx_op: str, negate: bool = False):
    def rule(ctx, a, b):
        if not isinstance(a, Value) and not isinstance(b, Value):
            return py(a, b)
        dt = _dt(a, b)
        out = getattr(ctx.o, onnx_op)(ctx.cast(a, dt), ctx.cast(b, dt))
        if negate:
            out = ctx.o.Not(out)
        return ctx.typed(out, DataType.BOOL, [])
    return rule


for _py, _onnx, _neg in [(operator.eq, "Equal", False), (operator.ne, "Equal", True),
                         (operator.lt, "Less", False), (operator.le, "LessOrEqual", False),
                         (operator.gt, "Greater", False), (operator.ge, "GreaterOrEqual", False)]:
    conversion_rule(_py)(_compare(_py, _onnx, _neg))


@conversion_rule(torch.sym_not, operator.not_)
def sym_not(ctx, a):
    if not isinstance(a, Value):
        return not a
    return ctx.o.Not(a)


@conversion_rule(operator.and_)
def and_(ctx, a, b):
    if not isinstance(a, Value) and not isinstance(b, Value):
        return a & b
    return ctx.o.And(ctx.cast(a, DataType.BOOL), ctx.cast(b, DataType.BOOL))


@conversion_rule(operator.or_)
def or_(ctx, a, b):
    if not isinstance(a, Value) and not isinstance(b, Value):
        return a | b
    return ctx.o.Or(ctx.cast(a, DataType.BOOL), ctx.cast(b, DataType.BOOL))


@conversion_rule(torch.sym_float)
def sym_float(ctx, a):
    return float(a) if not isinstance(a, Value) else ctx.cast(a, DataType.FLOAT)


@conversion_rule(torch.sym_int, int)
def sym_int(ctx, a):
    return int(a) if not isinstance(a, Value) else ctx.cast(a, DataType.INT64)


@conversion_rule(math.ceil, math.floor, math.trunc)
def ceil_floor(ctx, a):
    f = ctx.node.target
    if not isinstance(a, Value):
        return f(a)
    if DataType(ctx.dtype(a)) == DataType.INT64:
        return a
    op = {math.ceil: "Ceil", math.floor: "Floor"}.get(f, "Floor")
    return ctx.cast(getattr(ctx.o, op)(a), DataType.INT64)


@conversion_rule(torch.sym_sqrt if hasattr(torch, "sym_sqrt") else math.sqrt, math.sqrt)
def sym_sqrt(ctx, a):
    if not isinstance(a, Value):
        return math.sqrt(a)
    return ctx.o.Sqrt(ctx.cast(a, DataType.FLOAT))


@conversion_rule(operator.getitem)
def getitem(ctx, seq, i):
    return seq[i]


@conversion_rule(aten.sym_size.int)
def sym_size(ctx, x, dim):
    return ctx.dim(x, dim)


@conversion_rule(aten.size.default)
def size(ctx, x):
    return [ctx.dim(x, i) for i in range(ctx.rank(x))]


@conversion_rule(aten.sym_numel.default, aten.numel.default)
def sym_numel(ctx, x):
    shape = ctx.arg_meta(0).shape
    if all(isinstance(d, int) for d in shape):
        n = 1
        for d in shape:
            n *= d
        return n
    out = ctx.o.ReduceProd(ctx.shape(x), keepdims=0)
    return ctx.typed(out, DataType.INT64, [])


@conversion_rule(aten.sym_stride.int, aten.sym_storage_offset.default)
def sym_stride(ctx, *args):
    raise ctx.error("the program reads a tensor's strides or storage offset, which an exported "
                    "graph does not have; use sizes instead")


@conversion_rule(aten._local_scalar_dense.default)
def local_scalar_dense(ctx, x):
    """``t.item()``: the value read at run time, as a scalar of the graph."""
    val = ctx.meta()
    dt = DataType.BOOL if isinstance(val, torch.SymBool) else (
        DataType.FLOAT if isinstance(val, torch.SymFloat) else DataType.INT64)
    out = ctx.o.Reshape(x, ctx.const([], DataType.INT64))
    return ctx.cast(out, dt)


@conversion_rule(aten.sym_constrain_range_for_size.default, aten.sym_constrain_range.default,
                 aten._assert_scalar.default, aten._assert_async.msg, aten._assert_async.default,
                 aten._assert_tensor_metadata.default, aten._check_is_size if hasattr(aten, "_check_is_size") else aten._assert_scalar.default)
def no_effect(ctx, *args, **kwargs):
    return None
