"""Neural-network ops: MatMul, Gemm, Conv, ConvTranspose, pooling, Resize."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .._registry import rule
from ._common import ints, numpy_kernel

# ------------------------------------------------------------------ matrix products
rule("MatMul", 1, fn=torch.matmul)


@rule("Gemm", 7)
def gemm(a, b, c=None, *, alpha=1.0, beta=1.0, transA=0, transB=0):
    if transA:
        a = a.transpose(-1, -2)
    if transB:
        b = b.transpose(-1, -2)
    if c is None or beta == 0:
        y = a @ b
        return y if alpha == 1.0 else alpha * y
    if alpha == 1.0 and beta == 1.0 and a.is_floating_point():
        return torch.addmm(c.expand(a.shape[0], b.shape[1]) if c.dim() < 2 or c.shape != (a.shape[0], b.shape[1])
                           else c, a, b)
    return alpha * (a @ b) + beta * c


@rule("Gemm", 1)
def gemm1(a, b, c=None, *, alpha=1.0, beta=1.0, transA=0, transB=0, broadcast=0):
    return gemm(a, b, c, alpha=alpha, beta=beta, transA=transA, transB=transB)


# ------------------------------------------------------------------ padding arithmetic
def _auto_pads(in_sizes, kernel, strides, dilations, auto_pad):
    """[begins..., ends...] for SAME_UPPER / SAME_LOWER / VALID."""
    n = len(in_sizes)
    if auto_pad == "VALID":
        return [0] * (2 * n)
    begins, ends = [], []
    for size, k, s, d in zip(in_sizes, kernel, strides, dilations):
        out = -(-size // s)
        total = max(0, (out - 1) * s + (k - 1) * d + 1 - size)
        small = total // 2
        big = total - small
        b, e = (small, big) if auto_pad == "SAME_UPPER" else (big, small)
        begins.append(b)
        ends.append(e)
    return begins + ends


def _pads(x, kernel, strides, dilations, pads, auto_pad):
    n = len(kernel)
    if auto_pad not in ("NOTSET", "", None):
        return _auto_pads(list(x.shape[2:]), kernel, strides, dilations, auto_pad)
    return list(pads) if pads is not None else [0] * (2 * n)


def _pad_all(x, pads, value):
    """x padded explicitly by [begins..., ends...] of its spatial axes."""
    n = len(pads) // 2
    pairs = []
    for b, e in zip(reversed(pads[:n]), reversed(pads[n:])):
        pairs += [b, e]
    return F.pad(x, pairs, value=value)


def _torch_padding(x, pads, value):
    """(x padded where begins != ends, the symmetric padding torch takes)."""
    n = len(pads) // 2
    begins, ends = pads[:n], pads[n:]
    if begins == ends:
        return x, list(begins)
    pairs = []
    for b, e in zip(reversed(begins), reversed(ends)):
        pairs += [b, e]
    return F.pad(x, pairs, value=value), [0] * n


_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


@rule("Conv", 1)
def conv(x, w, b=None, *, auto_pad="NOTSET", dilations=None, group=1, kernel_shape=None, pads=None,
         strides=None):
    n = w.dim() - 2
    kernel = list(w.shape[2:])
    strides = strides or [1] * n
    dilations = dilations or [1] * n
    p = _pads(x, kernel, strides, dilations, pads, auto_pad)
    x, padding = _torch_padding(x, p, 0.0)
    return _CONV[n](x, w, b, strides, padding, dilations, group)


# ------------------------------------------------------------------ pooling
_MAXPOOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVGPOOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def _pool_pads(x, kernel, strides, dilations, pads, auto_pad):
    return _pads(x, kernel, strides, dilations, pads, auto_pad)


def _symmetric_ok(pads, kernel):
    n = len(kernel)
    return pads[:n] == pads[n:] and all(p <= k // 2 for p, k in zip(pads[:n], kernel))


@rule("MaxPool", 1, n_outputs=True, when=lambda a, n: not a.get("storage_order", 0))
def max_pool(x, *, kernel_shape, auto_pad="NOTSET", ceil_mode=0, dilations=None, pads=None,
             storage_order=0, strides=None, _n_outputs=1):
    n = len(kernel_shape)
    strides = strides or [1] * n
    dilations = dilations or [1] * n
    p = _pool_pads(x, kernel_shape, strides, dilations, pads, auto_pad)
    want_idx = _n_outputs > 1
    src = x
    integer = not x.is_floating_point()
    if integer:
        src = x.double()
    if _symmetric_ok(p, kernel_shape):
        y, idx = _MAXPOOL[n](src, kernel_shape, strides, p[:n], dilations, bool(ceil_mode), return_indices=True)
        padded_shape, begins = list(x.shape[2:]), [0] * n
    else:
        padded = _pad_all(src, p, -math.inf)
        y, idx = _MAXPOOL[n](padded, kernel_shape, strides, 0, dilations, bool(ceil_mode), return_indices=True)
        padded_shape, begins = list(padded.shape[2:]), p[:n]
    if integer:
        y = y.to(x.dtype)
    if not want_idx:
        return y
    # torch's indices are flat within the (padded) spatial plane; the spec's are flat over the input
    spatial = list(x.shape[2:])
    flat = torch.zeros_like(idx)
    rem = idx
    for j in reversed(range(n)):
        coord = rem % padded_shape[j] - begins[j]
        rem = rem // padded_shape[j]
        flat = flat + coord * math.prod(spatial[j + 1:])
    planes = torch.arange(x.shape[0] * x.shape[1], device=x.device).reshape(x.shape[0], x.shape[1], *[1] * n)
    return y, flat + planes * math.prod(spatial)


def _dilated_average_pool(x, kernel, strides, dilations, p, ceil_mode, count_include_pad):
    """Average pooling as a depthwise convolution with a ones kernel (any dilation):
    the sum over each window, divided by how many of its taps the spec counts."""
    n = len(kernel)
    outs = []
    for i in range(n):
        size, k, s, d = x.shape[2 + i], kernel[i], strides[i], dilations[i]
        span = size + p[i] + p[n + i] - ((k - 1) * d + 1)
        o = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (o - 1) * s >= size + p[i]:
            o -= 1
        outs.append(o)
    extra = [max(0, (outs[i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1
                 - (x.shape[2 + i] + p[i] + p[n + i])) for i in range(n)]
    full = p[:n] + [p[n + i] + extra[i] for i in range(n)]
    c = x.shape[1]
    ones = torch.ones((c, 1, *kernel), dtype=x.dtype, device=x.device)
    total = _CONV[n](_pad_all(x, full, 0.0), ones, None, strides, 0, dilations, c)
    mask = torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype, device=x.device)
    mask = _pad_all(mask, p, 1.0 if count_include_pad else 0.0)
    mask = _pad_all(mask, [0] * n + extra, 0.0)
    count = _CONV[n](mask, ones[:1], None, strides, 0, dilations)
    return total / count


@rule("AveragePool", 1)
def average_pool(x, *, kernel_shape, auto_pad="NOTSET", ceil_mode=0, count_include_pad=0, dilations=None,
                 pads=None, strides=None):
    n = len(kernel_shape)
    strides = strides or [1] * n
    if dilations is not None and any(d != 1 for d in dilations):
        p = _pool_pads(x, kernel_shape, strides, dilations, pads, auto_pad)
        return _dilated_average_pool(x, kernel_shape, strides, dilations, p, ceil_mode, count_include_pad)
    p = _pool_pads(x, kernel_shape, strides, [1] * n, pads, auto_pad)
    pool = _AVGPOOL[n]
    if _symmetric_ok(p, kernel_shape) and (count_include_pad or not any(p)):
        return pool(x, kernel_shape, strides, p[:n], bool(ceil_mode), bool(count_include_pad))
    total = pool(_pad_all(x, p, 0.0), kernel_shape, strides, 0, bool(ceil_mode), True)
    if count_include_pad:
        return total
    ones = torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype, device=x.device)
    count = pool(_pad_all(ones, p, 0.0), kernel_shape, strides, 0, bool(ceil_mode), True)
    return total / count


@rule("GlobalAveragePool", 1)
def global_average_pool(x):
    return x.mean(dim=tuple(range(2, x.dim())), keepdim=True)


@rule("GlobalMaxPool", 1)
def global_max_pool(x):
    return x.amax(dim=tuple(range(2, x.dim())), keepdim=True)


@rule("ConvTranspose", 1)
def conv_transpose(x, w, b=None, *, auto_pad="NOTSET", dilations=None, group=1, kernel_shape=None,
                   output_padding=None, output_shape=None, pads=None, strides=None):
    n = x.dim() - 2
    ks = list(w.shape[2:])
    s = strides or [1] * n
    d = dilations or [1] * n
    in_sizes = list(x.shape[2:])
    op = list(output_padding) if output_padding else [0] * n
    natural = [s[i] * (in_sizes[i] - 1) + op[i] + (ks[i] - 1) * d[i] + 1 for i in range(n)]
    if output_shape is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        if output_shape is None:
            output_shape = [min(in_sizes[i] * s[i], natural[i]) for i in range(n)]
        outs = list(output_shape)[-n:]
        total = [natural[i] - outs[i] for i in range(n)]
        begin = [t // 2 if auto_pad == "SAME_UPPER" else t - t // 2 for t in total]
        begin = [max(0, v) for v in begin]
    else:
        p = [0] * (2 * n) if auto_pad == "VALID" or not pads else list(pads)
        begin = p[:n]
        outs = [natural[i] - p[i] - p[i + n] for i in range(n)]
    full = _CONV_T[n](x, w, None, s, 0, 0, group, d)        # (in-1)*s + (k-1)*d + 1 per axis
    pairs = []
    for i in reversed(range(n)):                            # crop / extend: output o is full[o + begin]
        pairs += [-begin[i], begin[i] + outs[i] - full.shape[2 + i]]
    y = F.pad(full, pairs)
    if b is not None:
        y = y + b.reshape(1, -1, *[1] * n)
    return y


_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


@rule("LpPool", 11, when=lambda a, n: all(v == 1 for v in a.get("dilations", [1])))
def lp_pool(x, *, kernel_shape, auto_pad="NOTSET", ceil_mode=0, dilations=None, p=2, pads=None, strides=None):
    k = len(kernel_shape)
    strides = strides or [1] * k
    pp = _pool_pads(x, kernel_shape, strides, [1] * k, pads, auto_pad)
    xp = _pad_all(x.abs() ** p, pp, 0.0)
    total = _AVGPOOL[k](xp, kernel_shape, strides, 0, bool(ceil_mode), True) * math.prod(kernel_shape)
    return total ** (1.0 / p)


# ------------------------------------------------------------------ Resize
def _resize_supported(a, node):
    if a.get("antialias", 0) or a.get("axes") is not None or a.get("exclude_outside", 0):
        return False
    if a.get("keep_aspect_ratio_policy", "stretch") != "stretch" or a.get("extrapolation_value", 0.0) != 0.0:
        return False
    mode = a.get("mode", "nearest")
    ctm = a.get("coordinate_transformation_mode", "half_pixel")
    if mode == "nearest":
        return ctm == "asymmetric" and a.get("nearest_mode", "round_prefer_floor") == "floor"
    if mode == "linear":
        return ctm in ("half_pixel", "align_corners", "pytorch_half_pixel")
    return False


_LINEAR = {1: "linear", 2: "bilinear", 3: "trilinear"}


@rule("Resize", 11, const=(1, 2, 3))
def resize(x, roi=None, scales=None, sizes=None, **attrs):
    try:
        return _resize(x, scales, sizes, **attrs)
    except NotImplementedError:         # what F.interpolate does not do: the separable form
        return resize_general(x, roi, scales, sizes, **attrs)


def _resize(x, scales, sizes, *, mode="nearest", coordinate_transformation_mode="half_pixel",
            nearest_mode="round_prefer_floor", cubic_coeff_a=-0.75, antialias=0, axes=None, exclude_outside=0,
            extrapolation_value=0.0, keep_aspect_ratio_policy="stretch"):
    """The cases F.interpolate computes exactly as the spec says."""
    if not _resize_supported(dict(mode=mode, coordinate_transformation_mode=coordinate_transformation_mode,
                                  nearest_mode=nearest_mode, antialias=antialias, axes=axes,
                                  exclude_outside=exclude_outside, extrapolation_value=extrapolation_value,
                                  keep_aspect_ratio_policy=keep_aspect_ratio_policy), None):
        raise NotImplementedError(mode)
    n = x.dim() - 2
    sc = None if scales is None else [float(v) for v in (scales.reshape(-1).tolist()
                                                         if isinstance(scales, torch.Tensor) else scales)]
    sz = ints(sizes) if sizes is not None and len(ints(sizes)) else None
    if sc is not None and not len(sc):
        sc = None
    if not 1 <= n <= 3 or (sc is not None and sc[:2] != [1.0, 1.0]) or (sz is not None and sz[:2] != list(x.shape[:2])):
        raise NotImplementedError("Resize of the batch or channel axes has no torch form")
    kw = {}
    if mode == "nearest":
        kw["mode"] = "nearest"
    else:
        kw["mode"] = _LINEAR[n]
        kw["align_corners"] = coordinate_transformation_mode == "align_corners"
    if sz is not None:
        out = sz[2:]
        if coordinate_transformation_mode == "pytorch_half_pixel" and any(o == 1 for o in out):
            raise NotImplementedError("pytorch_half_pixel to length 1")
        return F.interpolate(x, size=out, **kw)
    out = [int(math.floor(x.shape[2 + i] * sc[2 + i])) for i in range(n)]
    if coordinate_transformation_mode == "pytorch_half_pixel" and any(o == 1 for o in out):
        raise NotImplementedError("pytorch_half_pixel to length 1")
    if kw.get("align_corners"):
        if any(o != x.shape[2 + i] * sc[2 + i] for i, o in enumerate(out)):
            raise NotImplementedError("align_corners maps with the fractional length in*scale")
        return F.interpolate(x, size=out, **kw)
    return F.interpolate(x, scale_factor=sc[2:], recompute_scale_factor=False, **kw)


# ------------------------------------------------------------------ GridSample
_GRID_MODE = {"bilinear": "bilinear", "linear": "bilinear", "nearest": "nearest", "bicubic": "bicubic",
              "cubic": "bicubic"}


@rule("GridSample", 16)
def grid_sample(x, grid, *, align_corners=0, mode="bilinear", padding_mode="zeros"):
    m = _GRID_MODE.get(mode)
    if x.dim() == 4 or (x.dim() == 5 and m != "bicubic"):
        return F.grid_sample(x, grid, mode=m, padding_mode=padding_mode, align_corners=bool(align_corners))
    return numpy_kernel("GridSample", x, grid, align_corners=align_corners, mode=mode, padding_mode=padding_mode)


def resize_general(x, roi=None, scales=None, sizes=None, *, antialias=0, axes=None,
                   coordinate_transformation_mode="half_pixel", cubic_coeff_a=-0.75, exclude_outside=0,
                   extrapolation_value=0.0, keep_aspect_ratio_policy="stretch", mode="nearest",
                   nearest_mode="round_prefer_floor"):
    """Every Resize: separable, one (out, in) interpolation matrix (or one index
    vector for nearest) per resized axis.  The matrices depend on shapes only
    and come from onnxkit's numpy kernel's own helpers; the data path is torch."""
    from ...ops import nn_resize as R
    shape = list(x.shape)
    r = len(shape)
    sc_in = None if scales is None or not len(_floats(scales)) else _floats(scales)
    sz_in = None if sizes is None or not len(ints(sizes)) else ints(sizes)
    sc, out = R._resize_geometry(shape, sc_in, sz_in, axes, keep_aspect_ratio_policy)
    roi_l = None if roi is None or not len(_floats(roi)) else _floats(roi)
    if roi_l is not None and axes is not None:
        full = [0.0] * r + [1.0] * r
        for i, a in enumerate(axes):
            full[a % r], full[a % r + r] = roi_l[i], roi_l[len(axes) + i]
        roi_l = full
    return _resize_nd(x, sc, out, mode=mode, ctm=coordinate_transformation_mode, nearest_mode=nearest_mode,
                      roi=roi_l, antialias=antialias, a=cubic_coeff_a, exclude_outside=exclude_outside,
                      extrapolation_value=extrapolation_value)


def _floats(v):
    return [float(t) for t in (v.reshape(-1).tolist() if isinstance(v, torch.Tensor) else v)]


def _resize_nd(x, scales, out, *, mode, ctm, nearest_mode, roi, antialias, a, exclude_outside,
               extrapolation_value):
    import numpy as np

    from ...ops import nn_resize as R
    r = x.dim()
    ct = torch.float64 if x.dtype == torch.float64 else torch.float32
    y = x if mode == "nearest" else x.to(ct)
    outside_mask = None
    for ax in range(r):
        ra = (roi[ax], roi[ax + r]) if roi is not None else None
        same_roi = ra is None or (math.isclose(ra[0], 0.0) and math.isclose(ra[1], 1.0))
        if out[ax] == x.shape[ax] and math.isclose(scales[ax], 1.0) and same_roi:
            continue
        if mode == "nearest":
            xs, outside = R._source_coords(ctm, out[ax], x.shape[ax], scales[ax], ra)
            idx = torch.from_numpy(R._nearest_index(xs, nearest_mode, scales[ax], x.shape[ax])).to(x.device)
            y = y.index_select(ax, idx)
        else:
            m, outside = R._axis_matrix(x.shape[ax], out[ax], scales[ax], ra, mode=mode, ctm=ctm,
                                        antialias=bool(antialias), a=a, exclude_outside=bool(exclude_outside))
            mt = torch.from_numpy(np.ascontiguousarray(m)).to(device=x.device, dtype=ct)
            y = torch.movedim(torch.matmul(mt, torch.movedim(y, ax, -2)), -2, ax)
        if outside is not None and outside.any():
            o = torch.from_numpy(outside).to(x.device).reshape((1,) * ax + (-1,) + (1,) * (r - ax - 1))
            outside_mask = o if outside_mask is None else (outside_mask | o)
    if outside_mask is not None:
        y = torch.where(outside_mask, torch.tensor(extrapolation_value, dtype=y.dtype, device=y.device), y)
    if y.dtype == x.dtype:
        return y
    if x.dtype == torch.bool:
        return y != 0
    if not x.is_floating_point():       # integers: rounded half to even, saturated
        return torch.round(y).clamp(torch.iinfo(x.dtype).min, torch.iinfo(x.dtype).max).to(x.dtype)
    return y.to(x.dtype)


@rule("Resize", 10)
def resize10(x, scales, *, mode="nearest"):
    from ...ops import nn_resize as R
    sc, out = R._resize_geometry(list(x.shape), _floats(scales), None, None, "stretch")
    return _resize_nd(x, sc, out, mode=mode, ctm="asymmetric", nearest_mode="simple", roi=None, antialias=0,
                      a=-0.75, exclude_outside=0, extrapolation_value=0.0)


@rule("Upsample", 9)
def upsample9(x, scales, *, mode="nearest"):
    return resize10(x, scales, mode=mode)
