"""Indexing: Gather, GatherElements, GatherND, Scatter, ScatterElements,
ScatterND, TensorScatter, NonZero -- vectorized kernels (reductions through
``ufunc.at``) and shape rules (Gather of a shape vector propagates its dims)."""

from __future__ import annotations

import numpy as np

from ..ir import DataType
from ._registry import kernel, shape
from ._shape import InferenceContext, norm_axis, same_as_input
from .tensor_shape import const_ints, is_int, set_dims

_REDUCE = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}


def _scatter_into(data: np.ndarray, index: tuple, updates: np.ndarray, reduction: str) -> np.ndarray:
    out = np.array(data, copy=True)
    if reduction == "none":
        out[index] = updates
    elif reduction in _REDUCE:
        _REDUCE[reduction].at(out, index, updates)
    else:
        raise ValueError(f"unknown reduction {reduction!r}")
    return out


# ------------------------------------------------------------------ Gather
@kernel("Gather", 1)
def gather(data, indices, *, axis=0):
    return np.take(data, indices, axis=axis)      # numpy takes negative indices as the spec does


@shape("Gather", 1)
def gather_shape(ctx: InferenceContext) -> None:
    dtype, s, ind = ctx.input_dtype(0), ctx.input_shape(0), ctx.input_shape(1)
    if s is None or ind is None:
        ctx.set_output(0, dtype, None)
        return
    axis = norm_axis(ctx.attr("axis", 0), len(s), ctx)
    if axis is None:
        return
    ctx.set_output(0, dtype, list(s[:axis]) + list(ind) + list(s[axis + 1:]))
    vec, idx = ctx.input_dims(0), const_ints(ctx, 1)
    if vec is not None and idx is not None and len(s) == 1 and len(ind) <= 1:
        n = len(vec)
        if any(not -n <= i < n for i in idx):
            ctx.fail(f"indices {idx} out of range for a dim of {n}")
            return
        set_dims(ctx, 0, [vec[i] for i in idx])


# ------------------------------------------------------------------ GatherElements
def _along(data: np.ndarray, indices: np.ndarray, axis: int) -> tuple:
    """The full index tuple that addresses ``data`` at ``indices`` along ``axis``."""
    axis = axis + data.ndim if axis < 0 else axis
    idx = np.asarray(indices)
    grids = list(np.ogrid[tuple(slice(0, d) for d in idx.shape)]) if idx.ndim else []
    grids[axis] = idx
    return tuple(grids)


@kernel("GatherElements", 11)
def gather_elements(data, indices, *, axis=0):
    return data[_along(data, indices, axis)]


@shape("GatherElements", 11)
def gather_elements_shape(ctx: InferenceContext) -> None:
    s, ind = ctx.input_shape(0), ctx.input_shape(1)
    if s is not None and ind is not None and len(s) != len(ind):
        ctx.fail(f"data (rank {len(s)}) and indices (rank {len(ind)}) must have the same rank")
        return
    ctx.set_output(0, ctx.input_dtype(0), ind)


# ------------------------------------------------------------------ GatherND
def _nd_index(data: np.ndarray, indices: np.ndarray, batch_dims: int) -> tuple:
    """Index tuple into ``data`` reshaped to (prod(batch), *rest)."""
    k = indices.shape[-1]
    batch = int(np.prod(data.shape[:batch_dims]))
    idx = np.asarray(indices).reshape(batch, -1, k)       # negative indices: numpy's, the spec's
    b = np.arange(batch)[:, None]
    return (b,) + tuple(idx[..., j] for j in range(k))


@kernel("GatherND", 11)
def gather_nd(data, indices, *, batch_dims=0):
    flat = data.reshape((int(np.prod(data.shape[:batch_dims])),) + data.shape[batch_dims:])
    k = indices.shape[-1]
    got = flat[_nd_index(data, indices, batch_dims)]
    return got.reshape(indices.shape[:-1] + data.shape[batch_dims + k:])


@shape("GatherND", 11)
def gather_nd_shape(ctx: InferenceContext) -> None:
    dtype, s, ind = ctx.input_dtype(0), ctx.input_shape(0), ctx.input_shape(1)
    b = ctx.attr("batch_dims", 0) if ctx.opset >= 12 else 0
    if s is None or ind is None or not ind or not is_int(ind[-1]):
        ctx.set_output(0, dtype, None)
        return
    k = ind[-1]
    if b + k > len(s):
        ctx.fail(f"indices' last dim {k} plus batch_dims {b} exceeds the data rank {len(s)}")
        return
    ctx.set_output(0, dtype, list(ind[:-1]) + list(s[b + k:]))


# ------------------------------------------------------------------ Scatter family
@kernel("Scatter", 9)
def scatter(data, indices, updates, *, axis=0):
    return _scatter_into(data, _along(data, indices, axis), updates, "none")


@kernel("ScatterElements", 11)
def scatter_elements(data, indices, updates, *, axis=0, reduction="none"):
    return _scatter_into(data, _along(data, indices, axis), updates, reduction)


@kernel("ScatterND", 11)
def scatter_nd(data, indices, updates, *, reduction="none"):
    k = indices.shape[-1]
    idx = np.asarray(indices)
    return _scatter_into(data, tuple(idx[..., j] for j in range(k)), updates, reduction)


@kernel("TensorScatter", 24)
def tensor_scatter(past_cache, update, write_indices=None, *, axis=-2, mode="linear"):
    """Write ``update`` into the cache along ``axis`` from each batch's write index."""
    axis = axis + past_cache.ndim if axis < 0 else axis
    batch, cap, seq = past_cache.shape[0], past_cache.shape[axis], update.shape[axis]
    start = np.zeros(batch, np.int64) if write_indices is None else np.asarray(write_indices, np.int64)
    pos = start[:, None] + np.arange(seq)                           # (batch, seq)
    if mode == "circular":
        pos %= cap
    elif mode != "linear":
        raise ValueError(f"unknown TensorScatter mode {mode!r}")
    out = past_cache.copy()
    view = np.moveaxis(out, axis, 1)            # (batch, cap, ...) view of out
    # axes between 0 and ``axis`` are broadcast: move them behind the sequence axis
    view[np.arange(batch)[:, None], pos] = np.moveaxis(update, axis, 1)
    return out


for _op, _v in (("Scatter", 9), ("ScatterElements", 11), ("ScatterND", 11), ("TensorScatter", 24)):
    shape(_op, _v)(same_as_input)


# ------------------------------------------------------------------ NonZero
@kernel("NonZero", 9)
def nonzero(x):
    if x.ndim == 0:
        return np.zeros((0, int(bool(x))), dtype=np.int64)
    return np.array(np.nonzero(x), dtype=np.int64).reshape(x.ndim, -1)


@shape("NonZero", 9)
def nonzero_shape(ctx: InferenceContext) -> None:
    r = ctx.input_rank(0)
    ctx.set_output(0, DataType.INT64, [r, None])
