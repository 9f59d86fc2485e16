"""Sampling grids: GridSample (2-D and N-D; nearest, linear, cubic; zeros,
border and reflection padding; align_corners) and AffineGrid.

GridSample is vectorized over every output point: per spatial axis the tap
indices and weights, then one gather per combination of taps."""

from __future__ import annotations

import itertools

import numpy as np

from ._registry import kernel, shape
from .nn_common import cast_back, interp_dtype

_MODES = {"bilinear": "linear", "bicubic": "cubic", "linear": "linear", "cubic": "cubic", "nearest": "nearest"}


def _reflect(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Reflect ``x`` at the borders ``lo``/``hi`` until it lies between them."""
    rng = hi - lo
    if rng <= 0:
        return np.full_like(x, lo)
    below, above = x < lo, x > hi
    dx = np.where(below, lo - x, x - hi)
    n = np.trunc(dx / rng)
    r = dx - n * rng
    even = (n % 2) == 0
    inside_lo = np.where(even, lo + r, hi - r)
    inside_hi = np.where(even, hi - r, lo + r)
    return np.where(below, inside_lo, np.where(above, inside_hi, x))


def _cubic_weights(t: np.ndarray, a: float = -0.75) -> list[np.ndarray]:
    """Keys' cubic weights of the taps at offsets -1, 0, 1, 2 for fraction ``t``."""
    def near(u):
        return ((a + 2) * u - (a + 3)) * u * u + 1

    def far(u):
        return ((a * u - 5 * a) * u + 8 * a) * u - 4 * a
    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _axis_taps(x: np.ndarray, size: int, mode: str, padding: str, lo: float, hi: float):
    """Per tap: (index into the axis, weight, valid mask) for coordinates ``x``."""
    if mode == "nearest":
        offs, w = [0], [np.ones_like(x)]
        base = x.astype(np.int64)
    else:
        f = np.floor(x)
        t = x - f
        base = f.astype(np.int64)
        if mode == "linear":
            offs, w = [0, 1], [1 - t, t]
        else:
            offs, w = [-1, 0, 1, 2], _cubic_weights(t)
    taps = []
    for o, wt in zip(offs, w):
        i = base + o
        if padding == "zeros":
            ok = (i >= 0) & (i < size)
            taps.append((np.clip(i, 0, size - 1), wt, ok))
        elif padding == "border":
            taps.append((np.clip(i, 0, size - 1), wt, None))
        else:
            ri = np.trunc(_reflect(i.astype(np.float64), lo, hi)).astype(np.int64)
            taps.append((np.clip(ri, 0, size - 1), wt, None))
    return taps


@kernel("GridSample", 16)
def grid_sample(x, grid, *, align_corners=0, mode="bilinear", padding_mode="zeros"):
    mode = _MODES.get(mode)
    if mode is None:
        raise ValueError("mode must be nearest, linear (bilinear) or cubic (bicubic)")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(f"unknown padding_mode {padding_mode!r}")
    n, c = x.shape[:2]
    dims = x.shape[2:]
    nsp = len(dims)
    out_sp = grid.shape[1:-1]
    npts = int(np.prod(out_sp))
    if x.dtype.kind in "OUS":
        raise ValueError("GridSample interpolates numbers: string inputs are not supported")
    ct = interp_dtype(x.dtype)
    g = grid.astype(np.float64).reshape(n, npts, nsp)[..., ::-1]      # (x, y, ...) -> axis order
    per_axis = []
    for a, d in enumerate(dims):
        v = g[..., a]
        if align_corners:
            v = (v + 1) / 2 * (d - 1)
            lo, hi = 0.0, d - 1.0
        else:
            v = ((v + 1) * d - 1) / 2
            lo, hi = -0.5, d - 0.5
        if mode == "nearest":
            v = np.rint(v)
        outside = (v < lo) | (v > hi)
        if padding_mode == "border" and mode != "cubic":    # cubic clamps its taps only (torch, onnxruntime)
            v = np.where(outside, np.clip(v, 0, d - 1), v)
        elif padding_mode == "reflection":
            v = np.where(outside, _reflect(v, lo, hi), v)
        per_axis.append(_axis_taps(v, d, mode, padding_mode, lo, hi))
    flat = x.astype(ct, copy=False).reshape(n, c, -1)
    y = np.zeros((n, c, npts), dtype=ct)
    strides = [int(np.prod(dims[a + 1:])) for a in range(nsp)]
    for combo in itertools.product(*per_axis):
        idx = np.zeros((n, npts), dtype=np.int64)
        w = np.ones((n, npts), dtype=np.float64)
        for a, (i, wt, ok) in enumerate(combo):
            idx += i * strides[a]
            w = w * (wt if ok is None else np.where(ok, wt, 0))
        vals = np.take_along_axis(flat, idx[:, None, :], axis=2)
        y += vals * w[:, None, :].astype(y.real.dtype)
    return cast_back(y.reshape(n, c, *out_sp), x.dtype)


@shape("GridSample", 16)
def grid_sample_shape(ctx):
    xs, gs = ctx.input_shape(0), ctx.input_shape(1)
    dt = ctx.input_dtype(0)
    if xs is None and gs is None:
        ctx.set_output(0, dt, None)
        return
    rank = len(xs) if xs is not None else len(gs)
    if xs is not None and gs is not None:
        if len(xs) != len(gs):
            ctx.fail(f"X has rank {len(xs)} but grid rank {len(gs)}")
            return
        if isinstance(gs[-1], int) and gs[-1] != len(xs) - 2:
            ctx.fail(f"grid's last dim is {gs[-1]}, expected {len(xs) - 2} (the spatial rank of X)")
            return
    nb = xs[0] if xs is not None else gs[0]
    if nb is None and gs is not None:
        nb = gs[0]
    c = xs[1] if xs is not None else None
    sp = list(gs[1:-1]) if gs is not None else [None] * (rank - 2)
    ctx.set_output(0, dt, [nb, c] + sp)


@kernel("AffineGrid", 20)
def affine_grid(theta, size, *, align_corners=0):
    sz = [int(v) for v in np.asarray(size).reshape(-1)]
    n, sp = sz[0], sz[2:]
    axes = []
    for d in sp:
        i = np.arange(d, dtype=np.float64)
        axes.append(-1 + 2 * i / (d - 1) if align_corners else (2 * i + 1) / d - 1 if d else i)
        if align_corners and d == 1:
            axes[-1] = np.full(1, -1.0)
    mesh = np.meshgrid(*axes, indexing="ij")                    # spatial order (.., y, x)
    base = np.stack([m.reshape(-1) for m in mesh[::-1]] + [np.ones(mesh[0].size)], axis=1)  # (P, nsp+1)
    grid = np.matmul(theta.astype(np.float64), base.T).transpose(0, 2, 1)                   # (N, P, nsp)
    return grid.reshape(n, *sp, len(sp)).astype(theta.dtype)


@shape("AffineGrid", 20)
def affine_grid_shape(ctx):
    dims = ctx.input_dims(1)
    dt = ctx.input_dtype(0)
    ts = ctx.input_shape(0)
    if dims is None:
        ss = ctx.input_shape(1)
        k = ss[0] if ss is not None and len(ss) == 1 and isinstance(ss[0], int) else None
        if k is None and ts is not None and isinstance(ts[1], int):
            k = ts[1] + 2
        ctx.set_output(0, dt, None if k is None else [ts[0] if ts else None] + [None] * (k - 2) + [k - 2])
        return
    if len(dims) not in (4, 5):
        ctx.fail(f"size must have 4 or 5 entries (N, C, [D,] H, W), got {len(dims)}")
        return
    ctx.set_output(0, dt, [dims[0]] + list(dims[2:]) + [len(dims) - 2])
