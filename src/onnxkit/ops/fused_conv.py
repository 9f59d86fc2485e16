"""Channels-last convolution and pooling: ``ai.onnxkit`` ops ``NhwcConv`` and
``NhwcMaxPool`` (version 1), which the runtime-level pass ``passes/nhwc.py``
puts in place of Conv chains.

Why channels last: numpy's only fast primitive is BLAS GEMM.  With
activations laid out (N, H, W, C), a 1x1 convolution *is* one GEMM over the
N*H*W pixel rows with no copy at all, and a KxK convolution needs a patch
copy whose inner runs are whole contiguous channel vectors.  In NCHW both
need a transpose per layer.

``NhwcConv(X, W, B?, Z?)``
    ``X``: (N, H, W, C).  ``W``: prepacked (KH, KW, C/group, M) -- the spec's
    (M, C/group, KH, KW) transposed once by the pass, so a run does no weight
    work.  ``B``: (M,) bias.  ``Z``: an optional residual, added before the
    activation (broadcast like ``Add`` in NHWC order).  Attributes as Conv's
    (``strides``, ``pads``, ``dilations``, ``group``, ``auto_pad``) plus
    ``activation`` ("" none, "Relu", "Clip", "LeakyRelu", "Sigmoid",
    "HardSigmoid", "HardSwish") and ``activation_params`` (Clip: min, max;
    LeakyRelu: alpha; HardSigmoid: alpha, beta).  Output (N, OH, OW, M).

How a convolution is computed (measured against onnxruntime on 2 cores;
see tests/ops/test_fast_conv.py for the oracles):

- 1x1, stride 1, no padding: one GEMM, (N*H*W, C) @ (C, M).
- stride 1 along H (3x3 and most others): a "row im2col" -- patches over the
  kernel *width* only, (N, Hp, OW, KW*C) in one contiguous copy, then one GEMM
  per kernel row over a row-offset slice of the same buffer, accumulated.  A
  third of a full im2col's copy; faster than it and than nine shifted GEMMs.
- other strides (the 7x7/2 stem, 3x3/2): a full im2col, one copy, one GEMM
  (a batch a few images at a time when its patches pass 16 MB).
- depthwise (group == C == M): ``einsum`` over a strided window view, whose
  inner loop runs over contiguous channels.
- other groups: the full im2col, one batched GEMM over the groups.

Winograd F(2x2,3x3) was measured too: with its input and output transforms
done as single-threaded numpy passes it lost to the row im2col at every
ResNet shape, so it is not used.

``NhwcMaxPool(X)``: MaxPool's attributes (no Indices output), NHWC in and out;
a separable max (over the kernel width, then its height) of strided views.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import _parallel
from ._registry import kernel, shape
from .nn_common import conv_pads, pool_out_dim, spatial_attrs

__all__ = ["nhwc_conv", "nhwc_max_pool", "apply_activation", "ACTIVATIONS"]

DOMAIN = "ai.onnxkit"

#: activations NhwcConv fuses, with the number of float parameters each takes
ACTIVATIONS = {"": 0, "Relu": 0, "Clip": 2, "LeakyRelu": 1, "Sigmoid": 0, "HardSigmoid": 2, "HardSwish": 0}


def apply_activation(y: np.ndarray, activation: str, params: Sequence[float]) -> np.ndarray:
    """``activation`` applied to ``y`` in place (``y`` is a fresh buffer)."""
    if not activation:
        return y
    if activation == "Relu":
        return np.maximum(y, 0, out=y)
    if activation == "Clip":
        lo, hi = params
        if lo > -np.inf and hi < np.inf:                   # one pass (ReLU6): half of max + min
            return np.clip(y, y.dtype.type(lo), y.dtype.type(hi), out=y)
        if lo > -np.inf:
            np.maximum(y, y.dtype.type(lo), out=y)
        if hi < np.inf:
            np.minimum(y, y.dtype.type(hi), out=y)
        return y
    if activation == "LeakyRelu":
        neg = y < 0
        y[neg] *= y.dtype.type(params[0])
        return y
    if activation == "Sigmoid":
        # 1 / (1 + exp(-y)), written without overflow warnings for large |y|
        with np.errstate(over="ignore"):
            np.negative(y, out=y)
            np.exp(y, out=y)
        y += 1
        return np.reciprocal(y, out=y)
    if activation in ("HardSigmoid", "HardSwish"):
        alpha, beta = params if activation == "HardSigmoid" else (1.0 / 6, 0.5)
        hs = y * y.dtype.type(alpha)
        hs += y.dtype.type(beta)
        np.clip(hs, 0, 1, out=hs)
        if activation == "HardSigmoid":
            return hs
        y *= hs
        return y
    raise ValueError(f"NhwcConv: unknown activation {activation!r}; expected one of {sorted(ACTIVATIONS)}")


def _pad_nhwc(x: np.ndarray, pads: Sequence[int]) -> np.ndarray:
    """``x`` (N, H, W, C) with (top, left, bottom, right) zero pads, one copy (or none)."""
    t, l, b, r = pads
    if not (t or l or b or r):
        return x
    n, h, w, c = x.shape
    xp = np.zeros((n, h + t + b, w + l + r, c), dtype=x.dtype)
    xp[:, t:t + h, l:l + w] = x
    return xp


def _geometry(x_hw, ks, strides, dilations, pads, auto_pad):
    _, s, d, p = spatial_attrs(2, ks, strides, dilations, pads)
    p = conv_pads(x_hw, ks, s, d, p, auto_pad)
    out = [(x_hw[i] + p[i] + p[i + 2] - (ks[i] - 1) * d[i] - 1) // s[i] + 1 for i in range(2)]
    return s, d, p, out


def _windows(xp: np.ndarray, oh: int, ow: int, ks, s, d) -> np.ndarray:
    """Read-only view (N, OH, OW, KH, KW, C) of the padded ``xp``: the patch of
    every output pixel, channels innermost."""
    st = xp.strides
    return as_strided(xp, (xp.shape[0], oh, ow, ks[0], ks[1], xp.shape[3]),
                      (st[0], s[0] * st[1], s[1] * st[2], d[0] * st[1], d[1] * st[2], st[3]), writeable=False)


#: the most bytes of patches copied at once: a batch whose patches are bigger is
#: done a few images at a time.  ResNet-50's 7x7/2 stem at batch 8 (59 MB of
#: patches) runs 2x faster in 16 MB pieces (they stay in cache for the GEMM).
_IM2COL_BYTES = 16 << 20


def _copy_rows(win: np.ndarray) -> np.ndarray:
    """A contiguous copy of the window view (N, OH, ...), over pieces of its
    rows when onnxkit's own threads may run."""
    if _parallel.workers() < _parallel.MIN_WORKERS or win.shape[1] < 2:
        return np.ascontiguousarray(win)
    cols = np.empty(win.shape, win.dtype)
    _parallel.split_rows(win.shape[1], lambda i, j: np.copyto(cols[:, i:j], win[:, i:j]),
                         row_work=win.size // win.shape[1])
    return cols


def _im2col_gemm(xp: np.ndarray, w: np.ndarray, oh: int, ow: int, ks, s, d) -> np.ndarray:
    """The full im2col: every patch copied, then one GEMM, (N*OH*OW, M)."""
    n, _, _, c = xp.shape
    m = w.shape[-1]
    k = ks[0] * ks[1] * c
    win = _windows(xp, oh, ow, ks, s, d)
    w2 = w.reshape(k, m)
    step = max(1, min(n, _IM2COL_BYTES // max(1, oh * ow * k * xp.itemsize)))
    if step == n:
        return _parallel.gemm(_copy_rows(win).reshape(n * oh * ow, k), w2)
    y = np.empty((n, oh * ow, m), np.result_type(xp.dtype, w.dtype))
    cols = np.empty((step, oh, ow, ks[0], ks[1], c), xp.dtype)
    for b in range(0, n, step):
        e = min(n, b + step)
        np.copyto(cols[:e - b], win[b:e])
        _parallel.gemm(cols[:e - b].reshape(-1, k), w2, out=y[b:e].reshape(-1, m))
    return y.reshape(n * oh * ow, m)


def _conv_dense(xp: np.ndarray, w: np.ndarray, oh: int, ow: int, ks, s, d) -> np.ndarray:
    """group == 1 on the padded input: (N*OH*OW, M)."""
    n, hp, _, c = xp.shape
    m = w.shape[-1]
    if ks == [1, 1] and s == [1, 1]:
        return _parallel.gemm(xp.reshape(n * oh * ow, c), w.reshape(c, m))
    if ks[0] == 1 or s[0] != 1 or (n > 1 and oh * ow <= 400):     # full im2col: one copy, one GEMM
        # (for a batch of small images too: one GEMM over all their pixels beats a small GEMM per
        # image and kernel row -- measured at 14x14 and 7x7; at 28x28 and up the row copy wins)
        return _im2col_gemm(xp, w, oh, ow, ks, s, d)
    # stride 1 along H: patches over the kernel width for every padded row, then
    # kernel row i is the same buffer read from row i*dh on (a contiguous slice)
    st = xp.strides
    src = as_strided(xp, (n, hp, ow, ks[1], c), (st[0], st[1], s[1] * st[2], d[1] * st[2], st[3]),
                     writeable=False)
    if _parallel.workers() >= _parallel.MIN_WORKERS:        # the copy over pieces of the padded rows
        rows = np.empty(src.shape, xp.dtype)
        _parallel.split_rows(hp, lambda i, j: np.copyto(rows[:, i:j], src[:, i:j]), row_work=n * ow * ks[1] * c)
    else:
        rows = np.ascontiguousarray(src)
    flat = rows.reshape(n, hp * ow, ks[1] * c)
    wr = w.reshape(ks[0], ks[1] * c, m)
    span = oh * ow
    acc = np.empty((n, span, m), np.result_type(flat.dtype, wr.dtype))
    tmp = np.empty((span, m), acc.dtype) if ks[0] > 1 else None
    for b in range(n):      # 2-D products: numpy's batched matmul leaves BLAS for these strided slices
        _parallel.gemm(flat[b, 0:span], wr[0], out=acc[b])
        for i in range(1, ks[0]):
            off = i * d[0] * ow
            _parallel.gemm(flat[b, off:off + span], wr[i], out=tmp)
            acc[b] += tmp
    return acc.reshape(n * span, m)


def _conv_grouped(xp: np.ndarray, w: np.ndarray, oh: int, ow: int, ks, s, d, group: int) -> np.ndarray:
    n, _, _, c = xp.shape
    kh, kw, cg, m = w.shape
    mg = m // group
    win = _windows(xp, oh, ow, ks, s, d)
    if cg == 1 and mg == 1:                                       # depthwise
        wd = w.reshape(kh, kw, c)
        if _parallel.workers() >= _parallel.MIN_WORKERS:    # over pieces of the output rows
            y = np.empty((n, oh, ow, c), np.result_type(xp.dtype, w.dtype))
            _parallel.split_rows(oh, lambda i, j: np.einsum("nhwijc,ijc->nhwc", win[:, i:j], wd, out=y[:, i:j]),
                                 row_work=n * ow * c * kh * kw)
        else:
            y = np.einsum("nhwijc,ijc->nhwc", win, wd)
        return y.reshape(n * oh * ow, m)
    p = n * oh * ow
    # one copy: (G, N, OH, OW, KH, KW, Cg), so each group's patches are one GEMM operand
    cols = np.ascontiguousarray(win.reshape(n, oh, ow, kh, kw, group, cg).transpose(5, 0, 1, 2, 3, 4, 6))
    wg = np.moveaxis(w.reshape(kh, kw, cg, group, mg), 3, 0).reshape(group, kh * kw * cg, mg)
    y = np.matmul(cols.reshape(group, p, kh * kw * cg), wg)       # (G, P, Mg)
    return np.ascontiguousarray(y.transpose(1, 0, 2)).reshape(p, m)


def nhwc_conv_core(x: np.ndarray, w: np.ndarray, *, auto_pad: str = "NOTSET", dilations=None, group: int = 1,
                   pads=None, strides=None) -> np.ndarray:
    """The convolution of ``x`` (N, H, W, C) with the prepacked ``w`` (KH, KW, C/group, M):
    a fresh, writable (N, OH, OW, M) array."""
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"NhwcConv takes a 4-D input and weight, got shapes {list(x.shape)} and {list(w.shape)}")
    n, h, wd, c = x.shape
    kh, kw, cg, m = w.shape
    if cg * group != c or m % group:
        raise ValueError(f"NhwcConv: weight shape {list(w.shape)} (KH, KW, C/group, M) does not fit "
                         f"{c} input channels in {group} groups")
    ks = [kh, kw]
    s, d, p, (oh, ow) = _geometry((h, wd), ks, strides, dilations, pads, auto_pad)
    if min(p) < 0:
        raise ValueError(f"NhwcConv: negative pads {p}")
    xp = _pad_nhwc(x, p)
    if group == 1:
        y = _conv_dense(xp, w, oh, ow, ks, s, d)
    else:
        y = _conv_grouped(xp, w, oh, ow, ks, s, d, group)
    return y.reshape(n, oh, ow, m)


@kernel("NhwcConv", 1, domain=DOMAIN)
def nhwc_conv(x, w, b=None, z=None, *, activation="", activation_params=None, auto_pad="NOTSET",
              dilations=None, group=1, kernel_shape=None, pads=None, strides=None):
    y = nhwc_conv_core(x, w.astype(x.dtype, copy=False), auto_pad=auto_pad, dilations=dilations,
                       group=group, pads=pads, strides=strides)
    if y.size >= _parallel.DEFAULT_MIN_WORK and (z is None or z.shape == y.shape) \
            and _parallel.workers() >= _parallel.MIN_WORKERS:
        params = list(activation_params or ())      # the epilogue over pieces of the pixel rows
        bias = b.astype(y.dtype, copy=False) if b is not None else None
        y2, z2 = y.reshape(-1, y.shape[-1]), (z.reshape(-1, z.shape[-1]) if z is not None else None)

        def epilogue(i: int, j: int) -> None:
            if bias is not None:
                y2[i:j] += bias
            if z2 is not None:
                y2[i:j] += z2[i:j]
            apply_activation(y2[i:j], activation, params)
        _parallel.split_rows(y2.shape[0], epilogue, row_work=y2.shape[1])
        return y
    if b is not None:
        y += b.astype(y.dtype, copy=False)
    if z is not None:
        if z.shape == y.shape:
            y += z
        else:
            y = y + z
    return apply_activation(y, activation, list(activation_params or ()))


@shape("NhwcConv", 1, domain=DOMAIN)
def nhwc_conv_shape(ctx):
    xs, ws = ctx.input_shape(0), ctx.input_shape(1)
    dt = ctx.input_dtype(0)
    m = ws[3] if ws is not None and len(ws) == 4 else None
    if xs is None or len(xs) != 4:
        ctx.set_output(0, dt, None if xs is None else [None] * 4)
        return
    ks = ctx.attr("kernel_shape") or (list(ws[:2]) if ws is not None else None)
    if ks is None or not all(isinstance(k, int) for k in ks):
        ctx.set_output(0, dt, [xs[0], None, None, m])
        return
    _, s, d, p = spatial_attrs(2, ks, ctx.attr("strides"), ctx.attr("dilations"), ctx.attr("pads"))
    auto_pad = ctx.attr("auto_pad", "NOTSET") or "NOTSET"
    dims = [pool_out_dim(xs[1 + i], ks[i], s[i], d[i], p[i], p[i + 2], auto_pad) for i in range(2)]
    ctx.set_output(0, dt, [xs[0], dims[0], dims[1], m])


# ------------------------------------------------------------------ pooling
def _axis_max(x: np.ndarray, axis: int, n_out: int, k: int, s: int, d: int, lo_pad: int, low) -> np.ndarray:
    """Max over the pooling windows along one ``axis`` of unpadded ``x``: output
    o reads x[o*s + j*d - lo_pad] for the taps j that land inside ``x``; a
    window wholly in the padding gives ``low``.  No padded copy is made."""
    size = x.shape[axis]
    spans = []                                           # (first o, end o, x index of the first o)
    for j in range(k):
        off = j * d - lo_pad
        o0 = 0 if off >= 0 else (s - 1 - off) // s
        o1 = min(n_out, (size - 1 - off) // s + 1) if off <= size - 1 else 0
        if o1 > o0:
            spans.append((o0, o1, o0 * s + off))

    def cut(a: int, b: int, step: int = 1) -> tuple:
        return (slice(None),) * axis + (slice(a, b, step),)

    whole = next((t for t in spans if t[0] == 0 and t[1] == n_out), None)
    if whole is not None:                                # a tap every output reads: start from it
        spans.remove(whole)
        y = np.array(x[cut(whole[2], whole[2] + (n_out - 1) * s + 1, s)])
    else:
        shape_ = list(x.shape)
        shape_[axis] = n_out
        y = np.full(shape_, low, x.dtype)
    for o0, o1, i0 in spans:
        part = y[cut(o0, o1)]
        np.maximum(part, x[cut(i0, i0 + (o1 - o0 - 1) * s + 1, s)], out=part)
    return y


@kernel("NhwcMaxPool", 1, domain=DOMAIN)
def nhwc_max_pool(x, *, auto_pad="NOTSET", ceil_mode=0, dilations=None, kernel_shape=None, pads=None,
                  storage_order=0, strides=None):
    if x.ndim != 4:
        raise ValueError(f"NhwcMaxPool takes a 4-D (N, H, W, C) input, got shape {list(x.shape)}")
    ks, s, d, p = spatial_attrs(2, kernel_shape, strides, dilations, pads)
    hw = x.shape[1:3]
    out = [pool_out_dim(hw[i], ks[i], s[i], d[i], p[i], p[i + 2], auto_pad, ceil_mode) for i in range(2)]
    p = conv_pads(hw, ks, s, d, p, auto_pad)
    # separable: over the kernel width into (N, H, OW, C), then over its height -- KH + KW
    # passes instead of KH * KW, on the input as it is (taps past an edge are skipped, which
    # also covers ceil_mode's windows that run past the end padding)
    low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min

    def pool(xc: np.ndarray) -> np.ndarray:
        rows = _axis_max(xc, 2, out[1], ks[1], s[1], d[1], p[1], low)
        return _axis_max(rows, 1, out[0], ks[0], s[0], d[0], p[0], low)
    c = x.shape[3]
    if c < 2 or x.size < _parallel.DEFAULT_MIN_WORK or _parallel.workers() < _parallel.MIN_WORKERS:
        return pool(x)
    y = np.empty((x.shape[0], out[0], out[1], c), x.dtype)     # over pieces of the channels

    def piece(i: int, j: int) -> None:
        y[..., i:j] = pool(x[..., i:j])
    _parallel.split_rows(c, piece, row_work=x.size // c)
    return y


@shape("NhwcMaxPool", 1, domain=DOMAIN)
def nhwc_max_pool_shape(ctx):
    xs = ctx.input_shape(0)
    dt = ctx.input_dtype(0)
    ks = ctx.attr("kernel_shape")
    if xs is None or ks is None or len(xs) != 4:
        ctx.set_output(0, dt, None if xs is None else [None] * len(xs))
        return
    _, s, d, p = spatial_attrs(2, ks, ctx.attr("strides"), ctx.attr("dilations"), ctx.attr("pads"))
    auto_pad = ctx.attr("auto_pad", "NOTSET") or "NOTSET"
    ceil_mode = ctx.attr("ceil_mode", 0)
    dims = [pool_out_dim(xs[1 + i], ks[i], s[i], d[i], p[i], p[i + 2], auto_pad, ceil_mode) for i in range(2)]
    ctx.set_output(0, dt, [xs[0], dims[0], dims[1], xs[3]])

