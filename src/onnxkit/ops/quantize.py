"""QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear.

One kernel per op covers every version: later versions only add attributes
(``axis``, ``saturate``, ``block_size``, ``output_dtype``, ``precision``) and
types.  The scale (and zero point) is per tensor (a scalar), per axis (1-D,
the length of ``axis``) or blocked (``x``'s shape with ``axis`` divided into
blocks of ``block_size``).
"""

from __future__ import annotations

import math

import numpy as np

from ..ir import DataType
from ..ir._dtypes import ml_dtypes
from ._registry import kernel, shape
from ._shape import normalize_axis
from .cast import attr_datatype, cast_array

_FLOAT8 = frozenset({DataType.FLOAT8E4M3FN, DataType.FLOAT8E4M3FNUZ, DataType.FLOAT8E5M2,
                     DataType.FLOAT8E5M2FNUZ})


def _expand(v: np.ndarray, shape: tuple[int, ...], axis: int, block_size: int, what: str) -> np.ndarray:
    """``v`` (scale or zero point) made broadcastable to ``shape``."""
    if v.ndim == 0 or (v.size == 1 and not block_size):
        return v.reshape(())
    rank = len(shape)
    axis = normalize_axis(axis, rank)
    if not block_size:
        if v.ndim != 1 or v.shape[0] != shape[axis]:
            raise ValueError(f"{what} of shape {list(v.shape)} is neither a scalar nor 1-D of the "
                             f"length of axis {axis} of the input {list(shape)}; for blocked "
                             "quantization set block_size")
        return v.reshape([v.shape[0] if k == axis else 1 for k in range(rank)])
    if block_size < 0:
        raise ValueError(f"block_size must be positive, got {block_size}")
    want = tuple(math.ceil(d / block_size) if k == axis else d for k, d in enumerate(shape))
    if v.shape != want:
        raise ValueError(f"{what} of shape {list(v.shape)} does not fit blocked quantization of "
                         f"input {list(shape)} along axis {axis} with block_size {block_size} "
                         f"(expected {list(want)})")
    return np.repeat(v, block_size, axis=axis).take(np.arange(shape[axis]), axis=axis)


def _as_float(a: np.ndarray) -> np.ndarray:
    return a if a.dtype.kind == "f" and a.dtype.itemsize >= 4 else a.astype(np.float32)


@kernel("QuantizeLinear", 10)
def quantize_linear(x, y_scale, y_zero_point=None, *, axis=1, saturate=1, block_size=0,
                    output_dtype=0, precision=0):
    if y_zero_point is not None:
        dt = DataType.from_numpy(y_zero_point.dtype)
        if output_dtype and output_dtype != dt:
            raise ValueError(f"output_dtype {DataType(output_dtype).name} differs from the zero "
                             f"point's type {dt.name}")
    else:
        dt = DataType(output_dtype) if output_dtype else DataType.UINT8
    scale = _expand(y_scale, x.shape, axis, block_size, "y_scale")
    comp = DataType(precision).numpy_dtype if precision else scale.dtype
    if comp.kind not in "fV":             # integer scale: divide in float64
        comp = np.dtype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        q = _as_float(x.astype(comp) / scale.astype(comp))
        zp = None if y_zero_point is None else _expand(y_zero_point, x.shape, axis, block_size,
                                                       "y_zero_point")
        if dt.is_integer:
            info = (ml_dtypes().iinfo if dt.is_sub_byte else np.iinfo)(dt.numpy_dtype)  # ml_dtypes' import costs ~1 s
            q = np.rint(q)
            if zp is not None:
                q = q + zp.astype(q.dtype)
            return np.nan_to_num(np.clip(q, info.min, info.max)).astype(dt.numpy_dtype)
        if dt not in _FLOAT8 | {DataType.FLOAT4E2M1, DataType.FLOAT6E2M3, DataType.FLOAT6E3M2}:
            raise ValueError(f"QuantizeLinear cannot produce {dt.name}")
        if zp is not None and np.any(zp.astype(np.float32) != 0):
            q = q + zp.astype(np.float32)
        return cast_array(q, dt, saturate)


@kernel("DequantizeLinear", 10)
def dequantize_linear(x, x_scale, x_zero_point=None, *, axis=1, block_size=0, output_dtype=0):
    dx = x.astype(np.float32)
    if x_zero_point is not None:
        dx = dx - _expand(x_zero_point, x.shape, axis, block_size, "x_zero_point").astype(dx.dtype)
    y = dx * _expand(x_scale, x.shape, axis, block_size, "x_scale").astype(np.float32)
    out = DataType(output_dtype) if output_dtype else DataType.from_numpy(x_scale.dtype)
    return cast_array(y, out)


@kernel("DynamicQuantizeLinear", 11)
def dynamic_quantize_linear(x):
    x = x.astype(np.float32)
    hi = np.float32(max(0.0, float(x.max()))) if x.size else np.float32(0)
    lo = np.float32(min(0.0, float(x.min()))) if x.size else np.float32(0)
    # all zeros: scale 1 (as onnxruntime; the spec's formula would divide by zero)
    scale = np.float32(hi - lo) / np.float32(255) if hi != lo else np.float32(1.0)
    zp = np.rint(np.clip(np.float32(0) - lo / scale, 0, 255))
    y = np.clip(np.rint(x / scale) + zp, 0, 255).astype(np.uint8)
    return y, np.array(scale, np.float32), np.array(zp, np.uint8)


# ---------------------------------------------------------------- shape rules
@shape("QuantizeLinear", 10)
def quantize_linear_shape(ctx) -> None:
    dt = ctx.input_dtype(2) if ctx.has_input(2) else None
    out = attr_datatype(ctx, "output_dtype")
    if dt is None:
        dt = out if out else (None if ctx.has_input(2) else DataType.UINT8)
    elif out and out != dt:
        ctx.fail(f"output_dtype {out.name} differs from y_zero_point's type {DataType(dt).name}")
        return
    ctx.set_output(0, dt, ctx.input_shape(0))


@shape("DequantizeLinear", 10)
def dequantize_linear_shape(ctx) -> None:
    ctx.set_output(0, attr_datatype(ctx, "output_dtype") or ctx.input_dtype(1), ctx.input_shape(0))


@shape("DynamicQuantizeLinear", 11)
def dynamic_quantize_linear_shape(ctx) -> None:
    ctx.set_output(0, DataType.UINT8, ctx.input_shape(0))
    if ctx.n_outputs > 1:
        ctx.set_output(1, DataType.FLOAT, ())
    if ctx.n_outputs > 2:
        ctx.set_output(2, DataType.UINT8, ())
