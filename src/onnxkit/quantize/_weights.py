"""Quantizing constant tensors (weights and biases) with numpy.

Weights are quantized symmetrically (zero point 0), which keeps integer
kernels simple (no zero-point correction on the weight side) and is what
onnxruntime's integer kernels run fastest; activations, whose ranges are
lopsided (after ReLU, softmax), get an asymmetric uint8 range instead (see
:func:`activation_params`).  Everything is vectorized over the whole tensor:
one pass over each weight, so quantizing is bounded by reading the weights.
"""

from __future__ import annotations

import numpy as np

from ..ir._dtypes import ml_dtypes

__all__ = ["symmetric", "blocked", "activation_params", "quantize_bias"]

_RANGES = {"int8": (-127, 127, np.int8), "uint8": (0, 255, np.uint8),
           "int4": (-7, 7, None), "uint4": (0, 15, None)}


def symmetric(w: np.ndarray, axis: int | None, qmax: int = 127) -> tuple[np.ndarray, np.ndarray]:
    """``(q int8, scale float32)`` with ``w ~= q * scale``: one scale per index of
    ``axis`` (a 1-D scale), or one for the whole tensor (``axis`` None, a scalar).
    ``qmax`` below 127 leaves headroom for kernels that add pairs of uint8 x int8
    products in 16 bits."""
    w = np.asarray(w, dtype=np.float32)
    if axis is None:
        amax = np.float32(np.abs(w).max()) if w.size else np.float32(0)
    else:
        other = tuple(i for i in range(w.ndim) if i != axis)
        amax = np.abs(w).max(axis=other) if w.size else np.zeros(w.shape[axis], np.float32)
    scale = (amax / np.float32(qmax)).astype(np.float32)
    scale = np.where(scale > 0, scale, np.float32(1.0)).astype(np.float32)
    shape = [1] * w.ndim
    if axis is not None:
        shape[axis] = -1
    q = np.rint(w / scale.reshape(shape))
    np.clip(q, -qmax, qmax, out=q)
    return q.astype(np.int8), (scale if axis is not None else scale.reshape(()))


def blocked(w: np.ndarray, axis: int, block_size: int, bits: int, signed: bool
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Blocked quantization along ``axis`` (DequantizeLinear-21's ``block_size``):
    ``(q, scale, zero_point or None)`` where ``scale`` has ``w``'s shape with
    ``axis`` divided into ``ceil(n / block_size)`` blocks.  ``signed``: symmetric
    int4/int8 (no zero point; at 4 bits each block's clipping point chosen
    for the least squared error); else asymmetric uint4/uint8 with a zero
    point per block, at 4 bits fitted by least squares (measurably closer:
    16 levels placed on the block's own range)."""
    w = np.asarray(w, dtype=np.float32)
    w = np.moveaxis(w, axis, 0)
    n = w.shape[0]
    nb = -(-n // block_size)
    pad = nb * block_size - n
    wp = np.pad(w, [(0, pad)] + [(0, 0)] * (w.ndim - 1)) if pad else w
    blocks = wp.reshape((nb, block_size) + w.shape[1:])
    if signed:
        qmax = (1 << (bits - 1)) - 1
        amax = np.abs(blocks).max(axis=1)
        scale = _best_scale(blocks, amax / qmax, -qmax - 1, qmax) if bits < 8 else amax / qmax
        scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
        q = np.clip(np.rint(blocks / scale[:, None]), -qmax - 1, qmax)
        zp = None
    else:
        qmax = (1 << bits) - 1
        scale, zp = _fit_affine(blocks, qmax, rounds=4 if bits < 8 else 0)
        q = np.clip(np.rint(blocks / scale[:, None]) + zp[:, None], 0, qmax)
    q = q.reshape(wp.shape)[:n]
    dtype = _int_dtype(bits, signed)
    q = np.moveaxis(q, 0, axis).astype(dtype)
    scale = np.ascontiguousarray(np.moveaxis(scale, 0, axis))
    if zp is not None:
        zp = np.ascontiguousarray(np.moveaxis(zp, 0, axis)).astype(dtype)
    return np.ascontiguousarray(q), scale, zp


#: the fractions of a block's largest magnitude tried as its clipping point (4 bits)
_CLIP_RATIOS = (1.0, 0.95, 0.9, 0.85, 0.8, 0.75)


def _best_scale(blocks: np.ndarray, scale: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Per block, the scale (the full-range one shrunk by one of
    :data:`_CLIP_RATIOS`) with the least squared rounding error: at 4 bits,
    clipping the one or two largest weights of a block buys a finer step for
    the other thirty (a few passes over the weights, each vectorized)."""
    best, best_err = scale, None
    for r in _CLIP_RATIOS:
        s = np.where(scale > 0, scale * r, 1.0).astype(np.float32)
        q = np.clip(np.rint(blocks / s[:, None]), lo, hi)
        err = np.square(q * s[:, None] - blocks).sum(axis=1)
        if best_err is None:
            best, best_err = s, err
        else:
            better = err < best_err
            best = np.where(better, s, best)
            best_err = np.where(better, err, best_err)
    return best


def _fit_affine(blocks: np.ndarray, qmax: int, rounds: int) -> tuple[np.ndarray, np.ndarray]:
    """Per block ``(scale, zero_point)`` of an asymmetric grid: from the block's
    min and max, then ``rounds`` least-squares refits of the line
    ``w ~= scale * q + offset`` to the codes ``q`` rounding gave (each refit
    lowers the squared error; a weight's grid need not hold 0 exactly)."""
    lo, hi = blocks.min(axis=1), blocks.max(axis=1)
    scale = np.where(hi > lo, (hi - lo) / qmax, 1.0).astype(np.float32)
    zp = np.clip(np.rint(-lo / scale), 0, qmax)
    for _ in range(rounds):
        q = np.clip(np.rint(blocks / scale[:, None]) + zp[:, None], 0, qmax)
        qm, wm = q.mean(axis=1), blocks.mean(axis=1)
        dq = q - qm[:, None]
        den = np.square(dq).sum(axis=1)
        fit = (dq * (blocks - wm[:, None])).sum(axis=1) / np.where(den > 0, den, 1.0)
        ok = (den > 0) & (fit > 0)
        scale = np.where(ok, fit, scale).astype(np.float32)
        zp = np.where(ok, np.clip(np.rint(qm - wm / scale), 0, qmax), zp)
    return scale, zp


def _int_dtype(bits: int, signed: bool):
    if bits == 8:
        return np.int8 if signed else np.uint8
    mod = ml_dtypes()
    return mod.int4 if signed else mod.uint4


def activation_params(lo: float, hi: float, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """``(scale, zero_point)`` scalars covering ``[lo, hi]`` (widened to hold 0,
    so that zero padding and ReLU are exact): asymmetric for uint8, symmetric
    for int8."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if dtype == "int8":
        amax = max(-lo, hi)
        scale = amax / 127.0 if amax > 0 else 1.0
        return np.float32(scale), np.int8(0)
    scale = (hi - lo) / 255.0 if hi > lo else 1.0
    zp = int(np.clip(np.rint(-lo / scale), 0, 255))
    return np.float32(scale), np.uint8(zp)


def quantize_bias(b: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """A bias as int32 at ``scale`` (input scale x weight scale, per channel)."""
    q = np.rint(np.asarray(b, np.float64) / np.asarray(scale, np.float64))
    return np.clip(q, -(2 ** 31), 2 ** 31 - 1).astype(np.int32)
