"""Resize (opsets 10-19: nearest/linear/cubic, every coordinate transformation,
antialias, exclude_outside, keep_aspect_ratio_policy, axes, roi), Upsample and
CenterCropPad.

Resize is separable: each resized axis gets an (out, in) interpolation matrix
(edge taps clamped, so repeated indices just add up) applied as one matmul;
nearest modes gather with one index vector per axis."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from ._registry import kernel, shape
from ._shape import Dim, floordiv, mul
from .nn_common import cast_back, interp_dtype


# ------------------------------------------------------------------ coordinates and taps
def _source_coords(mode: str, n_out: int, n_in: int, scale: float, roi: tuple[float, float] | None
                   ) -> tuple[np.ndarray, np.ndarray | None]:
    """Input coordinate of every output index, and (tf_crop_and_resize) which
    outputs fall outside the input and take the extrapolation value."""
    y = np.arange(n_out, dtype=np.float64)
    out_f = scale * n_in
    if mode == "align_corners":
        x = np.zeros(n_out) if out_f == 1 else y * (n_in - 1) / (out_f - 1)
    elif mode == "asymmetric":
        x = y / scale
    elif mode == "tf_crop_and_resize":
        r0, r1 = roi if roi is not None else (0.0, 1.0)
        if out_f == 1:
            x = np.full(n_out, (r1 - r0) * (n_in - 1) / 2)
        else:
            x = y * (r1 - r0) * (n_in - 1) / (out_f - 1)
        x = x + r0 * (n_in - 1)
        return x, (x < 0) | (x > n_in - 1)
    elif mode == "pytorch_half_pixel":
        x = np.full(n_out, -0.5) if out_f == 1 else (y + 0.5) / scale - 0.5
    elif mode == "half_pixel":
        x = (y + 0.5) / scale - 0.5
    elif mode == "half_pixel_symmetric":
        offset = n_in / 2 * (1 - n_out / out_f)
        x = offset + (y + 0.5) / scale - 0.5
    elif mode == "tf_half_pixel_for_nn":
        x = (y + 0.5) / scale
    else:
        raise ValueError(f"unknown coordinate_transformation_mode {mode!r}")
    return x, None


def _nearest_index(x: np.ndarray, mode: str, scale: float, n_in: int) -> np.ndarray:
    if mode == "round_prefer_floor":
        i = np.ceil(x - 0.5)
    elif mode == "round_prefer_ceil":
        i = np.floor(x + 0.5)
    elif mode == "floor":
        i = np.floor(x)
    elif mode == "ceil":
        i = np.ceil(x)
    elif mode == "simple":                      # Resize-10 / Upsample
        i = np.ceil(x) if scale < 1 else np.floor(x)
    else:
        raise ValueError(f"unknown nearest_mode {mode!r}")
    return np.clip(i, 0, n_in - 1).astype(np.int64)


def _cubic(t: np.ndarray, a: float) -> np.ndarray:
    t = np.abs(t)
    t2, t3 = t * t, t * t * t
    return np.where(t <= 1, (a + 2) * t3 - (a + 3) * t2 + 1,
                    np.where(t < 2, a * t3 - 5 * a * t2 + 8 * a * t - 4 * a, 0.0))


def _taps(x: np.ndarray, mode: str, scale: float, antialias: bool, a: float) -> tuple[np.ndarray, np.ndarray]:
    """(tap indices (out, n), weights (out, n)) of linear / cubic interpolation at ``x``."""
    base = np.ceil(x) - 1                        # so that ratio is in (0, 1]
    ratio = x - base
    s = min(scale, 1.0) if antialias else 1.0
    if mode == "linear":
        start = int(math.floor(-1 / s) + 1) if antialias else 0
        offs = np.arange(start, 2 - start)
        w = np.clip(1 - np.abs((offs[None, :] - ratio[:, None]) * s), 0, 1)
    else:
        start = int(math.floor(-2 / s) + 1) if antialias else -1
        offs = np.arange(start, 2 - start)
        w = _cubic((offs[None, :] - ratio[:, None]) * s, a)
    if antialias:
        w = w / w.sum(axis=1, keepdims=True)
    return base[:, None].astype(np.int64) + offs[None, :], w


def _axis_matrix(n_in: int, n_out: int, scale: float, roi, *, mode: str, ctm: str, antialias: bool,
                 a: float, exclude_outside: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """(out, in) interpolation matrix of one axis, and its extrapolated outputs."""
    x, outside = _source_coords(ctm, n_out, n_in, scale, roi)
    idx, w = _taps(x, mode, scale, antialias, a)
    if exclude_outside:
        w = np.where((idx < 0) | (idx >= n_in), 0.0, w)
        tot = w.sum(axis=1, keepdims=True)
        w = w / np.where(tot == 0, 1, tot)
    m = np.zeros((n_out, n_in))
    rows = np.broadcast_to(np.arange(n_out)[:, None], idx.shape)
    np.add.at(m, (rows, np.clip(idx, 0, n_in - 1)), w)
    return m, outside


# ------------------------------------------------------------------ the geometry
def _resize_geometry(shape: Sequence[int], scales, sizes, axes, policy: str) -> tuple[list[float], list[int]]:
    """(scale per axis, output size per axis) of a Resize, numeric."""
    r = len(shape)
    axes = [a % r for a in axes] if axes is not None else list(range(r))
    sc = [1.0] * r
    out = list(shape)
    if sizes is not None and np.size(sizes):
        sizes = [int(v) for v in np.asarray(sizes).reshape(-1)]
        for a, s in zip(axes, sizes):
            sc[a] = s / shape[a] if shape[a] else 1.0
            out[a] = s
        if policy in ("not_larger", "not_smaller"):
            pick = min if policy == "not_larger" else max
            s = pick(sc[a] for a in axes)
            for a in axes:
                sc[a] = s
                out[a] = int(s * shape[a] + 0.5)
    elif scales is not None and np.size(scales):
        for a, s in zip(axes, np.asarray(scales, dtype=np.float64).reshape(-1)):
            sc[a] = float(s)
            out[a] = int(s * shape[a])
    else:
        raise ValueError("Resize needs either scales or sizes")
    return sc, out


def resize_nd(x: np.ndarray, scales: list[float], out: list[int], *, mode: str = "nearest",
              ctm: str = "half_pixel", nearest_mode: str = "round_prefer_floor", roi=None, antialias: int = 0,
              cubic_coeff_a: float = -0.75, exclude_outside: int = 0, extrapolation_value: float = 0.0
              ) -> np.ndarray:
    """``x`` resized to ``out`` (scale per axis given), separably axis by axis."""
    r = x.ndim
    roi = None if roi is None or np.size(roi) == 0 else [float(v) for v in np.asarray(roi).reshape(-1)]
    if mode not in ("nearest", "linear", "cubic"):
        raise ValueError(f"unknown mode {mode!r}")
    ct = interp_dtype(x.dtype)
    y = x if mode == "nearest" else x.astype(ct)
    outside_mask = None
    for a in range(r):
        ra = (roi[a], roi[a + r]) if roi is not None else None
        same_roi = ra is None or (math.isclose(ra[0], 0.0) and math.isclose(ra[1], 1.0))
        if out[a] == x.shape[a] and math.isclose(scales[a], 1.0) and same_roi:
            continue
        if mode == "nearest":
            xs, outside = _source_coords(ctm, out[a], x.shape[a], scales[a], ra)
            y = np.take(y, _nearest_index(xs, nearest_mode, scales[a], x.shape[a]), axis=a)
        else:
            m, outside = _axis_matrix(x.shape[a], out[a], scales[a], ra, mode=mode, ctm=ctm,
                                      antialias=bool(antialias), a=cubic_coeff_a,
                                      exclude_outside=bool(exclude_outside))
            y = np.moveaxis(np.matmul(m.astype(ct), np.moveaxis(y, a, -2)), -2, a)
        if outside is not None and outside.any():
            o = outside.reshape((1,) * a + (-1,) + (1,) * (r - a - 1))
            outside_mask = o if outside_mask is None else (outside_mask | o)
    if outside_mask is not None:
        y = np.where(outside_mask, np.asarray(extrapolation_value).astype(y.dtype), y)
    return cast_back(y, x.dtype)


# ------------------------------------------------------------------ kernels
@kernel("Resize", 10)
def resize_10(x, scales, *, mode="nearest"):
    sc, out = _resize_geometry(x.shape, scales, None, None, "stretch")
    return resize_nd(x, sc, out, mode=mode, ctm="asymmetric", nearest_mode="simple")


@kernel("Resize", 11)
def resize(x, roi=None, scales=None, sizes=None, *, antialias=0, axes=None,
           coordinate_transformation_mode="half_pixel", cubic_coeff_a=-0.75, exclude_outside=0,
           extrapolation_value=0.0, keep_aspect_ratio_policy="stretch", mode="nearest",
           nearest_mode="round_prefer_floor"):
    sc, out = _resize_geometry(x.shape, scales, sizes, axes, keep_aspect_ratio_policy)
    if roi is not None and np.size(roi) and axes is not None:
        r, n = x.ndim, len(axes)
        full = [0.0] * r + [1.0] * r
        rv = np.asarray(roi, np.float64).reshape(-1)
        for i, a in enumerate(axes):
            full[a % r], full[a % r + r] = rv[i], rv[n + i]
        roi = full
    return resize_nd(x, sc, out, mode=mode, ctm=coordinate_transformation_mode, nearest_mode=nearest_mode,
                     roi=roi, antialias=antialias, cubic_coeff_a=cubic_coeff_a,
                     exclude_outside=exclude_outside, extrapolation_value=extrapolation_value)


def _upsample(x: np.ndarray, scales: Sequence[float], mode: str) -> np.ndarray:
    scales = [float(s) for s in np.asarray(scales).reshape(-1)]
    if len(scales) != x.ndim:
        raise ValueError(f"{len(scales)} scales for an input of rank {x.ndim}")
    if mode == "nearest" and all(s == int(s) and s >= 1 for s in scales):
        for a, s in enumerate(scales):
            if s != 1:
                x = np.repeat(x, int(s), axis=a)
        return x
    out = [int(s * n) for s, n in zip(scales, x.shape)]
    mode = "linear" if mode in ("bilinear", "linear") else mode
    return resize_nd(x, scales, out, mode=mode, ctm="asymmetric", nearest_mode="simple")


@kernel("Upsample", 1)
def upsample_1(x, *, height_scale, width_scale, mode="nearest"):
    return _upsample(x, [1.0] * (x.ndim - 2) + [height_scale, width_scale], mode)


@kernel("Upsample", 7)
def upsample_7(x, *, mode="nearest", scales=None):
    return _upsample(x, scales, mode)


@kernel("Upsample", 9)
def upsample_9(x, scales, *, mode="nearest"):
    return _upsample(x, scales, mode)


# ------------------------------------------------------------------ shape rules
def _scaled_dims(xs: Sequence[Dim], scales: Sequence[float]) -> list[Dim]:
    out: list[Dim] = []
    for d, s in zip(xs, scales):
        s = float(s)
        if isinstance(d, int):
            out.append(int(d * s))
        elif s == 1.0:
            out.append(d)
        elif d is not None and s == int(s):
            out.append(mul(d, int(s)))
        elif d is not None and s > 0 and (1 / s) == int(1 / s):
            out.append(floordiv(d, int(1 / s)))
        else:
            out.append(None)
    return out


def _resize_shape_rule(ctx, scales_idx: int | None, sizes_idx: int | None) -> None:
    xs = ctx.input_shape(0)
    dt = ctx.input_dtype(0)
    r = len(xs) if xs is not None else None
    axes = ctx.attr("axes")
    policy = ctx.attr("keep_aspect_ratio_policy", "stretch") or "stretch"
    sizes = ctx.input_dims(sizes_idx) if sizes_idx is not None and ctx.has_input(sizes_idx) else None
    scales = ctx.input_value(scales_idx) if scales_idx is not None and ctx.has_input(scales_idx) else None
    if scales is not None and np.size(scales) == 0:
        scales = None
    if sizes is not None and len(sizes) == 0:
        sizes = None
    if xs is None:
        n = len(sizes) if sizes is not None and axes is None else (np.size(scales) if scales is not None
                                                                  and axes is None else None)
        ctx.set_output(0, dt, None if n is None else [None] * int(n))
        return
    ax = [a % r for a in axes] if axes is not None else list(range(r))
    if sizes is not None:
        if len(sizes) != len(ax):
            ctx.fail(f"sizes has {len(sizes)} entries, expected {len(ax)}")
            return
        out = list(xs)
        if policy == "stretch":
            for a, s in zip(ax, sizes):
                out[a] = s
        elif all(isinstance(v, int) for v in sizes) and all(isinstance(xs[a], int) for a in ax):
            sc, o = _resize_geometry([d if isinstance(d, int) else 1 for d in xs], None, sizes, ax, policy)
            for a in ax:
                out[a] = o[a]
        else:
            for a in ax:
                out[a] = None
        ctx.set_output(0, dt, out)
        return
    if scales is not None:
        sv = np.asarray(scales, dtype=np.float64).reshape(-1)
        if len(sv) != len(ax):
            ctx.fail(f"scales has {len(sv)} entries, expected {len(ax)}")
            return
        full = [1.0] * r
        for a, s in zip(ax, sv):
            full[a] = s
        ctx.set_output(0, dt, _scaled_dims(xs, full))
        return
    # sizes or scales unknown: the rank and the axes left alone are known
    ctx.set_output(0, dt, [None if a in ax else xs[a] for a in range(r)])


@shape("Resize", 10)
def resize_10_shape(ctx):
    _resize_shape_rule(ctx, 1, None)


@shape("Resize", 11)
def resize_shape(ctx):
    _resize_shape_rule(ctx, 2, 3)


@shape("Upsample", 1)
def upsample_1_shape(ctx):
    xs = ctx.input_shape(0)
    if xs is None:
        ctx.set_output(0, ctx.input_dtype(0), None)
        return
    sc = [1.0] * (len(xs) - 2) + [ctx.attr("height_scale", 1.0), ctx.attr("width_scale", 1.0)]
    ctx.set_output(0, ctx.input_dtype(0), _scaled_dims(xs, sc))


@shape("Upsample", 7)
def upsample_7_shape(ctx):
    xs = ctx.input_shape(0)
    sc = ctx.attr("scales")
    if xs is None or sc is None or len(sc) != len(xs):
        if xs is not None and sc is not None:
            ctx.fail(f"{len(sc)} scales for an input of rank {len(xs)}")
            return
        ctx.set_output(0, ctx.input_dtype(0), None if xs is None else [None] * len(xs))
        return
    ctx.set_output(0, ctx.input_dtype(0), _scaled_dims(xs, sc))


@shape("Upsample", 9)
def upsample_9_shape(ctx):
    _resize_shape_rule(ctx, 1, None)


# ------------------------------------------------------------------ CenterCropPad
@kernel("CenterCropPad", 18)
def center_crop_pad(x, shape_, *, axes=None):
    r = x.ndim
    axes = [a % r for a in axes] if axes is not None else list(range(r))
    target = [int(v) for v in np.asarray(shape_).reshape(-1)]
    if len(target) != len(axes):
        raise ValueError(f"shape has {len(target)} entries for {len(axes)} axes")
    out_shape = list(x.shape)
    src: list[Any] = [slice(None)] * r
    dst: list[Any] = [slice(None)] * r
    for a, t in zip(axes, target):
        n = x.shape[a]
        out_shape[a] = t
        if t < n:
            b = (n - t) // 2
            src[a] = slice(b, b + t)
        elif t > n:
            b = (t - n) // 2
            dst[a] = slice(b, b + n)
    y = np.zeros(out_shape, dtype=x.dtype)
    y[tuple(dst)] = x[tuple(src)]
    return y


@shape("CenterCropPad", 18)
def center_crop_pad_shape(ctx):
    xs = ctx.input_shape(0)
    dims = ctx.input_dims(1)
    dt = ctx.input_dtype(0)
    if xs is None:
        ctx.set_output(0, dt, None)
        return
    r = len(xs)
    axes = ctx.attr("axes")
    ax = [a % r for a in axes] if axes is not None else list(range(r))
    out = list(xs)
    if dims is None:
        for a in ax:
            out[a] = None
    elif len(dims) != len(ax):
        ctx.fail(f"shape has {len(dims)} entries for {len(ax)} axes")
        return
    else:
        for a, d in zip(ax, dims):
            out[a] = d
    ctx.set_output(0, dt, out)
