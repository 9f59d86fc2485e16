"""Ops that make tensors: Constant, ConstantOfShape, Range, EyeLike, OneHot,
Trilu -- kernels and shape rules (with data propagation of shape vectors)."""

from __future__ import annotations

import math

import numpy as np

from ..ir import DataType, SparseTensor, TensorBase
from ._registry import kernel, shape
from ._shape import InferenceContext, ceildiv, is_known, norm_axis, same_as_input, sub
from .tensor_shape import input_dimvec, input_or_unknown, is_int, set_dims, vec_len

_FLOAT = np.dtype(np.float32)


# ------------------------------------------------------------------ Constant
def _constant_value(value=None, value_float=None, value_floats=None, value_int=None, value_ints=None,
                    value_string=None, value_strings=None, sparse_value=None) -> np.ndarray | None:
    if value is not None:
        return np.asarray(value)
    if sparse_value is not None:
        return sparse_value.to_dense() if isinstance(sparse_value, SparseTensor) else np.asarray(sparse_value)
    if value_float is not None:
        return np.array(value_float, dtype=np.float32)
    if value_floats is not None:
        return np.array(value_floats, dtype=np.float32)
    if value_int is not None:
        return np.array(value_int, dtype=np.int64)
    if value_ints is not None:
        return np.array(value_ints, dtype=np.int64)
    if value_string is not None:
        out = np.empty((), dtype=object)
        out[()] = value_string
        return out
    if value_strings is not None:
        out = np.empty(len(value_strings), dtype=object)
        out[:] = list(value_strings)
        return out
    return None


@kernel("Constant", 1)
def constant(**attrs):
    """Exactly one of value, value_float(s), value_int(s), value_string(s), sparse_value."""
    v = _constant_value(**attrs)
    if v is None:
        raise ValueError("Constant has none of its value attributes")
    return v


_READ_LIMIT = 4096     # elements of a Constant's tensor worth reading at inference time
_VALUE_ATTRS = ("value", "value_float", "value_floats", "value_int", "value_ints", "value_string",
                "value_strings", "sparse_value")


@shape("Constant", 1)
def constant_shape(ctx: InferenceContext) -> None:
    given = [n for n in _VALUE_ATTRS if n in ctx.node.attributes]
    if len(given) != 1:
        ctx.fail(f"Constant needs exactly one value attribute, it has {given or 'none'}")
        return
    name = given[0]
    a = ctx.node.attributes[name]
    if name == "value" and a.ref_attr_name is None and isinstance(a.value, TensorBase):
        t = a.value
        ctx.set_output(0, t.dtype, t.shape)
        if t.size <= _READ_LIMIT:           # a large tensor stays unread
            ctx.set_output_value(0, t.numpy())
        return
    v = ctx.attr(name)
    if isinstance(v, SparseTensor):
        ctx.set_output(0, v.values.dtype if v.values is not None else None, v.dims)
        return
    if v is None:
        ctx.set_output(0, None, None)
        return
    v = _constant_value(**{name: v})
    ctx.set_output(0, DataType.from_numpy(v.dtype), v.shape)
    ctx.set_output_value(0, v)


# ------------------------------------------------------------------ ConstantOfShape
@kernel("ConstantOfShape", 9)
def constant_of_shape(shape, *, value=None):
    v = np.zeros(1, dtype=_FLOAT) if value is None else np.asarray(value).reshape(-1)
    return np.full(tuple(int(d) for d in shape.reshape(-1)), v[0], dtype=v.dtype)


@shape("ConstantOfShape", 9)
def constant_of_shape_shape(ctx: InferenceContext) -> None:
    value = ctx.attr("value")
    dtype = DataType.FLOAT if value is None else DataType.from_numpy(np.asarray(value).dtype)
    dims = input_dimvec(ctx, 0)
    if dims is None:
        n = vec_len(ctx, 0)
        ctx.set_output(0, dtype, None if n is None else [None] * n)
        return
    if any(is_int(d) and d < 0 for d in dims):
        ctx.fail(f"negative dim in shape {dims}")
        return
    ctx.set_output(0, dtype, dims)
    if len(dims) == 1 and is_int(dims[0]) and dims[0] <= 64 and dtype.is_integer:
        v = 0 if value is None else int(np.asarray(value).reshape(-1)[0])
        set_dims(ctx, 0, [v] * dims[0])


# ------------------------------------------------------------------ Range
_STASH = {int(DataType.FLOAT): np.float32, int(DataType.DOUBLE): np.float64}


@kernel("Range", 11)
def range_(start, limit, delta, *, stash_type=1):
    dtype = start.dtype
    s, l_, d = (np.asarray(v).reshape(-1)[0] for v in (start, limit, delta))   # scalars (or 1-element)
    if dtype.kind in "iu":
        s, l_, d = int(s), int(l_), int(d)
        n = max(-((s - l_) // d), 0) if d else 0
        return (s + np.arange(n, dtype=np.int64) * d).astype(dtype)
    work = np.float64
    if dtype.itemsize <= 2:      # float16 / bfloat16: stash_type (default float32) does the arithmetic
        work = _STASH.get(int(stash_type), np.float32)
    s, l_, d = (work(v) for v in (s, l_, d))
    n = max(math.ceil((float(l_) - float(s)) / float(d)), 0)
    return (s + np.arange(n, dtype=work) * d).astype(dtype)


@shape("Range", 11)
def range_shape(ctx: InferenceContext) -> None:
    dtype = ctx.input_dtype(0)
    vals = [ctx.input_value(i) for i in range(3)]
    if any(v is not None and np.size(v) != 1 for v in vals):
        ctx.fail("start, limit and delta must be scalars")
        return
    if all(v is not None for v in vals):
        s, l_, d = (np.asarray(v).reshape(-1)[0].item() for v in vals)
        if d == 0:
            ctx.fail("delta is 0")
            return
        n = max(math.ceil((l_ - s) / d), 0)
        ctx.set_output(0, dtype, [n])
        if all(isinstance(x, int) for x in (s, l_, d)) and n <= 64:
            set_dims(ctx, 0, [s + k * d for k in range(n)])
        return
    dims = [input_dimvec(ctx, i) for i in range(3)]
    if all(x is not None and len(x) == 1 for x in dims):
        s, l_, d = (x[0] for x in dims)
        n = None
        if is_int(d) and d > 0:
            n = ceildiv(sub(l_, s), d)
        elif is_int(d) and d < 0:
            n = ceildiv(sub(s, l_), -d)
        if is_int(n) and n < 0:
            n = 0
        ctx.set_output(0, dtype, [n])
        if is_int(n) and n <= 64 and is_known(s) and is_int(d):
            set_dims(ctx, 0, [s + k * d for k in range(n)])
        return
    ctx.set_output(0, dtype, [None])


# ------------------------------------------------------------------ EyeLike
@kernel("EyeLike", 9)
def eye_like(x, *, dtype=None, k=0):
    out = DataType(dtype).numpy_dtype if dtype is not None else x.dtype
    rows, cols = x.shape
    return np.eye(rows, cols, k, dtype=np.bool_ if out == np.bool_ else np.float32).astype(out)


@shape("EyeLike", 9)
def eye_like_shape(ctx: InferenceContext) -> None:
    s = ctx.input_shape(0)
    if s is not None and len(s) != 2:
        ctx.fail(f"the input must be 2-D, it has rank {len(s)}")
        return
    dtype = ctx.attr("dtype")
    ctx.set_output(0, DataType(dtype) if dtype is not None else ctx.input_dtype(0), s)


# ------------------------------------------------------------------ OneHot
@kernel("OneHot", 9)
def one_hot(indices, depth, values, *, axis=-1):
    depth = int(np.asarray(depth).reshape(-1)[0])
    idx = np.asarray(indices).astype(np.int64, copy=False)      # float indices truncate
    idx = np.where(idx < 0, idx + depth, idx)
    values = np.asarray(values).reshape(-1)
    out = np.full(idx.shape + (depth,), values[0], dtype=values.dtype)
    hit = (idx >= 0) & (idx < depth)                       # out of range: all off
    out[hit, idx[hit]] = values[1]
    rank = idx.ndim + 1
    return np.moveaxis(out, -1, axis + rank if axis < 0 else axis)


@shape("OneHot", 9)
def one_hot_shape(ctx: InferenceContext) -> None:
    dtype, s = input_or_unknown(ctx, ctx.input_dtype(2))
    if s is None:
        return
    depth = input_dimvec(ctx, 1)
    d = depth[0] if depth is not None and len(depth) == 1 else None
    value = ctx.input_value(1)
    if value is not None and np.size(value) != 1:
        ctx.fail(f"depth must have one element, it has {np.size(value)}")
        return
    if d is None and value is not None:
        d = int(np.asarray(value).reshape(-1)[0])
    axis = norm_axis(ctx.attr("axis", -1), len(s) + 1, ctx)
    if axis is None:
        return
    out = list(s)
    out.insert(axis, d)
    ctx.set_output(0, dtype, out)


# ------------------------------------------------------------------ Trilu
@kernel("Trilu", 14)
def trilu(x, k=None, *, upper=1):
    k = 0 if k is None else int(np.asarray(k).reshape(-1)[0])
    return np.triu(x, k) if upper else np.tril(x, k)


shape("Trilu", 14)(same_as_input)
