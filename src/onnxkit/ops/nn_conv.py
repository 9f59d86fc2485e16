"""Convolutions: Conv, ConvTranspose, DeformConv, Col2Im, CausalConvWithState.

Conv is an im2col (a strided sliding-window view, copied once into patches)
followed by one batched matmul over the groups; a 1x1 convolution is a plain
matmul.  ConvTranspose and Col2Im scatter-add one kernel tap at a time.
"""

from __future__ import annotations

import itertools
from typing import Any, Sequence

import numpy as np

from ._registry import kernel, shape
from ._shape import Dim, add, floordiv, mul, prod, sub
from .nn_common import compute_dtype, conv_pads, conv_shape_dims, pad_spatial, spatial_attrs, windows

__all__ = ["conv_core", "col2im_add"]


def conv_core(x: np.ndarray, w: np.ndarray, *, auto_pad: str = "NOTSET", dilations=None, group: int = 1,
              kernel_shape=None, pads=None, strides=None) -> np.ndarray:
    """N-d grouped convolution of ``x`` (N, C, *S) with ``w`` (M, C/group, *K),
    computed in the dtype of the inputs (no bias, no cast)."""
    nsp = x.ndim - 2
    ks = list(w.shape[2:])
    _, s, d, p = spatial_attrs(nsp, ks, strides, dilations, pads)
    p = conv_pads(x.shape[2:], ks, s, d, p, auto_pad)
    xp = pad_spatial(x, p)
    n, c = x.shape[:2]
    m = w.shape[0]
    cg, mg = c // group, m // group
    if w.shape[1] != cg or m % group:
        raise ValueError(f"weight shape {list(w.shape)} does not fit {c} input channels in {group} groups")
    out = [(xp.shape[2 + i] - ((ks[i] - 1) * d[i] + 1)) // s[i] + 1 for i in range(nsp)]
    npos = int(np.prod(out))
    kk = int(np.prod(ks))
    if kk == 1:
        xs = xp[(slice(None), slice(None)) + tuple(slice(0, (o - 1) * st + 1, st) for o, st in zip(out, s))]
        if group == 1:                                               # one GEMM per image, no transposes
            y = np.matmul(w.reshape(m, c), xs.reshape(n, c, npos))
            return y.reshape(n, m, *out)
        cols = xs.reshape(n, group, cg, npos)                        # (N, G, Cg, P)
        y = np.matmul(w.reshape(group, mg, cg), cols)                # (N, G, Mg, P)
        return y.reshape(n, m, *out)
    win = windows(xp, ks, s, d, out)                                 # (N, C, *O, *K)
    if cg == 1:                                                      # depthwise: one pass per kernel tap
        wt = w.reshape(c, mg, kk)
        acc = np.zeros((n, c, mg, *out), dtype=np.result_type(x.dtype, w.dtype))
        tail = (None,) + (slice(None),) * nsp
        for t, tap in enumerate(np.ndindex(*ks)):
            acc += win[(Ellipsis,) + tap][(slice(None), slice(None)) + tail] * \
                wt[:, :, t].reshape((1, c, mg) + (1,) * nsp)
        return acc.reshape(n, m, *out)
    win = win.reshape(n, group, cg, *out, *ks)
    perm = (0, 1) + tuple(range(3, 3 + nsp)) + (2,) + tuple(range(3 + nsp, 3 + 2 * nsp))
    cols = win.transpose(perm).reshape(n, group, npos, cg * kk)      # (N, G, P, Cg*K): the one copy
    wt = w.reshape(group, mg, cg * kk).transpose(0, 2, 1)           # (G, Cg*K, Mg)
    if group == 1:                                                   # one GEMM for the whole batch
        y = np.matmul(cols.reshape(n * npos, cg * kk), wt[0]).reshape(n, npos, m)
        return y.transpose(0, 2, 1).reshape(n, m, *out)
    y = np.matmul(cols, wt)                                          # (N, G, P, Mg)
    return y.transpose(0, 1, 3, 2).reshape(n, m, *out)


def _add_bias(y: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    if b is not None:
        y += b.astype(y.dtype).reshape((1, -1) + (1,) * (y.ndim - 2))
    return y


@kernel("Conv", 1)
def conv(x, w, b=None, *, auto_pad="NOTSET", dilations=None, group=1, kernel_shape=None, pads=None,
         strides=None):
    ct = compute_dtype(x.dtype)
    y = conv_core(x.astype(ct, copy=False), w.astype(ct, copy=False), auto_pad=auto_pad,
                  dilations=dilations, group=group, pads=pads, strides=strides)
    return _add_bias(y, b).astype(x.dtype, copy=False)


def _conv_shape(ctx, x_idx: int = 0, w_idx: int = 1, out_dtype: Any = None) -> None:
    xs, ws = ctx.input_shape(x_idx), ctx.input_shape(w_idx)
    dtype = out_dtype if out_dtype is not None else ctx.input_dtype(x_idx)
    if xs is None:
        rank = len(ws) if ws is not None else None
        ctx.set_output(0, dtype, None if rank is None else [None] * rank)
        return
    if len(xs) < 3:
        ctx.fail(f"the input must have rank >= 3 (N, C, spatial...), got rank {len(xs)}")
        return
    nsp = len(xs) - 2
    ks = ctx.attr("kernel_shape")
    if ks is None and ws is not None:
        ks = ws[2:]
    m = ws[0] if ws is not None else None
    if ks is None:
        ctx.set_output(0, dtype, [xs[0], m] + [None] * nsp)
        return
    if len(ks) != nsp:
        ctx.fail(f"kernel_shape {list(ks)} has {len(ks)} dims, the input {nsp} spatial dims")
        return
    ctx.set_output(0, dtype, [xs[0], m] + conv_shape_dims(ctx, xs, ks))


@shape("Conv", 1)
def conv_shape(ctx):
    _conv_shape(ctx)


# ------------------------------------------------------------------ ConvTranspose / Col2Im
def col2im_add(cols: np.ndarray, image: Sequence[int], ks: Sequence[int], s: Sequence[int],
               d: Sequence[int], pads: Sequence[int], out_blocks: Sequence[int]) -> np.ndarray:
    """Scatter-add ``cols`` (N, C, *K, *O) into an image (N, C, *image) where tap k
    of block o lands at ``o*s + k*d - pad_begin`` (outside the image: dropped)."""
    nsp = len(ks)
    n, c = cols.shape[:2]
    full = [max((o - 1) * st + (k - 1) * dl + 1, pads[i] + image[i])
            for i, (o, st, k, dl) in enumerate(zip(out_blocks, s, ks, d))]
    buf = np.zeros((n, c, *full), dtype=cols.dtype)
    for tap in itertools.product(*(range(k) for k in ks)):
        sl = (slice(None), slice(None)) + tuple(
            slice(t * dl, t * dl + (o - 1) * st + 1, st) for t, dl, o, st in zip(tap, d, out_blocks, s))
        buf[sl] += cols[(slice(None), slice(None)) + tap]
    crop = (slice(None), slice(None)) + tuple(slice(pads[i], pads[i] + image[i]) for i in range(nsp))
    return buf[crop]


def _convtranspose_geometry(in_sizes, ks, s, d, pads, auto_pad, output_padding, output_shape):
    """(pads, output sizes) of a ConvTranspose, numeric."""
    nsp = len(in_sizes)
    op = list(output_padding) if output_padding else [0] * nsp
    natural = [s[i] * (in_sizes[i] - 1) + op[i] + (ks[i] - 1) * d[i] + 1 for i in range(nsp)]
    if output_shape is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        if output_shape is None:    # SAME: in*stride, or the natural size when that is smaller
            output_shape = [min(in_sizes[i] * s[i], natural[i]) for i in range(nsp)]
        output_shape = list(output_shape)[-nsp:]
        total = [natural[i] - output_shape[i] for i in range(nsp)]
        if auto_pad == "SAME_UPPER":
            begin = [t // 2 for t in total]
        else:
            begin = [t - t // 2 for t in total]
        begin = [max(0, b) for b in begin]      # larger than natural: the zeros go at the end
        return begin + [t - b for t, b in zip(total, begin)], output_shape
    p = list(pads) if pads else [0] * (2 * nsp)
    if auto_pad == "VALID":
        p = [0] * (2 * nsp)
    return p, [natural[i] - p[i] - p[i + nsp] for i in range(nsp)]


@kernel("ConvTranspose", 1)
def conv_transpose(x, w, b=None, *, auto_pad="NOTSET", dilations=None, group=1, kernel_shape=None,
                   output_padding=None, output_shape=None, pads=None, strides=None):
    ct = compute_dtype(x.dtype)
    nsp = x.ndim - 2
    ks = list(w.shape[2:])
    _, s, d, _ = spatial_attrs(nsp, ks, strides, dilations, pads)
    p, outs = _convtranspose_geometry(x.shape[2:], ks, s, d, pads, auto_pad, output_padding, output_shape)
    n, c = x.shape[:2]
    cg, mg = c // group, w.shape[1]
    kk = int(np.prod(ks))
    npos = int(np.prod(x.shape[2:]))
    xg = x.astype(ct, copy=False).reshape(n, group, cg, npos)
    wg = w.astype(ct, copy=False).reshape(group, cg, mg * kk).transpose(0, 2, 1)   # (G, Mg*K, Cg)
    cols = np.matmul(wg, xg).reshape(n, group * mg, *ks, *x.shape[2:])
    # a negative begin pad (output larger than the natural size) puts zeros in front
    shift = [max(0, -p[i]) for i in range(nsp)]
    y = col2im_add(cols, [o - sh for o, sh in zip(outs, shift)], ks, s, d,
                   [max(0, p[i]) for i in range(nsp)] + [0] * nsp, x.shape[2:])
    if any(shift):
        y = np.pad(y, [(0, 0), (0, 0)] + [(sh, 0) for sh in shift])
    return _add_bias(np.ascontiguousarray(y), b).astype(x.dtype, copy=False)


@shape("ConvTranspose", 1)
def conv_transpose_shape(ctx):
    xs, ws = ctx.input_shape(0), ctx.input_shape(1)
    dtype = ctx.input_dtype(0)
    if xs is None:
        ctx.set_output(0, dtype, None if ws is None else [None] * len(ws))
        return
    nsp = len(xs) - 2
    group = ctx.attr("group", 1)
    m = mul(ws[1], group) if ws is not None else None
    ks = ctx.attr("kernel_shape")
    if ks is None and ws is not None:
        ks = ws[2:]
    out_shape = ctx.attr("output_shape")
    if out_shape is not None:
        ctx.set_output(0, dtype, [xs[0], m] + list(out_shape)[-nsp:])
        return
    if ks is None:
        ctx.set_output(0, dtype, [xs[0], m] + [None] * nsp)
        return
    _, s, d, p = spatial_attrs(nsp, ks, ctx.attr("strides"), ctx.attr("dilations"), ctx.attr("pads"))
    auto_pad = ctx.attr("auto_pad", "NOTSET") or "NOTSET"
    op = ctx.attr("output_padding") or [0] * nsp
    if len(ks) != nsp or len(s) != nsp or len(d) != nsp or len(p) != 2 * nsp or len(op) != nsp:
        ctx.fail(f"kernel_shape, strides, dilations, pads or output_padding do not fit {nsp} spatial dims")
        return
    dims: list[Dim] = []
    for i in range(nsp):
        extra = add(add(mul(sub(ks[i], 1), d[i]), 1), op[i])      # (k-1)*d + 1 + output_padding
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):   # in*stride, unless that needs a negative pad
            short = sub(extra, s[i])
            dims.append(add(mul(xs[2 + i], s[i]), min(0, short)) if isinstance(short, int) else None)
        else:
            pp = 0 if auto_pad == "VALID" else p[i] + p[i + nsp]
            dims.append(add(mul(sub(xs[2 + i], 1), s[i]), sub(extra, pp)))
    ctx.set_output(0, dtype, [xs[0], m] + dims)


@kernel("Col2Im", 18)
def col2im(data, image_shape, block_shape, *, dilations=None, pads=None, strides=None):
    image = [int(v) for v in image_shape]
    ks = [int(v) for v in block_shape]
    nsp = len(image)
    _, s, d, p = spatial_attrs(nsp, ks, strides, dilations, pads)
    blocks = [(image[i] + p[i] + p[i + nsp] - (ks[i] - 1) * d[i] - 1) // s[i] + 1 for i in range(nsp)]
    n, ck, length = data.shape
    kk = int(np.prod(ks))
    if ck % kk or length != int(np.prod(blocks)):
        raise ValueError(f"input shape {list(data.shape)} does not fit block_shape {ks} and "
                         f"{blocks} sliding blocks")
    ct = compute_dtype(data.dtype) if data.dtype.kind != "b" else np.dtype(np.int64)
    cols = data.astype(ct, copy=False).reshape(n, ck // kk, *ks, *blocks)
    return np.ascontiguousarray(col2im_add(cols, image, ks, s, d, p, blocks)).astype(data.dtype, copy=False)


@shape("Col2Im", 18)
def col2im_shape(ctx):
    xs = ctx.input_shape(0)
    image = ctx.input_dims(1)
    block = ctx.input_dims(2)
    n = xs[0] if xs is not None else None
    c = None
    if xs is not None and block is not None and all(isinstance(b, int) for b in block):
        c = floordiv(xs[1], prod(block))
    if image is None:
        ishape = ctx.input_shape(1)
        k = ishape[0] if ishape is not None and len(ishape) == 1 else None
        ctx.set_output(0, ctx.input_dtype(0), None if not isinstance(k, int) else [n, c] + [None] * k)
        return
    ctx.set_output(0, ctx.input_dtype(0), [n, c] + list(image))


# ------------------------------------------------------------------ DeformConv
def _sample_multilinear(img: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Values of ``img`` (N, G, Cg, *S) at real positions ``pos`` (nsp, N, G, P),
    interpolated multilinearly, zero outside: (N, G, Cg, P)."""
    nsp = pos.shape[0]
    sizes = img.shape[3:]
    n, g, cg = img.shape[:3]
    flat = img.reshape(n, g, cg, -1)
    lo = np.floor(pos)
    frac = pos - lo
    lo = lo.astype(np.int64)
    out = np.zeros((n, g, cg, pos.shape[-1]), dtype=img.dtype)
    for corner in itertools.product((0, 1), repeat=nsp):
        idx = np.zeros(pos.shape[1:], dtype=np.int64)
        wgt = np.ones(pos.shape[1:], dtype=img.dtype)
        ok = np.ones(pos.shape[1:], dtype=bool)
        for a in range(nsp):
            ia = lo[a] + corner[a]
            ok &= (ia >= 0) & (ia < sizes[a])
            idx = idx * sizes[a] + np.clip(ia, 0, sizes[a] - 1)
            wgt = wgt * (frac[a] if corner[a] else 1 - frac[a])
        wgt = np.where(ok, wgt, 0).astype(img.dtype)
        vals = np.take_along_axis(flat, idx[:, :, None, :], axis=3)
        out += vals * wgt[:, :, None, :]
    return out


@kernel("DeformConv", 19)
def deform_conv(x, w, offset, b=None, mask=None, *, dilations=None, group=1, kernel_shape=None,
                offset_group=1, pads=None, strides=None):
    ct = compute_dtype(x.dtype)
    nsp = x.ndim - 2
    ks = list(w.shape[2:])
    _, s, d, p = spatial_attrs(nsp, ks, strides, dilations, pads)
    n, c = x.shape[:2]
    m = w.shape[0]
    out = list(offset.shape[2:])
    kk, npos = int(np.prod(ks)), int(np.prod(out))
    og = offset_group
    off = offset.astype(ct, copy=False).reshape(n, og, kk, nsp, npos)
    grids = np.meshgrid(*(np.arange(o) for o in out), indexing="ij")
    taps = np.meshgrid(*(np.arange(k) for k in ks), indexing="ij")
    pos = np.empty((nsp, n, og, kk, npos), dtype=ct)
    for a in range(nsp):
        base = (taps[a].reshape(kk, 1) * d[a] + grids[a].reshape(1, npos) * s[a] - p[a]).astype(ct)
        pos[a] = base + off[:, :, :, a, :]
    img = x.astype(ct, copy=False).reshape(n, og, c // og, *x.shape[2:])
    cols = _sample_multilinear(img, pos.reshape(nsp, n, og, kk * npos))      # (N, og, C/og, K*P)
    cols = cols.reshape(n, og, c // og, kk, npos)
    if mask is not None:
        cols = cols * mask.astype(ct, copy=False).reshape(n, og, 1, kk, npos)
    cg, mg = c // group, m // group
    cols = cols.reshape(n, group, cg * kk, npos)
    y = np.matmul(w.astype(ct, copy=False).reshape(group, mg, cg * kk), cols).reshape(n, m, *out)
    return _add_bias(y, b).astype(x.dtype, copy=False)


@shape("DeformConv", 19)
def deform_conv_shape(ctx):
    """Conv's rule; spatial dims it cannot tell are the offset's (N, *, *O)."""
    xs, ws, os_ = ctx.input_shape(0), ctx.input_shape(1), ctx.input_shape(2)
    if xs is None or os_ is None or len(os_) != len(xs) or len(xs) < 3:
        _conv_shape(ctx)
        return
    ks = ctx.attr("kernel_shape") or (ws[2:] if ws is not None else None)
    dims = conv_shape_dims(ctx, xs, ks) if ks is not None and len(ks) == len(xs) - 2 else [None] * (len(xs) - 2)
    ctx.set_output(0, ctx.input_dtype(0), [xs[0], ws[0] if ws is not None else None] +
                   [d if d is not None else o for d, o in zip(dims, os_[2:])])


# ------------------------------------------------------------------ CausalConvWithState
@kernel("CausalConvWithState", 27)
def causal_conv_with_state(x, w, b=None, past_state=None, *, activation="none"):
    if activation not in ("none", "silu", "swish"):
        raise ValueError(f"unknown activation {activation!r} (expected none, silu or swish)")
    ct = compute_dtype(x.dtype)
    bsz, c, _ = x.shape
    k = w.shape[2]
    if past_state is None:
        past_state = np.zeros((bsz, c, k - 1), dtype=x.dtype)
    padded = np.concatenate([past_state.astype(x.dtype, copy=False), x], axis=2)
    win = np.lib.stride_tricks.sliding_window_view(padded.astype(ct, copy=False), k, axis=2)  # (B, C, L, k)
    y = np.einsum("bclk,ck->bcl", win, w.astype(ct, copy=False).reshape(c, k))
    if b is not None:
        y += b.astype(ct).reshape(1, c, 1)
    if activation != "none":
        y = y / (1 + np.exp(-y))
    return y.astype(x.dtype, copy=False), np.ascontiguousarray(padded[:, :, padded.shape[2] - (k - 1):])


@shape("CausalConvWithState", 27)
def causal_conv_with_state_shape(ctx):
    xs, ws = ctx.input_shape(0), ctx.input_shape(1)
    dt = ctx.input_dtype(0)
    ctx.set_output(0, dt, xs)
    if ctx.n_outputs > 1:
        k = ws[2] if ws is not None and len(ws) == 3 else None
        ctx.set_output(1, dt, None if xs is None else [xs[0], xs[1], sub(k, 1)])
