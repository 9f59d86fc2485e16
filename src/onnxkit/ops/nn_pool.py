"""Pooling: MaxPool (with Indices), AveragePool, LpPool, the Global* pools and
MaxUnpool.  Windows are strided views (``sliding_window_view``) reduced over
their kernel axes; the padding is never part of a window's value."""

from __future__ import annotations

import numpy as np

from ._registry import kernel, shape
from ._shape import add, mul, sub
from .nn_common import (compute_dtype, conv_pads, conv_shape_dims, pad_spatial, pool_out_dim, spatial_attrs,
                        windows)
from ..ir import DataType


def _geometry(x: np.ndarray, kernel_shape, strides, dilations, pads, auto_pad, ceil_mode):
    """(kernel, strides, dilations, resolved pads, output sizes) of a pool."""
    nsp = x.ndim - 2
    k, s, d, p = spatial_attrs(nsp, kernel_shape, strides, dilations, pads)
    if len(k) != nsp:
        raise ValueError(f"kernel_shape {k} does not match the {nsp} spatial dims of the input")
    out = [pool_out_dim(x.shape[2 + i], k[i], s[i], d[i], p[i], p[i + nsp], auto_pad, ceil_mode)
           for i in range(nsp)]
    p = conv_pads(x.shape[2:], k, s, d, p, auto_pad)
    return k, s, d, p, out


def _lowest(dtype: np.dtype):
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _tap_reduce(win: np.ndarray, k, fn) -> np.ndarray:
    """Reduce the window view (N, C, *O, *K) over its taps with ``fn(acc, v, out=acc)``:
    one pass per tap over strided views, no copy of the windows."""
    taps = list(np.ndindex(*k))
    acc = np.array(win[(Ellipsis,) + taps[0]])
    for tap in taps[1:]:
        fn(acc, win[(Ellipsis,) + tap], out=acc)
    return acc


def _max_pool(x, auto_pad, ceil_mode, dilations, kernel_shape, pads, storage_order, strides, want_indices):
    nsp = x.ndim - 2
    k, s, d, p, out = _geometry(x, kernel_shape, strides, dilations, pads, auto_pad, ceil_mode)
    xc = x.astype(compute_dtype(x.dtype), copy=False)
    low = _lowest(xc.dtype)
    win = windows(pad_spatial(xc, p, low), k, s, d, out, fill=low)
    if not want_indices:
        return _tap_reduce(win, k, np.maximum).astype(x.dtype, copy=False)
    best = _tap_reduce(win, k, np.maximum)
    # the first tap holding the max: walk the taps backwards, branch-free integer arithmetic
    which = np.zeros(best.shape, dtype=np.int32)
    for t, tap in reversed(list(enumerate(np.ndindex(*k)))):
        eq = win[(Ellipsis,) + tap] == best
        which -= (which - t) * eq
    y = best.astype(x.dtype, copy=False)
    tap_coords, rest = [], which
    for i in reversed(range(nsp)):
        rest, ci = np.divmod(rest, k[i])
        tap_coords.insert(0, ci)
    n, c = x.shape[:2]
    sizes = x.shape[2:]
    coords = []
    for i in range(nsp):
        o = np.arange(out[i]).reshape((1, 1) + tuple(out[i] if j == i else 1 for j in range(nsp)))
        coords.append(o * s[i] - p[i] + tap_coords[i] * d[i])
    order = range(nsp) if not storage_order else reversed(range(nsp))
    idx = np.zeros(y.shape, dtype=np.int64)
    for i in order:
        idx = idx * sizes[i] + coords[i]
    base = (np.arange(n).reshape(n, 1) * c + np.arange(c).reshape(1, c)) * int(np.prod(sizes))
    idx += base.reshape((n, c) + (1,) * nsp)
    return y, idx


@kernel("MaxPool", 1, context=True)
def max_pool(ctx, x, *, auto_pad="NOTSET", ceil_mode=0, dilations=None, kernel_shape=None, pads=None,
             storage_order=0, strides=None):
    return _max_pool(x, auto_pad, ceil_mode, dilations, kernel_shape, pads, storage_order, strides,
                     ctx.output_present(1))


def _avg_like(x, kernel_shape, strides, dilations, pads, auto_pad, ceil_mode, count_include_pad, p=None):
    """AveragePool (``p`` None) or LpPool (``p``) of ``x``."""
    k, s, d, pd, out = _geometry(x, kernel_shape, strides, dilations, pads, auto_pad, ceil_mode)
    ct = compute_dtype(x.dtype)
    xc = x.astype(ct, copy=False)
    if p is not None:
        xc = np.abs(xc) if p == 1 else (xc * xc if p == 2 else np.abs(xc) ** p)
    total = _tap_reduce(windows(pad_spatial(xc, pd), k, s, d, out), k, np.add)
    if p is not None:
        r = np.sqrt(total) if p == 2 else total ** (1.0 / p)
        return r.astype(x.dtype, copy=False)
    ones = np.ones((1, 1) + x.shape[2:], dtype=ct)
    # count the input (and, when asked, the explicit padding) -- never the ceil_mode overhang
    mask = pad_spatial(ones, pd, 1 if count_include_pad else 0)
    count = _tap_reduce(windows(mask, k, s, d, out), k, np.add)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (total / count).astype(x.dtype, copy=False)


@kernel("AveragePool", 1)
def average_pool(x, *, auto_pad="NOTSET", ceil_mode=0, count_include_pad=0, dilations=None, kernel_shape=None,
                 pads=None, strides=None):
    return _avg_like(x, kernel_shape, strides, dilations, pads, auto_pad, ceil_mode, count_include_pad)


@kernel("LpPool", 1)
def lp_pool(x, *, auto_pad="NOTSET", ceil_mode=0, dilations=None, kernel_shape=None, p=2, pads=None,
            strides=None):
    return _avg_like(x, kernel_shape, strides, dilations, pads, auto_pad, ceil_mode, 1, p=p)


def _pool_shape(ctx) -> None:
    xs = ctx.input_shape(0)
    dt = ctx.input_dtype(0)
    ks = ctx.attr("kernel_shape")
    if xs is None or ks is None:
        ctx.set_output(0, dt, None)
        if ctx.n_outputs > 1:
            ctx.set_output(1, DataType.INT64, None)
        return
    if len(xs) != len(ks) + 2:
        ctx.fail(f"kernel_shape {list(ks)} does not fit an input of rank {len(xs)}")
        return
    out = list(xs[:2]) + conv_shape_dims(ctx, xs, ks, ceil=True)
    ctx.set_output(0, dt, out)
    if ctx.n_outputs > 1:
        ctx.set_output(1, DataType.INT64, out)


for _op in ("MaxPool", "AveragePool", "LpPool"):
    shape(_op, 1)(_pool_shape)


# ------------------------------------------------------------------ global pools
def _global(x: np.ndarray, how: str, p: float = 2) -> np.ndarray:
    axes = tuple(range(2, x.ndim))
    ct = compute_dtype(x.dtype)
    xc = x.astype(ct, copy=False)
    if how == "max":
        y = xc.max(axis=axes, keepdims=True)
    elif how == "avg":
        y = xc.mean(axis=axes, keepdims=True)
    else:
        y = (np.abs(xc) ** p).sum(axis=axes, keepdims=True) ** (1.0 / p)
    return y.astype(x.dtype, copy=False)


@kernel("GlobalAveragePool", 1)
def global_average_pool(x):
    return _global(x, "avg")


@kernel("GlobalMaxPool", 1)
def global_max_pool(x):
    return _global(x, "max")


@kernel("GlobalLpPool", 1)
def global_lp_pool(x, *, p=2):
    return _global(x, "lp", p)


def _global_shape(ctx) -> None:
    xs = ctx.input_shape(0)
    if xs is not None and len(xs) < 2:
        ctx.fail(f"the input must have rank >= 2 (N, C, ...), got rank {len(xs)}")
        return
    ctx.set_output(0, ctx.input_dtype(0), None if xs is None else list(xs[:2]) + [1] * (len(xs) - 2))


for _op in ("GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"):
    shape(_op, 1)(_global_shape)


# ------------------------------------------------------------------ MaxUnpool
@kernel("MaxUnpool", 9)
def max_unpool(x, indices, output_shape=None, *, kernel_shape=None, pads=None, strides=None):
    nsp = x.ndim - 2
    k, s, _, p = spatial_attrs(nsp, kernel_shape, strides, None, pads)
    natural = list(x.shape[:2]) + [(x.shape[2 + i] - 1) * s[i] + k[i] - p[i] - p[i + nsp] for i in range(nsp)]
    out = [int(v) for v in output_shape] if output_shape is not None else natural
    idx = indices.reshape(-1)
    # indices address the natural (un-padded) output, which output_shape then extends at the
    # end (the reference semantics); indices past it can only mean output_shape's own layout
    layout = natural if idx.size == 0 or int(idx.max()) < int(np.prod(natural)) else out
    y = np.zeros(int(np.prod(layout)), dtype=x.dtype)
    y[idx] = x.reshape(-1)
    y = y.reshape(layout)
    if layout is not out:
        full = np.zeros(out, dtype=x.dtype)
        full[tuple(slice(0, min(a, b)) for a, b in zip(layout, out))] = \
            y[tuple(slice(0, min(a, b)) for a, b in zip(layout, out))]
        y = full
    return y


@shape("MaxUnpool", 9)
def max_unpool_shape(ctx):
    xs = ctx.input_shape(0)
    dt = ctx.input_dtype(0)
    if ctx.has_input(2):
        dims = ctx.input_dims(2)
        if dims is None:
            s2 = ctx.input_shape(2)
            rank = s2[0] if s2 is not None and len(s2) == 1 and isinstance(s2[0], int) else None
            ctx.set_output(0, dt, None if rank is None else [None] * rank)
        else:
            ctx.set_output(0, dt, dims)
        return
    ks = ctx.attr("kernel_shape")
    if xs is None or ks is None:
        ctx.set_output(0, dt, None)
        return
    if len(xs) != len(ks) + 2:
        ctx.fail(f"kernel_shape {list(ks)} does not fit an input of rank {len(xs)}")
        return
    nsp = len(ks)
    _, s, _, p = spatial_attrs(nsp, ks, ctx.attr("strides"), None, ctx.attr("pads"))
    ctx.set_output(0, dt, list(xs[:2]) + [add(mul(sub(xs[2 + i], 1), s[i]), ks[i] - p[i] - p[i + nsp])
                                          for i in range(nsp)])
