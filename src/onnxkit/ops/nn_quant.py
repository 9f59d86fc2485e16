"""Quantized neural-network ops: ConvInteger, QLinearConv, QLinearMatMul.

Integer products are summed in float64 (exact below 2**53, and BLAS-fast),
then requantized with round-half-to-even and saturation.
"""

from __future__ import annotations

import numpy as np

from ._registry import kernel, shape
from .math_matmul import _matmul_dims
from .nn_conv import _conv_shape, conv_core

from ..ir import DataType
from ..ir._dtypes import ml_dtypes


def _centered(q: np.ndarray, zp: np.ndarray | None, channel_axis: int | None = None) -> np.ndarray:
    """``q - zp`` in float64; a 1-D ``zp`` applies per channel along ``channel_axis``."""
    x = q.astype(np.float64)
    if zp is not None:
        z = np.asarray(zp).astype(np.float64)
        if z.ndim == 1 and z.size > 1 and channel_axis is not None:
            shape = [1] * x.ndim
            shape[channel_axis] = z.size
            z = z.reshape(shape)
        elif z.ndim == 1 and z.size == 1:
            z = z.reshape(())
        x -= z
    return x


def _requantize(acc: np.ndarray, scale: np.ndarray, zp: np.ndarray | None, dtype: np.dtype) -> np.ndarray:
    """``acc * scale (+ zp)`` saturated into ``dtype`` (integers: rounded half to even)."""
    y = acc * scale
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        y = np.rint(y)                      # QuantizeLinear: round, then add the zero point
        if zp is not None:
            y += np.asarray(zp).astype(np.float64)
        info = np.iinfo(dtype)
        return np.clip(y, info.min, info.max).astype(dtype)
    if zp is not None:
        y = y + np.asarray(zp).astype(np.float64)
    fmax = float(ml_dtypes().finfo(dtype).max)
    return np.clip(y, -fmax, fmax).astype(dtype)


@kernel("ConvInteger", 10)
def conv_integer(x, w, x_zero_point=None, w_zero_point=None, *, auto_pad="NOTSET", dilations=None, group=1,
                 kernel_shape=None, pads=None, strides=None):
    y = conv_core(_centered(x, x_zero_point), _centered(w, w_zero_point, 0), auto_pad=auto_pad,
                  dilations=dilations, group=group, pads=pads, strides=strides)
    return y.astype(np.int32)


@shape("ConvInteger", 10)
def conv_integer_shape(ctx):
    _conv_shape(ctx, out_dtype=DataType.INT32)


@kernel("QLinearConv", 10)
def qlinear_conv(x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, b=None, *,
                 auto_pad="NOTSET", dilations=None, group=1, kernel_shape=None, pads=None, strides=None):
    acc = conv_core(_centered(x, x_zero_point), _centered(w, w_zero_point, 0), auto_pad=auto_pad,
                    dilations=dilations, group=group, pads=pads, strides=strides)
    bshape = (1, -1) + (1,) * (acc.ndim - 2)
    if b is not None:
        acc += b.astype(np.float64).reshape(bshape)
    ws = np.asarray(w_scale).astype(np.float64)
    if ws.size > 1:
        ws = ws.reshape(bshape)
    scale = np.asarray(x_scale).astype(np.float64).reshape(()) * ws / np.asarray(y_scale).astype(np.float64).reshape(())
    out_dtype = y_zero_point.dtype if y_zero_point is not None else x.dtype
    return _requantize(acc, scale, y_zero_point, out_dtype)


@shape("QLinearConv", 10)
def qlinear_conv_shape(ctx):
    dt = ctx.input_dtype(7) if ctx.has_input(7) else ctx.input_dtype(0)
    _conv_shape(ctx, 0, 3, out_dtype=dt)


@kernel("QLinearMatMul", 10)
def qlinear_matmul(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point):
    av = _centered(a, a_zero_point)
    bv = _centered(b, b_zero_point)
    if a_zero_point is not None and np.ndim(a_zero_point) == 1 and np.size(a_zero_point) > 1:
        av = a.astype(np.float64) - np.asarray(a_zero_point, np.float64).reshape(-1, 1)
    if b_zero_point is not None and np.ndim(b_zero_point) == 1 and np.size(b_zero_point) > 1:
        bv = b.astype(np.float64) - np.asarray(b_zero_point, np.float64).reshape(1, -1)
    acc = np.matmul(av, bv)
    sa = np.asarray(a_scale).astype(np.float64)
    sb = np.asarray(b_scale).astype(np.float64)
    sa = sa.reshape(-1, 1) if sa.ndim == 1 and sa.size > 1 else sa.reshape(())
    sb = sb.reshape(1, -1) if sb.ndim == 1 and sb.size > 1 else sb.reshape(())
    scale = sa * sb / np.asarray(y_scale).astype(np.float64).reshape(())
    return _requantize(acc, scale, y_zero_point, y_zero_point.dtype)


@shape("QLinearMatMul", 10)
def qlinear_matmul_shape(ctx):
    ctx.set_output(0, ctx.input_dtype(7), _matmul_dims(ctx, ctx.input_shape(0), ctx.input_shape(3)))
