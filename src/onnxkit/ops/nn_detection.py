"""Detection ops: RoiAlign (avg and max), MaxRoiPool, NonMaxSuppression.

RoiAlign's average mode is separable: per ROI one (bins x H) and one
(bins x W) bilinear sampling matrix, so a ROI costs two small matmuls."""

from __future__ import annotations

import numpy as np

from ._registry import kernel, shape
from .nn_common import compute_dtype
from ..ir import DataType


# ------------------------------------------------------------------ RoiAlign
def _sample_axis(start: float, bin_size: float, pooled: int, grid: int, size: int):
    """Bilinear taps of the sample points of one axis of one ROI: (low index,
    high index, low weight, high weight, valid), each of shape (pooled, grid)."""
    p = np.arange(pooled).reshape(-1, 1)
    g = np.arange(grid).reshape(1, -1)
    c = start + p * bin_size + (g + 0.5) * bin_size / grid
    valid = (c >= -1.0) & (c <= size)
    c = np.maximum(c, 0)
    lo = np.floor(c).astype(np.int64)
    at_end = lo >= size - 1
    lo = np.where(at_end, size - 1, lo)
    hi = np.where(at_end, size - 1, lo + 1)
    c = np.where(at_end, lo, c)
    frac = c - lo
    return lo, hi, 1 - frac, frac, valid


@kernel("RoiAlign", 10)
def roi_align_10(x, rois, batch_indices, *, mode="avg", output_height=1, output_width=1, sampling_ratio=0,
                 spatial_scale=1.0):
    """RoiAlign-10 has no coordinate_transformation_mode: its geometry is what 16
    calls 'output_half_pixel' (no half-pixel offset), as onnxruntime computes it."""
    return roi_align(x, rois, batch_indices, coordinate_transformation_mode="output_half_pixel", mode=mode,
                     output_height=output_height, output_width=output_width, sampling_ratio=sampling_ratio,
                     spatial_scale=spatial_scale)


@kernel("RoiAlign", 16)
def roi_align(x, rois, batch_indices, *, coordinate_transformation_mode="half_pixel", mode="avg",
              output_height=1, output_width=1, sampling_ratio=0, spatial_scale=1.0):
    ct = compute_dtype(x.dtype)
    n_rois = rois.shape[0]
    _, c, h, w = x.shape
    half = coordinate_transformation_mode == "half_pixel"
    off = 0.5 if half else 0.0
    y = np.zeros((n_rois, c, output_height, output_width), dtype=ct)
    r = rois.astype(ct)         # the ROI geometry in the input's precision, as onnxruntime does it
    for k in range(n_rois):
        x0, y0, x1, y1 = (float(v) for v in r[k] * ct.type(spatial_scale) - ct.type(off))
        rw, rh = x1 - x0, y1 - y0
        if not half:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bh, bw = rh / output_height, rw / output_width
        gh = int(sampling_ratio) if sampling_ratio > 0 else int(np.ceil(rh / output_height))
        gw = int(sampling_ratio) if sampling_ratio > 0 else int(np.ceil(rw / output_width))
        img = x[int(batch_indices[k])].astype(ct, copy=False)
        ylo, yhi, wyl, wyh, vy = _sample_axis(y0, bh, output_height, gh, h)
        xlo, xhi, wxl, wxh, vx = _sample_axis(x0, bw, output_width, gw, w)
        wyl, wyh = wyl * vy, wyh * vy
        wxl, wxh = wxl * vx, wxh * vx
        if mode == "avg":
            my = np.zeros((output_height, h))
            mx = np.zeros((output_width, w))
            rows_y = np.broadcast_to(np.arange(output_height)[:, None], ylo.shape)
            rows_x = np.broadcast_to(np.arange(output_width)[:, None], xlo.shape)
            np.add.at(my, (rows_y, ylo), wyl)
            np.add.at(my, (rows_y, yhi), wyh)
            np.add.at(mx, (rows_x, xlo), wxl)
            np.add.at(mx, (rows_x, xhi), wxh)
            y[k] = my.astype(ct) @ img @ mx.T.astype(ct) / max(gh * gw, 1)
        elif mode == "max":
            # (C, PH, GH, PW, GW) values of the four corners, each weighted, then the max
            best = None
            for yi, wy in ((ylo, wyl), (yhi, wyh)):
                for xi, wx in ((xlo, wxl), (xhi, wxh)):
                    v = img[:, yi[:, :, None, None], xi[None, None, :, :]] * \
                        (wy[:, :, None, None] * wx[None, None, :, :]).astype(ct)
                    best = v if best is None else np.maximum(best, v)
            y[k] = best.max(axis=(2, 4)) if best.size else 0
        else:
            raise ValueError(f"unknown mode {mode!r} (avg or max)")
    return y.astype(x.dtype, copy=False)


@shape("RoiAlign", 10)
def roi_align_shape(ctx):
    xs, rs = ctx.input_shape(0), ctx.input_shape(1)
    bs = ctx.input_shape(2)
    n = rs[0] if rs is not None else (bs[0] if bs is not None else None)
    c = xs[1] if xs is not None else None
    if xs is not None and len(xs) != 4:
        ctx.fail(f"X must have rank 4, got rank {len(xs)}")
        return
    ctx.set_output(0, ctx.input_dtype(0), [n, c, ctx.attr("output_height", 1), ctx.attr("output_width", 1)])


# ------------------------------------------------------------------ MaxRoiPool
def _round_half_away(v: float) -> int:
    return int(np.floor(v + 0.5)) if v >= 0 else int(np.ceil(v - 0.5))


@kernel("MaxRoiPool", 1)
def max_roi_pool(x, rois, *, pooled_shape=None, spatial_scale=1.0):
    ph_n, pw_n = pooled_shape
    _, c, h, w = x.shape
    y = np.zeros((rois.shape[0], c, ph_n, pw_n), dtype=x.dtype)
    ct = compute_dtype(rois.dtype)
    for k, roi in enumerate(rois.astype(ct)):      # the geometry in the ROIs' precision, as onnxruntime
        b = int(roi[0])
        x0, y0, x1, y1 = (_round_half_away(float(v)) for v in roi[1:5] * ct.type(spatial_scale))
        rh, rw = max(y1 - y0 + 1, 1), max(x1 - x0 + 1, 1)
        bh, bw = rh / ph_n, rw / pw_n
        for ph in range(ph_n):
            hs = min(max(int(np.floor(ph * bh)) + y0, 0), h)
            he = min(max(int(np.ceil((ph + 1) * bh)) + y0, 0), h)
            for pw in range(pw_n):
                ws = min(max(int(np.floor(pw * bw)) + x0, 0), w)
                we = min(max(int(np.ceil((pw + 1) * bw)) + x0, 0), w)
                if he > hs and we > ws:
                    y[k, :, ph, pw] = x[b, :, hs:he, ws:we].max(axis=(1, 2))
    return y


@shape("MaxRoiPool", 1)
def max_roi_pool_shape(ctx):
    xs, rs = ctx.input_shape(0), ctx.input_shape(1)
    ps = ctx.attr("pooled_shape")
    if ps is None or len(ps) != 2:
        ctx.fail("pooled_shape must hold 2 values (height, width)")
        return
    ctx.set_output(0, ctx.input_dtype(0), [rs[0] if rs is not None else None,
                                           xs[1] if xs is not None else None] + list(ps))


# ------------------------------------------------------------------ NonMaxSuppression
def _corners(boxes: np.ndarray, center_point_box: int) -> np.ndarray:
    """(N, 4) boxes as (y_min, x_min, y_max, x_max)."""
    if center_point_box:
        xc, yc, bw, bh = boxes.T
        return np.stack([yc - bh / 2, xc - bw / 2, yc + bh / 2, xc + bw / 2], axis=1)
    y0, x0, y1, x1 = boxes.T
    return np.stack([np.minimum(y0, y1), np.minimum(x0, x1), np.maximum(y0, y1), np.maximum(x0, x1)], axis=1)


@kernel("NonMaxSuppression", 10)
def non_max_suppression(boxes, scores, max_output_boxes_per_class=None, iou_threshold=None,
                        score_threshold=None, *, center_point_box=0):
    def scalar(v, default):
        return default if v is None or np.size(v) == 0 else np.asarray(v).reshape(-1)[0]
    max_out = max(int(scalar(max_output_boxes_per_class, 0)), 0)
    iou_t = float(scalar(iou_threshold, 0.0))
    has_score_t = score_threshold is not None and np.size(score_threshold) > 0
    score_t = float(scalar(score_threshold, 0.0))
    out = []
    if max_out == 0:
        return np.zeros((0, 3), dtype=np.int64)
    for b in range(boxes.shape[0]):
        bx = _corners(boxes[b].astype(np.float64), center_point_box)
        area = (bx[:, 2] - bx[:, 0]) * (bx[:, 3] - bx[:, 1])
        for c in range(scores.shape[1]):
            sc = scores[b, c].astype(np.float64)
            cand = np.nonzero(sc > score_t)[0] if has_score_t else np.arange(sc.size)
            order = cand[np.argsort(-sc[cand], kind="stable")]
            keep: list[int] = []
            while order.size and len(keep) < max_out:
                i = int(order[0])
                keep.append(i)
                rest = order[1:]
                iy0 = np.maximum(bx[i, 0], bx[rest, 0])
                ix0 = np.maximum(bx[i, 1], bx[rest, 1])
                iy1 = np.minimum(bx[i, 2], bx[rest, 2])
                ix1 = np.minimum(bx[i, 3], bx[rest, 3])
                inter = np.where((iy1 > iy0) & (ix1 > ix0), (iy1 - iy0) * (ix1 - ix0), 0.0)
                union = area[i] + area[rest] - inter
                ok = (inter > 0) & (area[i] > 0) & (area[rest] > 0) & (union > 0)
                with np.errstate(invalid="ignore", divide="ignore"):
                    iou = np.where(ok, inter / np.where(union > 0, union, 1), 0.0)
                order = rest[~(ok & (iou > iou_t))]
            out.extend((b, c, i) for i in keep)
    return np.asarray(out, dtype=np.int64).reshape(-1, 3)


@shape("NonMaxSuppression", 10)
def non_max_suppression_shape(ctx):
    ctx.set_output(0, DataType.INT64, [None, 3])
