"""Tensors made from sizes and values: full, zeros, arange, scalar_tensor, *_like."""

from __future__ import annotations

import numpy as np

from ...ir import DataType, Tensor, Value
from .._registry import conversion_rule
from ._util import aten


def _fill(ctx, shape_value, value, dt: DataType):
    if isinstance(value, Value):
        return ctx.o.Expand(ctx.cast(value, dt), shape_value)
    arr = np.array([value], dtype=dt.numpy_dtype)
    return ctx.o.ConstantOfShape(shape_value, value=Tensor(arr))


@conversion_rule(aten.full.default, aten.full.names if hasattr(aten.full, "names") else aten.full.default)
def full(ctx, size, fill_value, **kwargs):
    dt = ctx.out_dtype()
    if all(isinstance(s, int) for s in size) and not isinstance(fill_value, Value):
        return ctx.const(np.full([int(s) for s in size], fill_value, dtype=dt.numpy_dtype)) \
            if int(np.prod(size, dtype=np.int64)) <= 1024 else _fill(ctx, ctx.ints(size), fill_value, dt)
    return _fill(ctx, ctx.ints(size), fill_value, dt)


@conversion_rule(aten.zeros.default, aten.empty.memory_format, aten.empty.default,
                 aten.new_zeros.default, aten.new_empty.default, aten.empty_strided.default,
                 aten.new_empty_strided.default)
def zeros(ctx, *args, **kwargs):
    size = args[1] if ctx.node.target in (aten.new_zeros.default, aten.new_empty.default,
                                           aten.new_empty_strided.default) else args[0]
    return full(ctx, size, 0)


@conversion_rule(aten.ones.default, aten.new_ones.default)
def ones(ctx, *args, **kwargs):
    size = args[1] if ctx.node.target is aten.new_ones.default else args[0]
    return full(ctx, size, 1)


@conversion_rule(aten.new_full.default)
def new_full(ctx, x, size, fill_value, **kwargs):
    return full(ctx, size, fill_value)


@conversion_rule(aten.full_like.default)
def full_like(ctx, x, fill_value, **kwargs):
    return _fill(ctx, ctx.shape(x), fill_value, ctx.out_dtype())


@conversion_rule(aten.zeros_like.default, aten.empty_like.default)
def zeros_like(ctx, x, **kwargs):
    return _fill(ctx, ctx.shape(x), 0, ctx.out_dtype())


@conversion_rule(aten.ones_like.default)
def ones_like(ctx, x, **kwargs):
    return _fill(ctx, ctx.shape(x), 1, ctx.out_dtype())


@conversion_rule(aten.fill.Scalar, aten.fill.Tensor, aten.fill_.Scalar)
def fill(ctx, x, value):
    return _fill(ctx, ctx.shape(x), value, ctx.out_dtype())


@conversion_rule(aten.scalar_tensor.default)
def scalar_tensor(ctx, value, **kwargs):
    dt = ctx.out_dtype()
    if isinstance(value, Value):
        return ctx.cast(ctx.o.Reshape(value, ctx.const([], DataType.INT64)), dt)
    return ctx.const(np.array(value, dtype=dt.numpy_dtype))


@conversion_rule(aten.arange.start_step, aten.arange.default, aten.arange.start)
def arange(ctx, *args, **kwargs):
    target = ctx.node.target
    if target is aten.arange.default:
        start, end, step = 0, args[0], 1
    elif target is aten.arange.start:
        start, end, step = args[0], args[1], 1
    else:
        start, end = args[0], args[1]
        step = args[2] if len(args) > 2 else 1
    dt = ctx.out_dtype()
    if not any(isinstance(v, Value) for v in (start, end, step)):
        return ctx.const(np.arange(start, end, step, dtype=dt.numpy_dtype))
    compute = dt if dt in (DataType.INT64, DataType.INT32, DataType.FLOAT, DataType.DOUBLE) else DataType.INT64
    out = ctx.o.Range(ctx.cast(start, compute), ctx.cast(end, compute), ctx.cast(step, compute))
    return ctx.cast(ctx.typed(out, compute, [None]), dt)


@conversion_rule(aten.linspace.default)
def linspace(ctx, start, end, steps, **kwargs):
    dt = ctx.out_dtype()
    if isinstance(steps, Value) or isinstance(start, Value) or isinstance(end, Value):
        raise ctx.error("linspace with symbolic arguments is not supported yet")
    return ctx.const(np.linspace(start, end, steps).astype(dt.numpy_dtype))
