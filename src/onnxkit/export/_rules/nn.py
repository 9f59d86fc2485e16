"""Neural-network layers: matmul family, convolution, normalization, pooling, softmax, resize."""

from __future__ import annotations

import math

import numpy as np

from ...ir import DataType
from .. import _custom_ops
from .._registry import conversion_rule
from ._util import aten, norm_dim


@conversion_rule(aten.mm.default, aten.bmm.default, aten.matmul.default)
def mm(ctx, a, b):
    return ctx.o.MatMul(a, b)


@conversion_rule(aten.addmm.default)
def addmm(ctx, bias, a, b, beta=1, alpha=1):
    if beta == 1 and alpha == 1:
        return ctx.o.Add(ctx.o.MatMul(a, b), bias)
    return ctx.o.Gemm(a, b, bias, alpha=float(alpha), beta=float(beta))


@conversion_rule(aten.baddbmm.default)
def baddbmm(ctx, bias, a, b, beta=1, alpha=1):
    dt = ctx.out_dtype()
    p = ctx.o.MatMul(a, b)
    if alpha != 1:
        p = ctx.o.Mul(p, ctx.const(float(alpha), dt))
    if beta == 0:
        return p
    if beta != 1:
        bias = ctx.o.Mul(bias, ctx.const(float(beta), dt))
    return ctx.o.Add(p, bias)


@conversion_rule(aten.linear.default, _custom_ops.linear)
def linear(ctx, x, w, b=None):
    y = ctx.o.MatMul(x, ctx.o.Transpose(w, perm=[1, 0]))
    return y if b is None else ctx.o.Add(y, b)


@conversion_rule(_custom_ops.sdpa)
def sdpa(ctx, q, k, v, attn_mask, is_causal, scale, enable_gqa=False):
    """Scaled dot-product attention as PyTorch's math kernel computes it: q and k^T each
    scaled by sqrt(scale), the mask added (a boolean one as 0 / -inf), softmax, and rows
    whose every score is -inf give zeros (``_safe_softmax``).  With ``enable_gqa`` each
    key/value head serves a group of query heads."""
    dt = ctx.dtype(q)
    r = ctx.rank(q)
    if enable_gqa:
        hq, hk = ctx.arg_meta(0).shape[-3], ctx.arg_meta(1).shape[-3]
        k, v = (_repeat_heads(ctx, x, hq // hk, hq, int(ctx.arg_meta(i).shape[-1]))
                for i, x in ((1, k), (2, v)))
    if scale is None:
        scale = 1.0 / math.sqrt(ctx.arg_meta(0).shape[-1])
    root = ctx.const(math.sqrt(scale), dt)
    perm = list(range(r - 2)) + [r - 1, r - 2]
    kt = ctx.o.Mul(ctx.o.Transpose(k, perm=perm), root)
    scores = ctx.o.MatMul(ctx.o.Mul(q, root), kt)
    ninf = ctx.const(float("-inf"), dt)
    zero = ctx.const(0.0, dt)
    if is_causal:
        lq, lk = ctx.dim(q, -2), ctx.dim(k, -2)
        ones = ctx.o.ConstantOfShape(ctx.ints([lq, lk]), value=np.ones([1], np.bool_))
        attn_mask = ctx.o.Trilu(ones, upper=0)
        ctx.typed(attn_mask, DataType.BOOL, [None, None])
    if attn_mask is not None:
        if ctx.dtype(attn_mask) == DataType.BOOL:
            attn_mask = ctx.o.Where(attn_mask, zero, ninf)
        scores = ctx.o.Add(scores, attn_mask)
    p = ctx.o.Softmax(scores, axis=-1)
    if attn_mask is not None and not is_causal:  # a causal mask leaves every row a key
        dead = ctx.o.Equal(ctx.o.ReduceMax(scores, ctx.axes([-1]), keepdims=1), ninf)
        p = ctx.o.Where(dead, zero, p)
    return ctx.o.MatMul(p, v)


def _repeat_heads(ctx, x, n, heads, e):
    """(..., H, S, E) -> (..., H * n, S, E), each head repeated n times in place."""
    r = ctx.rank(x)
    x = ctx.o.Unsqueeze(x, ctx.axes([r - 2]))
    x = ctx.o.Expand(x, ctx.ints([1] * (r - 2) + [n, 1, 1]))
    return ctx.o.Reshape(x, ctx.ints([0] * (r - 3) + [heads, -1, e]))


@conversion_rule(aten.convolution.default, aten._convolution.default)
def convolution(ctx, x, w, b, stride, padding, dilation, transposed, output_padding, groups, *rest):
    nd = ctx.rank(x) - 2
    stride = list(stride) * (nd if len(stride) == 1 else 1)
    padding = list(padding) * (nd if len(padding) == 1 else 1)
    dilation = list(dilation) * (nd if len(dilation) == 1 else 1)
    attrs = dict(strides=stride, pads=padding + padding, dilations=dilation, group=int(groups))
    wshape = ctx.arg_meta(1).shape
    attrs["kernel_shape"] = [int(k) for k in wshape[2:]]
    if transposed:
        op = list(output_padding) * (nd if len(output_padding) == 1 else 1)
        if any(op):
            attrs["output_padding"] = op
        return ctx.o.ConvTranspose(x, w, b, **attrs)
    return ctx.o.Conv(x, w, b, **attrs)


def _channel_param(ctx, v, c, fill, dt):
    if v is not None:
        return v
    if not isinstance(c, int):
        raise ctx.error("normalization without weight/bias over a symbolic channel count")
    return ctx.const(np.full([c], fill, dtype=dt.numpy_dtype))


@conversion_rule(aten._native_batch_norm_legit_no_training.default)
def batch_norm_inference(ctx, x, w, b, mean, var, momentum, eps):
    dt = ctx.dtype(x)
    c = ctx.arg_meta(0).shape[1]
    w = _channel_param(ctx, w, c, 1.0, dt)
    b = _channel_param(ctx, b, c, 0.0, dt)
    y = ctx.o.BatchNormalization(x, w, b, mean, var, epsilon=float(eps))
    return y, None, None


@conversion_rule(aten._native_batch_norm_legit.default, aten.native_batch_norm.default,
                 aten._native_batch_norm_legit_functional.default)
def batch_norm(ctx, x, w, b, mean, var, training, momentum, eps):
    if training:
        raise ctx.error("batch norm in training mode (batch statistics) is exported only in eval "
                        "mode; call model.eval() before exporting")
    y, _, _ = batch_norm_inference(ctx, x, w, b, mean, var, momentum, eps)
    if ctx.node.target is aten._native_batch_norm_legit_functional.default:
        return y, None, None, mean, var
    return y, None, None


@conversion_rule(aten.native_layer_norm.default)
def layer_norm(ctx, x, normalized_shape, w, b, eps):
    dt = ctx.dtype(x)
    n = len(normalized_shape)
    if w is None or b is None:
        if not all(isinstance(d, int) for d in normalized_shape):
            raise ctx.error("layer_norm without weight over a symbolic shape")
    if w is None:
        w = ctx.const(np.ones(list(normalized_shape), dtype=dt.numpy_dtype))
    y = ctx.o.LayerNormalization(x, w, b, axis=-n, epsilon=float(eps))
    return y, None, None


@conversion_rule(aten.native_group_norm.default)
def group_norm(ctx, x, w, b, N, C, HxW, groups, eps):
    dt = ctx.dtype(x)
    r = ctx.rank(x)
    xs = ctx.o.Reshape(x, ctx.ints([0, int(groups), -1]))
    mean = ctx.o.ReduceMean(xs, ctx.axes([2]), keepdims=1)
    dev = ctx.o.Sub(xs, mean)
    var = ctx.o.ReduceMean(ctx.o.Mul(dev, dev), ctx.axes([2]), keepdims=1)
    y = ctx.o.Div(dev, ctx.o.Sqrt(ctx.o.Add(var, ctx.const(float(eps), dt))))
    y = ctx.o.Reshape(y, ctx.shape(x))
    cshape = ctx.ints([-1] + [1] * (r - 2))
    if w is not None:
        y = ctx.o.Mul(y, ctx.o.Reshape(w, cshape))
    if b is not None:
        y = ctx.o.Add(y, ctx.o.Reshape(b, cshape))
    return y, None, None


@conversion_rule(aten._softmax.default, aten.softmax.int)
def softmax(ctx, x, dim, half_to_float=False):
    dt = ctx.out_dtype()
    return ctx.o.Softmax(ctx.cast(x, dt), axis=norm_dim(dim, ctx.rank(x)))


@conversion_rule(aten._log_softmax.default, aten.log_softmax.int)
def log_softmax(ctx, x, dim, half_to_float=False):
    dt = ctx.out_dtype()
    return ctx.o.LogSoftmax(ctx.cast(x, dt), axis=norm_dim(dim, ctx.rank(x)))


def _pool_attrs(nd, kernel, stride, padding, dilation=None, ceil_mode=False):
    kernel = list(kernel) * (nd if len(kernel) == 1 else 1)
    stride = list(stride or kernel) * (nd if stride and len(stride) == 1 else 1)
    padding = list(padding) * (nd if len(padding) == 1 else 1)
    attrs = dict(kernel_shape=kernel, strides=stride, pads=padding + padding, ceil_mode=int(ceil_mode))
    if dilation is not None:
        dilation = list(dilation) * (nd if len(dilation) == 1 else 1)
        attrs["dilations"] = dilation
    return attrs


@conversion_rule(aten.max_pool2d_with_indices.default, aten.max_pool1d_with_indices.default,
                 aten.max_pool3d_with_indices.default)
def max_pool_with_indices(ctx, x, kernel, stride=(), padding=(0,), dilation=(1,), ceil_mode=False):
    nd = ctx.rank(x) - 2
    y = ctx.o.MaxPool(x, **_pool_attrs(nd, kernel, stride, padding, dilation, ceil_mode))
    return y, None


@conversion_rule(aten.max_pool2d.default)
def max_pool(ctx, x, kernel, stride=(), padding=(0,), dilation=(1,), ceil_mode=False):
    return ctx.o.MaxPool(x, **_pool_attrs(ctx.rank(x) - 2, kernel, stride, padding, dilation, ceil_mode))


@conversion_rule(aten.avg_pool2d.default, aten.avg_pool1d.default, aten.avg_pool3d.default)
def avg_pool(ctx, x, kernel, stride=(), padding=(0,), ceil_mode=False, count_include_pad=True,
             divisor_override=None):
    if divisor_override is not None:
        raise ctx.error("avg_pool with divisor_override is not supported yet")
    attrs = _pool_attrs(ctx.rank(x) - 2, kernel, stride, padding, None, ceil_mode)
    return ctx.o.AveragePool(x, count_include_pad=int(count_include_pad), **attrs)


@conversion_rule(aten._adaptive_avg_pool2d.default, aten.adaptive_avg_pool2d.default,
                 aten._adaptive_avg_pool1d.default if hasattr(aten, "_adaptive_avg_pool1d") else aten.adaptive_avg_pool1d.default)
def adaptive_avg_pool(ctx, x, output_size):
    if all(o == 1 for o in output_size):
        return ctx.o.GlobalAveragePool(x)
    shape = ctx.arg_meta(0).shape[2:]
    if all(isinstance(s, int) and s % o == 0 for s, o in zip(shape, output_size)):
        k = [s // o for s, o in zip(shape, output_size)]
        return ctx.o.AveragePool(x, kernel_shape=k, strides=k)
    raise ctx.error("adaptive average pooling to a size that does not divide the input "
                    "(or over symbolic sizes) is not supported yet")


def _resize(ctx, x, output_size, scales, mode, align_corners=False):
    if output_size is not None:
        sizes = ctx.o.Concat(ctx.o.Slice(ctx.shape(x), ctx.ints([0]), ctx.ints([2]), ctx.axes([0])),
                       ctx.ints(output_size), axis=0)
        scales_v = None
    else:
        sizes = None
        scales_v = ctx.const([1.0, 1.0] + [float(s) for s in scales], DataType.FLOAT)
    if mode == "nearest":
        attrs = dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    else:
        attrs = dict(mode="linear", coordinate_transformation_mode="align_corners" if align_corners
                     else "pytorch_half_pixel")
    return ctx.o.Resize(x, None, scales_v, sizes, **attrs)


@conversion_rule(aten.upsample_nearest2d.default, aten.upsample_nearest1d.default)
def upsample_nearest(ctx, x, output_size, *scales):
    out = ctx.meta().shape[2:]
    return _resize(ctx, x, None if any(not isinstance(s, int) for s in out) and scales and scales[0] else output_size,
                   [s for s in scales if s is not None], "nearest")


@conversion_rule(aten.upsample_nearest2d.vec)
def upsample_nearest_vec(ctx, x, output_size, scales):
    return _resize(ctx, x, output_size, scales, "nearest")


@conversion_rule(aten.upsample_bilinear2d.default)
def upsample_bilinear(ctx, x, output_size, align_corners, *scales):
    return _resize(ctx, x, output_size, scales, "linear", align_corners)


@conversion_rule(aten.upsample_bilinear2d.vec)
def upsample_bilinear_vec(ctx, x, output_size, align_corners, scales):
    return _resize(ctx, x, output_size, scales, "linear", align_corners)
