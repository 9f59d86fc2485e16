"""Sorting: TopK (stable: ties keep the lower index first) and Unique (sorted
or in order of first occurrence, along an axis, all four outputs)."""

from __future__ import annotations

import numpy as np

from ..ir import DataType
from ._registry import kernel, shape
from ._shape import InferenceContext, norm_axis, prod
from .tensor_shape import input_dimvec, input_or_unknown, is_int

_I64 = DataType.INT64


def _sort_key(x: np.ndarray) -> np.ndarray:
    """An array that orders like ``x`` and that numpy can sort (ml_dtypes floats -> float32)."""
    return x.astype(np.float32) if x.dtype.kind == "V" or type(x.dtype).__module__.startswith("ml_dtypes") \
        else x


# ------------------------------------------------------------------ TopK
def _stable_order(rows: np.ndarray, largest: int) -> np.ndarray:
    """argsort of each row; ties in index order, also when descending."""
    if not largest:
        return np.argsort(rows, axis=1, kind="stable")
    n = rows.shape[1]        # stable ascending sort of the reversed rows, reversed back
    return (n - 1) - np.flip(np.argsort(np.flip(rows, 1), axis=1, kind="stable"), 1)


def _top_rows(rows: np.ndarray, k: int, largest: int) -> np.ndarray:
    """Indices of the top k of each row of a 2-D array, in order."""
    n = rows.shape[1]
    if not 0 < 4 * k < n or (rows.dtype.kind in "fc" and np.isnan(rows).any()):
        return _stable_order(rows, largest)[:, :k]
    # partition: the k-th value splits each row; ties at it are taken in index order
    kth = np.partition(rows, n - k if largest else k - 1, axis=1)[:, n - k if largest else k - 1, None]
    better = rows > kth if largest else rows < kth
    tie = rows == kth
    chosen = better | (tie & (np.cumsum(tie, axis=1) <= k - better.sum(axis=1, keepdims=True)))
    idx = np.nonzero(chosen)[1].reshape(-1, k)
    return np.take_along_axis(idx, _stable_order(np.take_along_axis(rows, idx, 1), largest), 1)


def _top_k(x: np.ndarray, k: int, axis: int, largest: int) -> tuple[np.ndarray, np.ndarray]:
    axis = axis + x.ndim if axis < 0 else axis
    n = x.shape[axis]
    if not 0 <= k <= n:
        raise ValueError(f"k = {k} is out of range for a dim of {n}")
    moved = np.moveaxis(_sort_key(x), axis, -1)
    lead = moved.shape[:-1]
    idx = _top_rows(moved.reshape(int(np.prod(lead)), n), k, largest)
    idx = np.moveaxis(idx.reshape(lead + (k,)), -1, axis)
    return np.take_along_axis(x, idx, axis=axis), idx.astype(np.int64, copy=False)


@kernel("TopK", 1)
def top_k_1(x, *, k, axis=-1):
    return _top_k(x, k, axis, 1)


@kernel("TopK", 10)
def top_k(x, k, *, axis=-1, largest=1, sorted=1):  # noqa: A002 (the spec's name)
    return _top_k(x, int(np.asarray(k).reshape(-1)[0]), axis, largest)


@shape("TopK", 1)
def top_k_shape(ctx: InferenceContext) -> None:
    dtype, s = input_or_unknown(ctx, None, _I64)
    if s is None:
        return
    axis = norm_axis(ctx.attr("axis", -1), len(s), ctx)
    if axis is None:
        return
    if ctx.opset < 10:
        k = ctx.attr("k")
    else:
        kv = input_dimvec(ctx, 1)
        k = kv[0] if kv is not None and len(kv) == 1 else None
    if is_int(k) and (k < 0 or (is_int(s[axis]) and k > s[axis])):
        ctx.fail(f"k = {k} is out of range for a dim of {s[axis]}")
        return
    out = list(s)
    out[axis] = k
    ctx.set_output(0, dtype, out)
    ctx.set_output(1, _I64, out)


# ------------------------------------------------------------------ Unique
def _unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first index, inverse, counts) of the distinct rows of a 2-D array, rows in sorted order."""
    order = np.lexsort(rows.T[::-1]) if rows.shape[1] else np.arange(rows.shape[0])
    ranked = rows[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (ranked[1:] != ranked[:-1]).any(axis=1)
    group = np.cumsum(new) - 1
    inv = np.empty_like(group)
    inv[order] = group
    starts = np.flatnonzero(new)
    return order[starts], inv, np.diff(np.append(starts, len(order)))


@kernel("Unique", 11)
def unique(x, *, axis=None, sorted=1):  # noqa: A002 (the spec's name)
    src = x.reshape(-1) if axis is None else x
    ax = 0 if axis is None else (axis + x.ndim if axis < 0 else axis)
    key = _sort_key(src)
    if axis is not None and key.dtype == object:       # numpy's unique has no axis for objects
        idx, inv, counts = _unique_rows(np.moveaxis(key, ax, 0).reshape(key.shape[ax], -1))
    else:
        _, idx, inv, counts = np.unique(key, return_index=True, return_inverse=True, return_counts=True,
                                        axis=None if axis is None else ax)
    inv = inv.reshape(-1)
    if not sorted:       # order of first occurrence
        order = np.argsort(idx, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        idx, counts, inv = idx[order], counts[order], rank[inv]
    y = np.take(src, idx, axis=ax)
    return y, idx.astype(np.int64), inv.astype(np.int64), counts.astype(np.int64)


@shape("Unique", 11)
def unique_shape(ctx: InferenceContext) -> None:
    dtype, s = ctx.input_dtype(0), ctx.input_shape(0)
    axis = ctx.attr("axis")
    if axis is None:
        y, inverse = [None], [prod(s) if s is not None else None]
    elif s is None:
        y, inverse = None, [None]
    else:
        ax = norm_axis(axis, len(s), ctx)
        if ax is None:
            return
        y, inverse = [None if j == ax else d for j, d in enumerate(s)], [s[ax]]
    for k, (dt, out) in enumerate(((dtype, y), (_I64, [None]), (_I64, inverse), (_I64, [None]))):
        if k < ctx.n_outputs:
            ctx.set_output(k, dt, out)
