"""Normalizations: BatchNormalization (inference and training), Instance-,
Layer-, Group- and RMSNormalization, LRN, LpNormalization,
MeanVarianceNormalization; and Dropout (inference, and training with seed)."""

from __future__ import annotations

import numpy as np

from . import _parallel
from ._registry import kernel, shape
from ._shape import same_as_input
from .nn_common import compute_dtype
from ..ir import DataType

_STASH = {1: np.float32, 10: np.float16, 11: np.float64, 16: None}


def _stash_dtype(stash_type: int, x: np.ndarray) -> np.dtype:
    if stash_type == 16:
        return np.dtype(np.float32)         # bfloat16 stash: compute in float32 (rounded at the end)
    return np.dtype(_STASH.get(stash_type, np.float32) or np.float32)


def _channel(v: np.ndarray, ndim: int) -> np.ndarray:
    """A per-channel vector shaped to broadcast over (N, C, *spatial)."""
    return v.reshape((1, -1) + (1,) * (ndim - 2)) if ndim >= 2 else v


# ------------------------------------------------------------------ BatchNormalization
def _batch_norm(x, scale, b, mean, var, epsilon, momentum, training, spatial=1):
    """Inference (running stats) or training (batch stats, and the updated running
    stats); ``spatial=0`` (opsets < 9): statistics per activation, not per channel."""
    ct = compute_dtype(x.dtype)
    xc = x.astype(ct, copy=False)
    per_act = not spatial and scale.size == int(np.prod(x.shape[1:])) and x.ndim > 2

    def bc(v):
        return v.reshape((1,) + x.shape[1:]) if per_act else _channel(v, x.ndim)
    axes = (0,) if per_act else (0,) + tuple(range(2, x.ndim))
    if training:
        bm = xc.mean(axis=axes).reshape(mean.shape)
        bv = xc.var(axis=axes).reshape(var.shape)
        m_, v_ = bm, bv
    else:
        m_, v_ = mean.astype(ct, copy=False), var.astype(ct, copy=False)
    inv = 1 / np.sqrt(v_ + ct.type(epsilon))
    y = (xc - bc(m_)) * bc(inv * scale.astype(ct)) + bc(b.astype(ct))
    y = y.astype(x.dtype, copy=False)
    if not training:
        return (y,)
    udt = mean.dtype
    run_mean = (mean.astype(ct) * momentum + bm * (1 - momentum)).astype(udt)
    run_var = (var.astype(ct) * momentum + bv * (1 - momentum)).astype(udt)
    return y, run_mean, run_var, bm.astype(udt), bv.astype(udt)


@kernel("BatchNormalization", 1, context=True)
def batch_norm_1(ctx, x, scale, b, mean, var, *, epsilon=1e-5, momentum=0.9, is_test=0, spatial=1,
                 consumed_inputs=None):
    training = ctx.output_present(1) and not is_test
    return _batch_norm(x, scale, b, mean, var, epsilon, momentum, training, spatial)


@kernel("BatchNormalization", 7, context=True)
def batch_norm_7(ctx, x, scale, b, mean, var, *, epsilon=1e-5, momentum=0.9, spatial=1):
    return _batch_norm(x, scale, b, mean, var, epsilon, momentum, ctx.output_present(1),
                       spatial if ctx.opset < 9 else 1)


@kernel("BatchNormalization", 14)
def batch_norm_14(x, scale, b, mean, var, *, epsilon=1e-5, momentum=0.9, training_mode=0):
    r = _batch_norm(x, scale, b, mean, var, epsilon, momentum, bool(training_mode))
    return r[:3] if training_mode else r


@shape("BatchNormalization", 1)
def batch_norm_shape(ctx):
    same_as_input(ctx)
    xs = ctx.input_shape(0)
    c = xs[1] if xs is not None and len(xs) > 1 else None
    udt = ctx.input_dtype(3) if ctx.has_input(3) else ctx.input_dtype(0)
    for i in range(1, ctx.n_outputs):
        ctx.set_output(i, udt, [c])


# ------------------------------------------------------------------ Instance / Group / Layer / RMS
def _normalize(xc: np.ndarray, axes: tuple, epsilon: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """((x - mean) * inv_std, mean, inv_std) over ``axes`` (kept)."""
    mean = xc.mean(axis=axes, keepdims=True)
    d = xc - mean
    var = np.mean(d * d, axis=axes, keepdims=True)
    inv = 1 / np.sqrt(var + xc.dtype.type(epsilon))
    return d * inv, mean, inv


@kernel("InstanceNormalization", 1)
def instance_norm(x, scale, b, *, epsilon=1e-5, consumed_inputs=None):
    ct = compute_dtype(x.dtype)
    y, _, _ = _normalize(x.astype(ct, copy=False), tuple(range(2, x.ndim)), epsilon)
    y = y * _channel(scale.astype(ct), x.ndim) + _channel(b.astype(ct), x.ndim)
    return y.astype(x.dtype, copy=False)


@kernel("GroupNormalization", 18, context=True)
def group_norm(ctx, x, scale, b, *, epsilon=1e-5, num_groups=None, stash_type=1):
    ct = _stash_dtype(stash_type, x) if ctx.opset >= 21 else compute_dtype(x.dtype)
    n, c = x.shape[:2]
    g = num_groups
    xg = x.astype(ct, copy=False).reshape(n, g, -1)
    y, _, _ = _normalize(xg, (2,), epsilon)
    y = y.reshape(x.shape).astype(compute_dtype(x.dtype), copy=False)
    sc, bc = scale.astype(y.dtype), b.astype(y.dtype)
    if sc.size == g and g != c:          # opset 18: one scale and bias per group
        sc, bc = np.repeat(sc, c // g), np.repeat(bc, c // g)
    return (y * _channel(sc, x.ndim) + _channel(bc, x.ndim)).astype(x.dtype, copy=False)


def _layer_norm_f32(x: np.ndarray, scale: np.ndarray, b: np.ndarray | None, ax: int,
                    epsilon: float) -> np.ndarray:
    """LayerNormalization of float32 ``x`` over its dims from ``ax`` on, in
    float32 with one output buffer: the mean, x - mean into the output, the
    variance as a row-wise dot product (no squared temporary), then scale and
    bias applied in place."""
    d = 1
    for n in x.shape[ax:]:
        d *= n
    x2 = x.reshape(-1, d)
    if x2.shape[0] > 1 and x.size >= _parallel.DEFAULT_MIN_WORK and _parallel.workers() >= _parallel.MIN_WORKERS:
        out = np.empty(x2.shape, x.dtype)       # the same passes, over pieces of the rows

        def rows(i: int, j: int) -> None:
            _layer_norm_rows(x2[i:j], scale, b, d, epsilon, out[i:j])
        _parallel.split_rows(x2.shape[0], rows, row_work=d)
        return out.reshape(x.shape)
    return _layer_norm_rows(x2, scale, b, d, epsilon, None).reshape(x.shape)


def _layer_norm_rows(x2: np.ndarray, scale: np.ndarray, b: np.ndarray | None, d: int, epsilon: float,
                     out: np.ndarray | None) -> np.ndarray:
    mean = np.add.reduce(x2, axis=1, keepdims=True)
    mean *= 1.0 / d
    y = np.subtract(x2, mean, out=out)
    inv = np.einsum("ij,ij->i", y, y)
    inv *= 1.0 / d
    inv += epsilon
    np.sqrt(inv, out=inv)
    np.divide(1.0, inv, out=inv)
    y *= inv[:, None]
    y *= scale.reshape(-1)
    if b is not None:
        y += b.reshape(-1)
    return y


_F32 = np.dtype(np.float32)


@kernel("LayerNormalization", 17, context=True)
def layer_norm(ctx, x, scale, b=None, *, axis=-1, epsilon=1e-5, stash_type=1):
    ax = axis + x.ndim if axis < 0 else axis
    if ctx.n_outputs == 1 and x.dtype == _F32 and x.size and stash_type == 1 and 0 <= ax < x.ndim \
            and scale.dtype == _F32 and scale.shape == x.shape[ax:] \
            and (b is None or (b.dtype == _F32 and b.shape == x.shape[ax:])):
        return _layer_norm_f32(x, scale, b, ax, epsilon)
    st = _stash_dtype(stash_type, x)
    y, mean, inv = _normalize(x.astype(st, copy=False), tuple(range(ax, x.ndim)), epsilon)
    ct = compute_dtype(x.dtype)
    y = y.astype(ct, copy=False) * scale.astype(ct)
    if b is not None:
        y = y + b.astype(ct)
    y = y.astype(x.dtype, copy=False)
    if ctx.n_outputs == 1:
        return y
    return y, mean, inv


@kernel("RMSNormalization", 23)
def rms_norm(x, scale, *, axis=-1, epsilon=1e-5, stash_type=1):
    ax = axis + x.ndim if axis < 0 else axis
    st = _stash_dtype(stash_type, x)
    xc = x.astype(st, copy=False)
    ms = np.mean(xc * xc, axis=tuple(range(ax, x.ndim)), keepdims=True)
    y = xc / np.sqrt(ms + st.type(epsilon))
    ct = compute_dtype(x.dtype)
    return (y.astype(ct, copy=False) * scale.astype(ct)).astype(x.dtype, copy=False)


for _op, _v in (("InstanceNormalization", 1), ("GroupNormalization", 18), ("RMSNormalization", 23),
                ("LRN", 1), ("LpNormalization", 1), ("MeanVarianceNormalization", 9)):
    shape(_op, _v)(same_as_input)


@shape("LayerNormalization", 17)
def layer_norm_shape(ctx):
    same_as_input(ctx)
    xs = ctx.input_shape(0)
    st = ctx.attr("stash_type", 1)
    stash = DataType(st) if st in (1, 10, 11, 16) else DataType.FLOAT
    if ctx.n_outputs > 1:
        axis = ctx.attr("axis", -1)
        out = None
        if xs is not None:
            r = len(xs)
            if not -r <= axis < r:
                ctx.fail(f"axis {axis} is out of range for an input of rank {r}")
                return
            ax = axis % r
            out = list(xs[:ax]) + [1] * (r - ax)
        for i in range(1, min(3, ctx.n_outputs)):
            ctx.set_output(i, stash, out)


# ------------------------------------------------------------------ LRN / Lp / MVN
@kernel("LRN", 1)
def lrn(x, *, alpha=0.0001, beta=0.75, bias=1.0, size=None):
    ct = compute_dtype(x.dtype)
    xc = x.astype(ct, copy=False)
    c = x.shape[1]
    lo, hi = (size - 1) // 2, size - 1 - (size - 1) // 2
    sq = np.pad(xc * xc, [(0, 0), (lo, hi)] + [(0, 0)] * (x.ndim - 2))
    csum = np.concatenate([np.zeros_like(sq[:, :1]), np.cumsum(sq, axis=1)], axis=1)
    ssum = csum[:, size:size + c] - csum[:, :c]
    y = xc / (ct.type(bias) + ct.type(alpha / size) * ssum) ** ct.type(beta)
    return y.astype(x.dtype, copy=False)


@kernel("LpNormalization", 1)
def lp_normalization(x, *, axis=-1, p=2):
    ct = compute_dtype(x.dtype)
    xc = x.astype(ct, copy=False)
    norm = np.abs(xc).sum(axis=axis, keepdims=True) if p == 1 else \
        np.sqrt((xc * xc).sum(axis=axis, keepdims=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        y = np.where(norm == 0, 0, xc / norm)
    return y.astype(x.dtype, copy=False)


@kernel("MeanVarianceNormalization", 9)
def mean_variance_normalization(x, *, axes=(0, 2, 3)):
    ct = compute_dtype(x.dtype)
    xc = x.astype(ct, copy=False)
    axes = tuple(axes)
    mean = xc.mean(axis=axes, keepdims=True)
    var = np.maximum((xc * xc).mean(axis=axes, keepdims=True) - mean * mean, 0)
    return ((xc - mean) / (np.sqrt(var) + ct.type(1e-9))).astype(x.dtype, copy=False)


# ------------------------------------------------------------------ Dropout
def _dropout(ctx, x, ratio, training, seed, mask_dtype):
    want_mask = ctx.output_present(1)
    ratio = float(ratio)
    if not training or ratio == 0:
        return (x, np.ones(x.shape, dtype=mask_dtype)) if want_mask else x
    u = np.random.RandomState(seed).uniform(0, 1, x.shape) if seed is not None \
        else ctx.rng.uniform(0, 1, x.shape)
    keep = u >= ratio
    ct = compute_dtype(x.dtype)
    y = (x.astype(ct) * keep * ct.type(1.0 / (1.0 - ratio))).astype(x.dtype) if ratio < 1 else np.zeros_like(x)
    return (y, keep.astype(mask_dtype)) if want_mask else y


@kernel("Dropout", 1, context=True)
def dropout_1(ctx, x, *, ratio=0.5, is_test=0, consumed_inputs=None):
    # is_test defaults to 0 (training), yet models of these opsets were exported for inference:
    # run as inference, as onnxruntime and onnx.reference do
    return _dropout(ctx, x, ratio, False, None, x.dtype)


@kernel("Dropout", 7, context=True)
def dropout_7(ctx, x, *, ratio=0.5):
    return _dropout(ctx, x, ratio, False, None, x.dtype if ctx.opset < 10 else bool)


@kernel("Dropout", 12, context=True)
def dropout_12(ctx, x, ratio=None, training_mode=None, *, seed=None):
    r = 0.5 if ratio is None else float(np.asarray(ratio).reshape(-1)[0])
    t = training_mode is not None and bool(np.asarray(training_mode).reshape(-1)[0])
    return _dropout(ctx, x, r, t, seed, bool)


@shape("Dropout", 1)
def dropout_shape(ctx):
    same_as_input(ctx)
    if ctx.n_outputs > 1:
        dt = DataType.BOOL if ctx.opset >= 10 else ctx.input_dtype(0)
        ctx.set_output(1, dt, ctx.input_shape(0))
