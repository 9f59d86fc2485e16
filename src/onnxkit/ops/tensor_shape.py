"""Shape-vector ops: Shape, Size, Reshape, Flatten, Squeeze, Unsqueeze,
Expand, Transpose, Identity -- kernels (views where numpy allows) and shape
rules that carry symbolic dims through shape computations.

Also the small rule helpers the other ``tensor_*`` modules share.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..ir import DataType
from ._registry import kernel, shape
from ._shape import Dim, InferenceContext, Sym, broadcast, floordiv, norm_axes, prod

INT64 = DataType.INT64
# an int this large (or small) as a slice bound means "to the end" of any dim
HUGE = 1 << 30


# ------------------------------------------------------------------ helpers
def const_ints(ctx: InferenceContext, i: int) -> list[int] | None:
    """Input ``i``'s elements as Python ints when known at inference time."""
    if not ctx.has_input(i):
        return None
    v = ctx.input_value(i)
    if v is not None:
        a = np.asarray(v)
        if a.dtype.kind in "iub":
            return [int(x) for x in a.reshape(-1)]
        if a.dtype.kind == "f" and np.all(np.isfinite(a)):
            return [int(x) for x in a.reshape(-1)]
        return None
    d = ctx.input_dims(i)
    if d is not None and all(isinstance(x, int) for x in d):
        return list(d)
    return None


def input_dimvec(ctx: InferenceContext, i: int) -> list[Dim] | None:
    """Input ``i``'s elements as rule dims (ints, Syms, None) when known."""
    if not ctx.has_input(i):
        return None
    d = ctx.input_dims(i)
    if d is not None:
        return list(d)
    return const_ints(ctx, i)


def ints_from(ctx: InferenceContext, attr: str, i: int, input_since: int) -> list[int] | None:
    """A list that is attribute ``attr`` before opset ``input_since`` and input ``i`` after."""
    if ctx.opset < input_since:
        a = ctx.attr(attr)
        return None if a is None else [int(x) for x in a]
    return const_ints(ctx, i)


def vec_len(ctx: InferenceContext, i: int) -> int | None:
    """The length of 1-D input ``i`` when its shape says it."""
    s = ctx.input_shape(i) if ctx.has_input(i) else None
    if s is not None and len(s) == 1 and isinstance(s[0], int):
        return s[0]
    return None


def set_dims(ctx: InferenceContext, i: int, dims: Sequence[Dim] | None, scalar: bool = False) -> None:
    """Data propagation: output ``i`` holds these elements (one, if ``scalar``)."""
    if dims is not None and (not scalar or len(dims) == 1):
        ctx.set_output_dims(i, list(dims))


def input_or_unknown(ctx: InferenceContext, dtype: Any = None, *more: Any) -> tuple[Any, tuple | None]:
    """(output dtype, input 0's shape); ``dtype`` defaults to input 0's.  When
    the input's rank is unknown, outputs 0, 1, ... (dtypes ``dtype``, ``*more``)
    get an unknown shape and the shape returned is None: the rule is done."""
    dtype = ctx.input_dtype(0) if dtype is None else dtype
    s = ctx.input_shape(0)
    if s is None:
        for k, dt in enumerate((dtype,) + more):
            ctx.set_output(k, dt, None)
    return dtype, s


def stand_ins(dims: Sequence[Dim]) -> list[Dim]:
    """``dims`` with each unknown replaced by a symbol of its own, so that
    unknowns may cancel out in arithmetic (``?0*16 / ?0 == 16``); see :func:`settled`."""
    return [Sym.atom(f"?{j}") if d is None else d for j, d in enumerate(dims)]


def settled(d: Dim) -> Dim:
    """``d``, or None where it still holds a stand-in for an unknown dim."""
    if isinstance(d, Sym) and any("?" in atom for mono in d.terms for atom in mono):
        return None
    return d


def is_int(d: Any) -> bool:
    return isinstance(d, int)


# ------------------------------------------------------------------ Shape, Size
@kernel("Shape", 1)
def shape_(x, *, start=0, end=None):
    return np.array(x.shape[start:end], dtype=np.int64)


@shape("Shape", 1)
def shape_shape(ctx: InferenceContext) -> None:
    s = ctx.input_shape(0)
    start, end = ctx.attr("start", 0), ctx.attr("end")      # (from opset 15; the kernel takes them always)
    if s is None:
        ctx.set_output(0, INT64, [None])
        return
    dims = list(s)[start:end]
    ctx.set_output(0, INT64, [len(dims)])
    set_dims(ctx, 0, dims)


@kernel("Size", 1)
def size(x):
    return np.array(x.size, dtype=np.int64)


@shape("Size", 1)
def size_shape(ctx: InferenceContext) -> None:
    ctx.set_output(0, INT64, [])
    s = ctx.input_shape(0)
    if s is not None:
        n = prod(s)
        if n is not None:
            set_dims(ctx, 0, [n])


# ------------------------------------------------------------------ Reshape
def _target(shape: Sequence[int], in_shape: tuple[int, ...], allowzero: int) -> list[int]:
    out = [int(d) for d in shape]
    if not allowzero:
        for j, d in enumerate(out):
            if d == 0:
                out[j] = in_shape[j]
    return out


@kernel("Reshape", 1)
def reshape_1(x, *, shape=(), consumed_inputs=None):
    return x.reshape(_target(shape, x.shape, 0))


@kernel("Reshape", 5)
def reshape(x, shape, *, allowzero=0):
    return x.reshape(_target(shape.tolist(), x.shape, allowzero))


def reshape_dims(ctx: InferenceContext, in_shape: Sequence[Dim] | None, target: Sequence[Dim],
                 allowzero: int) -> list[Dim] | None:
    """Resolve 0 (copy) and -1 (the rest) of a Reshape target, symbolically
    (unknown input dims copied by 0 cancel out of the -1)."""
    known = stand_ins(in_shape) if in_shape is not None else None
    out: list[Dim] = []
    minus = -1
    for j, d in enumerate(target):
        if d == 0 and not allowzero:
            if known is not None and j >= len(known):
                ctx.fail(f"shape[{j}] is 0 (copy) but the input has rank {len(known)}")
                return None
            d = known[j] if known is not None else None
        elif d == -1:
            if minus >= 0:
                ctx.fail("the target shape has more than one -1")
                return None
            minus = j
        elif is_int(d) and d < -1:
            ctx.fail(f"invalid target dim {d}")
            return None
        out.append(d)
    total = prod(known) if known is not None else None
    if minus >= 0:
        rest = prod(out[:minus] + out[minus + 1:])
        out[minus] = None if total is None or rest is None or rest == 0 else floordiv(total, rest)
    elif is_int(total) and all(is_int(d) for d in out) and total != prod(out):
        ctx.fail(f"cannot reshape {total} elements into {out}")
        return None
    return [settled(d) for d in out]


@shape("Reshape", 1)
def reshape_shape(ctx: InferenceContext) -> None:
    dtype, in_shape = ctx.input_dtype(0), ctx.input_shape(0)
    if ctx.opset < 5:
        target = ctx.attr("shape")
        allowzero = 0
    else:
        target = input_dimvec(ctx, 1)
        allowzero = ctx.attr("allowzero", 0) if ctx.opset >= 14 else 0
    if target is None:
        n = vec_len(ctx, 1) if ctx.opset >= 5 else None
        ctx.set_output(0, dtype, None if n is None else [None] * n)
        return
    out = reshape_dims(ctx, in_shape, target, allowzero)
    if out is None:
        return
    ctx.set_output(0, dtype, out)
    if len(out) <= 1:
        set_dims(ctx, 0, ctx.input_dims(0))


# ------------------------------------------------------------------ Flatten
@kernel("Flatten", 1)
def flatten(x, *, axis=1):
    if axis < 0:
        axis += x.ndim
    return x.reshape(int(np.prod(x.shape[:axis])), int(np.prod(x.shape[axis:])))


@shape("Flatten", 1)
def flatten_shape(ctx: InferenceContext) -> None:
    s = ctx.input_shape(0)
    if s is None:
        ctx.set_output(0, ctx.input_dtype(0), [None, None])
        return
    axis = ctx.attr("axis", 1)
    if not -len(s) <= axis <= len(s):
        ctx.fail(f"axis {axis} is out of range for rank {len(s)}")
        return
    axis = axis + len(s) if axis < 0 else axis
    ctx.set_output(0, ctx.input_dtype(0), [prod(s[:axis]), prod(s[axis:])])


# ------------------------------------------------------------------ Squeeze, Unsqueeze
@kernel("Squeeze", 1)
def squeeze_1(x, *, axes=None):
    return np.squeeze(x, axis=None if axes is None else tuple(axes))


@kernel("Squeeze", 13)
def squeeze(x, axes=None):
    return np.squeeze(x, axis=None if axes is None else tuple(int(a) for a in axes.reshape(-1)))


def _unsqueezed(shape: tuple, axes: Sequence[int]) -> list:
    rank = len(shape) + len(axes)
    axes = sorted(a + rank if a < 0 else a for a in axes)
    out = list(shape)
    for a in axes:
        out.insert(a, 1)
    return out


@kernel("Unsqueeze", 1)
def unsqueeze_1(x, *, axes):
    return x.reshape(_unsqueezed(x.shape, axes))


@kernel("Unsqueeze", 13)
def unsqueeze(x, axes):
    return x.reshape(_unsqueezed(x.shape, [int(a) for a in axes.reshape(-1)]))


@shape("Squeeze", 1)
def squeeze_shape(ctx: InferenceContext) -> None:
    dtype, s = input_or_unknown(ctx)
    if s is None:
        return
    axes = ints_from(ctx, "axes", 1, 13)
    given = ctx.attr("axes") is not None if ctx.opset < 13 else ctx.has_input(1)
    if axes is None and given:       # axes come at run time: only the rank may be known
        n = vec_len(ctx, 1)
        ctx.set_output(0, dtype, None if n is None else [None] * (len(s) - n))
        return
    if axes is None:
        if not all(is_int(d) for d in s):
            ctx.set_output(0, dtype, None)
            return
        axes = [j for j, d in enumerate(s) if d == 1]
    axes = norm_axes(axes, len(s), ctx)
    if axes is None:
        return
    for a in axes:
        if is_int(s[a]) and s[a] != 1:
            ctx.fail(f"cannot squeeze axis {a}: its dim is {s[a]}, not 1")
            return
    out = [d for j, d in enumerate(s) if j not in axes]
    ctx.set_output(0, dtype, out)
    if len(out) <= 1:
        set_dims(ctx, 0, ctx.input_dims(0))


@shape("Unsqueeze", 1)
def unsqueeze_shape(ctx: InferenceContext) -> None:
    dtype, s = input_or_unknown(ctx)
    if s is None:
        return
    axes = ints_from(ctx, "axes", 1, 13)
    if axes is None:
        n = vec_len(ctx, 1)
        ctx.set_output(0, dtype, None if n is None else [None] * (len(s) + n))
        return
    rank = len(s) + len(axes)
    norm = norm_axes(axes, rank, ctx)
    if norm is None:
        return
    if len(set(norm)) != len(norm):
        ctx.fail(f"repeated axes {axes}")
        return
    out = _unsqueezed(tuple(s), norm)
    ctx.set_output(0, dtype, out)
    if len(out) <= 1:
        set_dims(ctx, 0, ctx.input_dims(0))


# ------------------------------------------------------------------ Expand
@kernel("Expand", 8)
def expand(x, shape):
    """A broadcast view (read-only, no copy) of ``x`` to the target shape."""
    out = np.broadcast_shapes(x.shape, tuple(int(d) for d in shape.reshape(-1)))
    return np.broadcast_to(x, out)


@shape("Expand", 8)
def expand_shape(ctx: InferenceContext) -> None:
    dtype, s = ctx.input_dtype(0), ctx.input_shape(0)
    target = input_dimvec(ctx, 1)
    if target is None:
        n = vec_len(ctx, 1)
        if n is None or s is None:
            ctx.set_output(0, dtype, None)
            return
        target = [None] * n
    try:
        out = broadcast(s, target)
    except ValueError as e:
        ctx.fail(f"cannot expand to {target}: {e}")
        return
    ctx.set_output(0, dtype, out)
    dims = ctx.input_dims(0)
    if out is not None and len(out) == 1 and dims is not None and len(dims) == 1 and is_int(out[0]):
        set_dims(ctx, 0, dims * out[0])
    elif out is not None and len(out) <= 1 and dims is not None and len(dims) == (out[0] if out else 1):
        set_dims(ctx, 0, dims)


# ------------------------------------------------------------------ Transpose
@kernel("Transpose", 1)
def transpose(x, *, perm=None):
    return np.transpose(x, perm)


@shape("Transpose", 1)
def transpose_shape(ctx: InferenceContext) -> None:
    dtype, s = ctx.input_dtype(0), ctx.input_shape(0)
    perm = ctx.attr("perm")
    if s is None:
        ctx.set_output(0, dtype, None if perm is None else [None] * len(perm))
        return
    if perm is None:
        perm = list(range(len(s)))[::-1]
    if sorted(perm) != list(range(len(s))):
        ctx.fail(f"perm {list(perm)} is not a permutation of the {len(s)} axes")
        return
    ctx.set_output(0, dtype, [s[p] for p in perm])
    if len(s) == 1:
        set_dims(ctx, 0, ctx.input_dims(0))


# ------------------------------------------------------------------ Identity
@kernel("Identity", 1)
def identity(x):
    """Tensors, sequences (lists) and optionals (None) pass through."""
    return x


@shape("Identity", 1)
def identity_shape(ctx: InferenceContext) -> None:
    t = ctx.input_type(0)
    if t is not None:
        ctx.set_output_type(0, t)
    set_dims(ctx, 0, ctx.input_dims(0))

