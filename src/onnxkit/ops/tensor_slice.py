"""Cutting and joining: Concat, Split, Slice, Tile, Compress -- kernels (views
where numpy allows) and shape rules (symbolic lengths, data propagation of
shape vectors)."""

from __future__ import annotations

import numpy as np

from ._registry import kernel, shape
from ._shape import Dim, InferenceContext, add, ceildiv, floordiv, mul, norm_axes, norm_axis, sub
from .tensor_shape import (HUGE, const_ints, input_dimvec, input_or_unknown, is_int, set_dims, settled, stand_ins,
                           vec_len)


# ------------------------------------------------------------------ Concat
@kernel("Concat", 1)
def concat_1(*inputs, axis=1):
    return np.concatenate(inputs, axis=axis)


@kernel("Concat", 4)
def concat(*inputs, axis):
    return np.concatenate(inputs, axis=axis)


def merge_dim(a: Dim, b: Dim) -> Dim:
    """The more specific of two dims that must be equal (ValueError on two different ints)."""
    if a is None:
        return b
    if b is None:
        return a
    if is_int(a) and is_int(b) and a != b:
        raise ValueError(f"{a} != {b}")
    return b if is_int(b) else a


@shape("Concat", 1)
def concat_shape(ctx: InferenceContext) -> None:
    present = [i for i in range(ctx.n_inputs) if ctx.has_input(i)]
    dtype = next((ctx.input_dtype(i) for i in present if ctx.input_dtype(i) is not None), None)
    shapes = [ctx.input_shape(i) for i in present]
    known = [s for s in shapes if s is not None]
    if not known:
        ctx.set_output(0, dtype, None)
        return
    rank = len(known[0])
    if any(len(s) != rank for s in known):
        ctx.fail(f"inputs have different ranks {[len(s) for s in known]}")
        return
    axis = norm_axis(ctx.attr("axis", 1 if ctx.opset < 4 else 0), rank, ctx)
    if axis is None:
        return
    out: list[Dim] = [None] * rank
    for j in range(rank):
        if j == axis:
            total: Dim = 0
            for s in shapes:
                total = add(total, s[j] if s is not None else None)
            out[j] = total
            continue
        try:
            for s in known:
                out[j] = merge_dim(out[j], s[j])
        except ValueError as e:
            ctx.fail(f"inputs disagree on dim {j}: {e}")
            return
    ctx.set_output(0, dtype, out)
    if rank == 1:
        vecs = [ctx.input_dims(i) for i in present]
        if all(v is not None for v in vecs):
            set_dims(ctx, 0, [d for v in vecs for d in v])


# ------------------------------------------------------------------ Split
def _split_sizes(dim: int, n: int, uneven: bool) -> list[int]:
    chunk = -(-dim // n) if uneven else dim // n
    return [max(min(chunk, dim - k * chunk), 0) for k in range(n)]


def _split(ctx, x, sizes, axis: int, num_outputs=None) -> tuple:
    dim = x.shape[axis]
    if sizes is None:
        n = num_outputs if num_outputs is not None else ctx.n_outputs
        sizes = _split_sizes(dim, n, num_outputs is not None)
    sizes = [int(s) for s in np.asarray(sizes).reshape(-1)]
    if sum(sizes) != dim:
        raise ValueError(f"split sizes {sizes} do not add up to the dim {dim} of axis {axis}")
    return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=axis))


@kernel("Split", 1, context=True)
def split_1(ctx, x, split_in=None, *, axis=0, split=None):
    return _split(ctx, x, split if split is not None else split_in, axis)


@kernel("Split", 2, context=True)
def split_2(ctx, x, *, axis=0, split=None):
    return _split(ctx, x, split, axis)


@kernel("Split", 13, context=True)
def split_13(ctx, x, split=None, *, axis=0):
    return _split(ctx, x, split, axis)


@kernel("Split", 18, context=True)
def split_18(ctx, x, split=None, *, axis=0, num_outputs=None):
    return _split(ctx, x, split, axis, num_outputs if split is None else None)


@shape("Split", 1)
def split_shape(ctx: InferenceContext) -> None:
    dtype, s = ctx.input_dtype(0), ctx.input_shape(0)
    n = ctx.n_outputs
    if s is None:
        for k in range(n):
            ctx.set_output(k, dtype, None)
        return
    axis = norm_axis(ctx.attr("axis", 0), len(s), ctx)
    if axis is None:
        return
    if ctx.opset >= 13:
        sizes = input_dimvec(ctx, 1)
    else:
        sizes = ctx.attr("split")
        sizes = input_dimvec(ctx, 1) if sizes is None and ctx.opset < 2 else sizes
    dim = s[axis]
    given = ctx.has_input(1) if ctx.opset >= 13 else sizes is not None
    if sizes is None and not given:
        uneven = ctx.opset >= 18 and ctx.attr("num_outputs") is not None
        if uneven and ctx.attr("num_outputs") != n:
            ctx.fail(f"num_outputs is {ctx.attr('num_outputs')} but the node has {n} outputs")
            return
        if is_int(dim):
            if not uneven and dim % n:
                ctx.fail(f"dim {dim} of axis {axis} does not split into {n} equal parts")
                return
            sizes = _split_sizes(dim, n, uneven)
        elif dim is not None:
            chunk = ceildiv(dim, n) if uneven else floordiv(dim, n)
            sizes = [chunk] * (n - 1) + [sub(dim, mul(chunk, n - 1))]
    if sizes is not None and len(sizes) != n:
        ctx.fail(f"{len(sizes)} split sizes for {n} outputs")
        return
    if sizes is not None and all(is_int(x) for x in sizes) and is_int(dim) and sum(sizes) != dim:
        ctx.fail(f"split sizes {list(sizes)} do not add up to dim {dim}")
        return
    vec = ctx.input_dims(0) if len(s) == 1 else None
    start: Dim = 0
    for k in range(n):
        out = list(s)
        out[axis] = sizes[k] if sizes is not None else None
        ctx.set_output(k, dtype, out)
        if vec is not None and is_int(start) and is_int(out[axis]):
            set_dims(ctx, k, vec[start:start + out[axis]])
        start = add(start, out[axis])


# ------------------------------------------------------------------ Slice
def _start(s: int, step: int, d: int) -> int:
    """Python's slice start for ONNX's: going backwards from before the front,
    ONNX clamps to the first element where Python would take nothing."""
    return 0 if step < 0 and s < -d else s


def _slice(x, starts, ends, axes=None, steps=None):
    index = [slice(None)] * x.ndim
    starts = [int(v) for v in np.asarray(starts).reshape(-1)]
    ends = [int(v) for v in np.asarray(ends).reshape(-1)]
    axes = range(len(starts)) if axes is None else [int(v) for v in np.asarray(axes).reshape(-1)]
    steps = [1] * len(starts) if steps is None else [int(v) for v in np.asarray(steps).reshape(-1)]
    for s, e, a, st in zip(starts, ends, axes, steps):
        if st == 0:
            raise ValueError("Slice step 0")
        index[a] = slice(_start(s, st, x.shape[a]), e, st)
    return x[tuple(index)]


@kernel("Slice", 1)
def slice_1(x, *, starts, ends, axes=None):
    return _slice(x, starts, ends, axes)


@kernel("Slice", 10)
def slice_(x, starts, ends, axes=None, steps=None):
    return _slice(x, starts, ends, axes, steps)


def _side(b: Dim, step: int, start: bool) -> tuple[bool, Dim]:
    """(counted from the back, offset) of a slice bound: ``-2`` is the back's
    -2, a huge bound the end itself, a symbolic one (``past``) is from the front."""
    if not is_int(b):
        return False, b
    if b >= HUGE:
        return True, -1 if step < 0 else 0
    if b <= -HUGE:
        return False, 0 if step > 0 or start else -1
    return b < 0, b


def slice_len(d: Dim, s: Dim, e: Dim, step: int) -> Dim:
    """Elements Slice keeps of a dim ``d`` (None = unknown) from start ``s`` to
    end ``e``.  A dim that is not a number is taken to be larger than the constant
    bounds (``x[:, 1:]`` keeps ``seq - 1``, ``x[:, -3:]`` 3), except where that is
    what clamping is for (``x[:512]`` keeps min(dim, 512); going backwards, any
    positive constant): those lengths stay unknown."""
    if is_int(d) and is_int(s) and is_int(e):
        return len(range(*slice(_start(s, step, d), e, step).indices(d)))
    if s is None or e is None:
        return None
    (s_back, s_off), (e_back, e_off) = _side(s, step, True), _side(e, step, False)
    if step < 0:      # walk the other way: the same count as a forward walk from e to s
        (s_back, s_off), (e_back, e_off), step = (e_back, e_off), (s_back, s_off), -step
        may_clamp = any(not back and is_int(off) and off > 0 for back, off in ((s_back, s_off), (e_back, e_off)))
    else:
        may_clamp = not e_back and is_int(e_off) and e_off > 1
    if may_clamp and not is_int(d):
        return None
    if s_back == e_back:
        n = ceildiv(sub(e_off, s_off), step)
    elif e_back:                              # from the front to the back: the dim is in it
        n = settled(ceildiv(sub(add(stand_ins([d])[0], e_off), s_off), step))
    else:                                     # from the back to the front: empty unless the dim is small
        return None
    return max(n, 0) if is_int(n) else n


@shape("Slice", 1)
def slice_shape(ctx: InferenceContext) -> None:
    dtype, s = input_or_unknown(ctx)
    if s is None:
        return
    if ctx.opset < 10:
        starts, ends = ctx.attr("starts"), ctx.attr("ends")
        axes, steps = ctx.attr("axes"), None
        axes_given = axes is not None
    else:
        starts, ends = input_dimvec(ctx, 1), input_dimvec(ctx, 2)
        axes, steps = const_ints(ctx, 3), const_ints(ctx, 4)
        axes_given = ctx.has_input(3)
        if steps is None and ctx.has_input(4):
            ctx.set_output(0, dtype, [None] * len(s) if axes is None else
                           [None if j in (norm_axes(axes, len(s), ctx) or ()) else d for j, d in enumerate(s)])
            return
    if axes is None and axes_given:
        ctx.set_output(0, dtype, [None] * len(s))
        return
    n = len(starts) if starts is not None else len(ends) if ends is not None else vec_len(ctx, 1)
    if axes is None:
        axes = list(range(n)) if n is not None else None
    if axes is None:
        ctx.set_output(0, dtype, [None] * len(s))
        return
    axes = norm_axes(axes, len(s), ctx)
    if axes is None:
        return
    steps = [1] * len(axes) if steps is None else steps
    if (starts is not None and len(starts) != len(axes)) or (ends is not None and len(ends) != len(axes)) \
            or len(steps) != len(axes):
        ctx.fail("starts, ends, axes and steps have different lengths")
        return
    if any(st == 0 for st in steps):
        ctx.fail("a step is 0")
        return
    out = list(s)
    for k, a in enumerate(axes):
        out[a] = None if starts is None or ends is None else slice_len(s[a], starts[k], ends[k], steps[k])
    ctx.set_output(0, dtype, out)
    vec = ctx.input_dims(0)
    if vec is not None and len(s) == 1 and starts is not None and ends is not None \
            and is_int(starts[0]) and is_int(ends[0]):
        set_dims(ctx, 0, vec[_start(starts[0], steps[0], len(vec)):ends[0]:steps[0]])


# ------------------------------------------------------------------ Tile
@kernel("Tile", 1)
def tile_1(x, tiles, axis):
    reps = [1] * x.ndim
    reps[int(np.asarray(axis).reshape(-1)[0])] = int(np.asarray(tiles).reshape(-1)[0])
    return np.tile(x, reps)


@kernel("Tile", 6)
def tile(x, repeats):
    return np.tile(x, [int(r) for r in repeats.reshape(-1)])


@shape("Tile", 1)
def tile_shape(ctx: InferenceContext) -> None:
    dtype, s = input_or_unknown(ctx)
    if s is None:
        return
    if ctx.opset < 6:
        tiles, axis = const_ints(ctx, 1), const_ints(ctx, 2)
        if tiles is None or axis is None:
            ctx.set_output(0, dtype, [None] * len(s) if axis is None else
                           [None if j == axis[0] % max(len(s), 1) else d for j, d in enumerate(s)])
            return
        reps: list[Dim] = [1] * len(s)
        reps[axis[0] % len(s)] = tiles[0]
    else:
        reps = input_dimvec(ctx, 1)
        if reps is None:
            ctx.set_output(0, dtype, [None] * len(s))
            return
    if len(reps) != len(s):
        ctx.fail(f"{len(reps)} repeats for an input of rank {len(s)}")
        return
    ctx.set_output(0, dtype, [mul(d, r) for d, r in zip(s, reps)])


# ------------------------------------------------------------------ Compress
@kernel("Compress", 9)
def compress(x, condition, *, axis=None):
    return np.compress(np.asarray(condition).reshape(-1).astype(bool), x, axis=axis)


@shape("Compress", 9)
def compress_shape(ctx: InferenceContext) -> None:
    dtype, s = ctx.input_dtype(0), ctx.input_shape(0)
    cond = ctx.input_value(1)
    count = int(np.count_nonzero(cond)) if cond is not None else None
    axis = ctx.attr("axis")
    if axis is None:
        ctx.set_output(0, dtype, [count])
        return
    if s is None:
        ctx.set_output(0, dtype, None)
        return
    axis = norm_axis(axis, len(s), ctx)
    if axis is None:
        return
    out = list(s)
    out[axis] = count
    ctx.set_output(0, dtype, out)
