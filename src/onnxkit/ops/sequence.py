"""Sequences: a sequence value is a Python ``list`` of tensors (never mutated
in place: every op returns a new list)."""

from __future__ import annotations

import numpy as np

from ..errors import RunError
from ..ir import DataType, SequenceType, TensorType
from ._registry import kernel, shape
from ._shape import dim_text, normalize_axis
from .control import union_type

__all__: list[str] = []


def _position(seq: list, pos, *, insert: bool = False) -> int:
    """A non-negative index into ``seq`` (``insert``: len(seq) is allowed too)."""
    p = int(np.asarray(pos).reshape(-1)[0])
    n = len(seq)
    hi = n if insert else n - 1
    if not -n <= p <= hi:
        raise RunError(f"sequence position {p} out of range for a sequence of length {n}")
    return p + n if p < 0 else p


@kernel("SequenceEmpty", 11)
def sequence_empty(*, dtype=1):
    return []


@kernel("SequenceConstruct", 11)
def sequence_construct(*inputs):
    return list(inputs)


@kernel("SequenceAt", 11)
def sequence_at(seq, pos):
    return seq[_position(seq, pos)]


@kernel("SequenceErase", 11)
def sequence_erase(seq, pos=None):
    if not seq:
        raise RunError("SequenceErase on an empty sequence")
    p = len(seq) - 1 if pos is None else _position(seq, pos)
    return seq[:p] + seq[p + 1:]


@kernel("SequenceInsert", 11)
def sequence_insert(seq, tensor, pos=None):
    p = len(seq) if pos is None else _position(seq, pos, insert=True)
    return seq[:p] + [tensor] + seq[p:]


@kernel("SequenceLength", 11)
def sequence_length(seq):
    return np.array(len(seq), dtype=np.int64)


@kernel("SplitToSequence", 11)
def split_to_sequence(x, split=None, *, axis=0, keepdims=1):
    axis = normalize_axis(axis, x.ndim)
    n = x.shape[axis]
    if split is None:
        parts = np.split(x, n, axis=axis) if n else []
        return [np.squeeze(p, axis) for p in parts] if not keepdims else parts
    split = np.asarray(split)
    if split.ndim == 0:
        step = int(split)
        if step <= 0:
            raise RunError(f"SplitToSequence: split must be positive, got {step}")
        bounds = list(range(step, n, step))
    else:
        sizes = [int(s) for s in split]
        if sum(sizes) != n or any(s < 0 for s in sizes):
            raise RunError(f"SplitToSequence: split sizes {sizes} do not add up to dim {n}")
        bounds = list(np.cumsum(sizes)[:-1])
    return np.split(x, bounds, axis=axis)


@kernel("ConcatFromSequence", 11)
def concat_from_sequence(seq, *, axis, new_axis=0):
    if not seq:
        raise RunError("ConcatFromSequence of an empty sequence")
    if new_axis:
        return np.stack(seq, axis=normalize_axis(axis, seq[0].ndim + 1))
    return np.concatenate(seq, axis=normalize_axis(axis, seq[0].ndim))


@kernel("SequenceMap", 17)
def sequence_map(input_sequence, *additional, body):
    n_out = len(body.graph.outputs)
    outs: list[list] = [[] for _ in range(n_out)]
    for i, x in enumerate(input_sequence):
        extra = []
        for a in additional:
            if isinstance(a, list):
                if len(a) != len(input_sequence):
                    raise RunError(f"SequenceMap: sequences of lengths {len(input_sequence)} and "
                                   f"{len(a)} differ")
                extra.append(a[i])
            else:
                extra.append(a)
        for o, r in zip(outs, body(x, *extra)):
            o.append(r)
    return tuple(outs)


# ------------------------------------------------------------------- shape rules
def _elem(ctx, i: int = 0):
    t = ctx.input_type(i)
    return t.elem_type if isinstance(t, SequenceType) else None


def _seq(ctx, i: int, elem) -> None:
    ctx.set_output_type(i, SequenceType(elem))


@shape("SequenceEmpty", 11)
def sequence_empty_shape(ctx) -> None:
    _seq(ctx, 0, TensorType(DataType(ctx.attr("dtype", 1))))


@shape("SequenceConstruct", 11)
def sequence_construct_shape(ctx) -> None:
    types = [ctx.input_type(i) for i in range(ctx.n_inputs)]
    dtypes = {t.elem_type for t in types if isinstance(t, TensorType) and t.elem_type is not None}
    if len(dtypes) > 1:
        ctx.fail(f"SequenceConstruct of tensors of different element types {sorted(d.short_name for d in dtypes)}")
    elem = types[0] if types else None
    for t in types[1:]:
        elem = union_type(elem, t)
    _seq(ctx, 0, elem if elem is not None else (TensorType(dtypes.pop()) if dtypes else None))


@shape("SequenceAt", 11)
def sequence_at_shape(ctx) -> None:
    ctx.set_output_type(0, _elem(ctx))


@shape("SequenceErase", 11)
def sequence_erase_shape(ctx) -> None:
    ctx.set_output_type(0, ctx.input_type(0))


@shape("SequenceInsert", 11)
def sequence_insert_shape(ctx) -> None:
    elem, t = _elem(ctx), ctx.input_type(1)
    if isinstance(elem, TensorType) and isinstance(t, TensorType) and elem.elem_type and t.elem_type \
            and elem.elem_type != t.elem_type:
        ctx.fail(f"inserting a {t.elem_type.short_name} tensor into a sequence of {elem.elem_type.short_name}")
    u = union_type(elem, t)
    _seq(ctx, 0, u if u is not None else (TensorType(t.elem_type) if isinstance(t, TensorType) else elem))


@shape("SequenceLength", 11)
def sequence_length_shape(ctx) -> None:
    ctx.set_output(0, DataType.INT64, ())


@shape("SplitToSequence", 11)
def split_to_sequence_shape(ctx) -> None:
    dtype, shp = ctx.input_dtype(0), ctx.input_shape(0)
    if shp is None:
        _seq(ctx, 0, TensorType(dtype))
        return
    try:
        axis = normalize_axis(ctx.attr("axis", 0), len(shp))
    except ValueError as e:
        ctx.fail(str(e))
        return
    dims = list(shp)
    if not ctx.has_input(1):
        if ctx.attr("keepdims", 1):
            dims[axis] = 1
        else:
            del dims[axis]
    else:
        split = ctx.input_value(1)
        n = dims[axis]
        if split is None:
            dims[axis] = None
        elif np.ndim(split) == 0:
            s = int(split)
            dims[axis] = s if isinstance(n, int) and n % s == 0 else None
        else:
            sizes = {int(v) for v in np.asarray(split).reshape(-1)}
            dims[axis] = sizes.pop() if len(sizes) == 1 else None
    ctx.set_output_type(0, SequenceType(TensorType(dtype, [dim_text(d) for d in dims])))


@shape("ConcatFromSequence", 11)
def concat_from_sequence_shape(ctx) -> None:
    elem = _elem(ctx)
    if not isinstance(elem, TensorType):
        return
    if elem.shape is None:
        ctx.set_output(0, elem.elem_type, None)
        return
    dims = list(elem.shape.dims)
    new_axis = ctx.attr("new_axis", 0)
    try:
        axis = normalize_axis(ctx.attr("axis"), len(dims) + (1 if new_axis else 0))
    except (ValueError, TypeError) as e:
        ctx.fail(f"axis: {e}")
        return
    if new_axis:
        dims.insert(axis, None)
    else:
        dims[axis] = None
    ctx.set_output_type(0, TensorType(elem.elem_type, dims))


@shape("SequenceMap", 17)
def sequence_map_shape(ctx) -> None:
    ins = [_elem(ctx, 0)]
    for i in range(1, ctx.n_inputs):
        t = ctx.input_type(i)
        ins.append(t.elem_type if isinstance(t, SequenceType) else t)
    out = ctx.infer_subgraph(ctx.attr("body"), ins)
    for i, t in enumerate(out):
        ctx.set_output_type(i, SequenceType(t))
