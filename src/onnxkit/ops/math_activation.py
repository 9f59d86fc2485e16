"""Activations: Relu and its relatives, Sigmoid, Gelu, Swish, SwiGLU, Clip, and
the softmax family (Softmax, LogSoftmax, Hardmax; flattened to 2-D before 13)."""

from __future__ import annotations

import functools
import math
from typing import Callable

import numpy as np

from . import _parallel
from ._registry import fast, kernel
from ._shape import same_as_input
from ._shape import norm_axes
from .math_common import blockwise, erf, reg_shape, up


def _precise(fn: Callable, along_axis: bool = False) -> Callable:
    """A kernel from ``fn(xf, *inputs, **attrs)``: x computed in float32 when
    narrower, the result cast back to x's type.  Element-wise ``fn`` see a 0-d
    x as 1-D (so they may work in place); ``along_axis`` ones (softmax) see it
    as it is, and keep float16 in float16."""
    @functools.wraps(fn)
    def k(x: np.ndarray, *more: np.ndarray, consumed_inputs=None, **attrs) -> np.ndarray:
        with np.errstate(all="ignore"):
            if along_axis:
                xf = x if x.dtype == np.float16 else up(x)
            else:
                xf = up(x).reshape(-1) if x.ndim == 0 else up(x)
            return np.asarray(fn(xf, *more, **attrs)).astype(x.dtype, copy=False).reshape(x.shape)
    return k


def _act(op: str, since: int) -> Callable:
    """Register ``fn`` (through :func:`_precise`) as the kernel of ``op``."""
    def deco(fn: Callable) -> Callable:
        return kernel(op, since)(_precise(fn))
    return deco


@fast("Sigmoid", arity=1)
def sigmoid_of(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """1 / (1 + e^-x) (into ``out`` when given): e^-x overflowing to inf gives
    the right limit 0, and the tail keeps its relative precision (callers
    silence the overflow warning).  The one sigmoid of onnxkit: the kernel, the
    runtime's fast form and the recurrent ops use it."""
    t = np.negative(x, out=out)
    np.exp(t, out=t)
    t += 1
    return np.reciprocal(t, out=t)


@fast("Relu", arity=1)
def _relu_fast(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.maximum(x, 0, out=out) if out is not None else np.maximum(x, 0)


@_act("Relu", 1)
def relu(x):
    return np.maximum(x, 0)


@_act("LeakyRelu", 1)
def leaky_relu(x, *, alpha=0.01):
    if 0 <= alpha <= 1:                      # max/min beat np.where's masked select
        return np.maximum(x, x * alpha)
    return np.minimum(x, x * alpha) if alpha > 1 else np.where(x < 0, x * alpha, x)


@_act("PRelu", 7)
def prelu(x, slope):
    slope = up(slope)
    return np.where(x < 0, x * slope, x)


@_act("PRelu", 1)
def prelu_1(x, slope):
    """Before opset 7 a 1-D slope of C values applies per channel (axis 1)."""
    if slope.ndim == 1 and x.ndim > 2 and slope.shape[0] == x.shape[1] != 1:
        slope = slope.reshape((-1,) + (1,) * (x.ndim - 2))
    return prelu.__wrapped__(x, slope)


def _elu(x: np.ndarray, alpha: float) -> np.ndarray:
    """x for x >= 0, alpha * (e^x - 1) below."""
    neg = np.minimum(x, 0)
    np.expm1(neg, out=neg)
    neg *= alpha
    neg += np.maximum(x, 0)
    return neg


@_act("Elu", 1)
def elu(x, *, alpha=1.0):
    return _elu(x, alpha)


def _selu(x, *, alpha=1.67326319217681884765625, gamma=1.05070102214813232421875):
    r = _elu(x, alpha)
    r *= gamma
    return r


kernel("Selu", 6)(_precise(_selu))
kernel("Selu", 1)(_precise(functools.partial(_selu, alpha=1.6732000112533569, gamma=1.0506999492645264)))


@_act("Celu", 12)
def celu(x, *, alpha=1.0):
    return np.maximum(x, 0) + np.minimum(0, alpha * np.expm1(x / alpha))


@_act("Sigmoid", 1)
def sigmoid(x):
    return sigmoid_of(x)


@_act("HardSigmoid", 1)
def hard_sigmoid(x, *, alpha=0.2, beta=0.5):
    return np.clip(x * alpha + beta, 0, 1)


@_act("HardSwish", 14)
def hard_swish(x):
    return x * np.clip(x * (1 / 6) + 0.5, 0, 1)


@_act("Softplus", 1)
def softplus(x):
    return np.logaddexp(x, 0)


@_act("Softsign", 1)
def softsign(x):
    return x / (1 + np.abs(x))


@_act("Shrink", 9)
def shrink(x, *, bias=0.0, lambd=0.5):
    return np.where(x < -lambd, x + bias, np.where(x > lambd, x - bias, 0))


@_act("ThresholdedRelu", 10)
def thresholded_relu(x, *, alpha=1.0):
    return np.where(x > alpha, x, 0)


@_act("Mish", 18)
def mish(x):
    return x * np.tanh(np.logaddexp(x, 0))


@_act("Swish", 24)
def swish(x, *, alpha=1.0):
    r = sigmoid_of(x * alpha)
    r *= x
    return r


@_act("SwiGLU", 28)
def swiglu(a, b, *, alpha=1.0):
    r = swish.__wrapped__(a, alpha=alpha)
    r *= up(b)
    return r


# ------------------------------------------------------------- erf and Gelu
# float32 erf as erf(x) = tanh(x * Q(x^2)): atanh(erf(x)) / x is smooth and
# even, and tanh saturates to +-1 exactly where float32 erf does, so neither a
# clamp nor a division is needed (15 passes over memory, against ~35 for the
# general rational form).  Q of degree 6 in x^2, Q(0) = 2/sqrt(pi), fitted by
# reweighted least squares on the relative error against math.erf; in float32
# arithmetic: absolute error < 2e-7, relative error < 3e-7 over the whole line
# (+-inf -> +-1, nan -> nan).
_ERF_Q = (1.1283791670955126, 0.10277001960253405, -0.00019390498783100052, -0.0006181065489075698,
          8.704709632288678e-05, -5.5782915319896575e-06, 1.370148613239258e-07)
# erf(x / sqrt(2)) = tanh(x * Q'(x^2)) with Q'_k = Q_k / (sqrt(2) * 2^k): Gelu's form
_PHI_Q = tuple(c / (math.sqrt(2.0) * 2.0 ** k) for k, c in enumerate(_ERF_Q))
_F32 = np.dtype(np.float32)
_GELU_BLOCK = 65536      # elements: the block and its two temporaries (768 KiB) stay in L2


def _tanh_poly(x: np.ndarray, coeffs: tuple, s: np.ndarray, r: np.ndarray) -> np.ndarray:
    """tanh(x * Q(x^2)) into ``r`` (``s`` a scratch buffer of x's shape)."""
    np.multiply(x, x, out=s)
    np.multiply(s, coeffs[-1], out=r)
    r += coeffs[-2]
    for c in coeffs[-3::-1]:
        r *= s
        r += c
    r *= x
    return np.tanh(r, out=r)


def _blocks(x: np.ndarray, out: np.ndarray, body) -> np.ndarray:
    """Run ``body(xb, ob, s, r)`` over L2-sized blocks of flat float32 ``x``
    (``out`` may be ``x``), with two scratch buffers reused for every block."""
    n = x.size
    fx, fo = x.reshape(-1), out.reshape(-1)
    m = min(n, _GELU_BLOCK)

    def blocks(start: int, stop: int) -> None:      # blocks [start, stop), scratch of their own
        s_buf, r_buf = np.empty(m, x.dtype), np.empty(m, x.dtype)
        with np.errstate(all="ignore"):
            for i in range(start * m, min(stop * m, n), m):
                j = min(i + m, n)
                body(fx[i:j], fo[i:j], s_buf[:j - i], r_buf[:j - i])
    _parallel.split_rows(-(-n // m) if n else 0, blocks, row_work=m)
    return out


def _erf_body(xb, ob, s, r):
    _tanh_poly(xb, _ERF_Q, s, r)
    ob[...] = r


def erf_f32(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """erf of a float32 array (see ``_ERF_Q``), into ``out`` (may be ``x``)."""
    x = np.ascontiguousarray(x)
    return _blocks(x, np.empty_like(x) if out is None else out, _erf_body)


def _gelu_erf_body(xb, ob, s, r):
    _tanh_poly(xb, _PHI_Q, s, r)               # r = erf(x / sqrt 2)
    np.multiply(xb, 0.5, out=s)
    r *= s
    np.add(r, s, out=ob)                        # 0.5 x + 0.5 x erf(x / sqrt 2)


_K0, _K1 = math.sqrt(2 / math.pi), 0.044715 * math.sqrt(2 / math.pi)


def _gelu_tanh_body(xb, ob, s, r):
    np.multiply(xb, xb, out=s)
    np.multiply(s, _K1, out=r)
    r += _K0
    r *= xb
    np.tanh(r, out=r)
    np.multiply(xb, 0.5, out=s)
    r *= s
    np.add(r, s, out=ob)


def gelu_inplace(y: np.ndarray, approximate: str = "none") -> np.ndarray:
    """Gelu of a C-contiguous float32 array, written over it (FusedMatMul's
    epilogue and the Gelu kernel's float32 path)."""
    return _blocks(y, y, _gelu_tanh_body if approximate == "tanh" else _gelu_erf_body)


def _gelu_erf(x: np.ndarray) -> np.ndarray:
    r = erf(x * math.sqrt(0.5))
    r += 1
    r *= x
    r *= 0.5
    return r


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    r = x * x
    r *= 0.044715 * math.sqrt(2 / math.pi)
    r += math.sqrt(2 / math.pi)
    r *= x
    np.tanh(r, out=r)
    r += 1
    r *= x
    r *= 0.5
    return r


def _gelu_any(x, *, approximate="none"):
    return blockwise(_gelu_tanh if approximate == "tanh" else _gelu_erf, x)


_gelu_general = _precise(_gelu_any)


@kernel("Gelu", 20)
def gelu(x: np.ndarray, *, approximate: str = "none") -> np.ndarray:
    """x * Phi(x), Phi by erf, or by tanh with ``approximate="tanh"``.  float32
    goes through the blocked single-precision path; other types through the
    general one (float64 erf to 1e-9, narrow floats computed in float32)."""
    if x.dtype == _F32 and x.ndim:
        out = np.empty(x.shape, _F32)
        return _blocks(np.ascontiguousarray(x), out,
                       _gelu_tanh_body if approximate == "tanh" else _gelu_erf_body)
    return _gelu_general(x, approximate=approximate)


# -------------------------------------------------------------------- Clip
@_act("Clip", 1)
def clip_1(x, *, min=None, max=None):  # noqa: A002  (the spec's attribute names)
    if min is not None:
        x = np.maximum(x, min)
    return x if max is None else np.minimum(x, max)


@kernel("Clip", 6)
def clip_6(x, *, min=-3.4028234663852886e38, max=3.4028234663852886e38):  # noqa: A002
    return clip_1(x, min=min, max=max)


@kernel("Clip", 11)
def clip_11(x, lo=None, hi=None):
    """min/max became optional inputs; min > max gives max everywhere."""
    return clip_1(x, min=None if lo is None else up(lo), max=None if hi is None else up(hi))


# ----------------------------------------------------------- softmax family
def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """exp(x - max) / sum: stable; x has rank >= 1.  One fresh buffer, every
    step after the subtraction in place."""
    if x.ndim >= 2 and (axis == x.ndim - 1) and x.size >= _parallel.DEFAULT_MIN_WORK \
            and _parallel.workers() >= _parallel.MIN_WORKERS:
        x2 = np.ascontiguousarray(x).reshape(-1, x.shape[-1])
        out = np.empty_like(x2)

        def rows(a: int, b: int) -> None:
            e = np.subtract(x2[a:b], np.max(x2[a:b], axis=1, keepdims=True), out=out[a:b])
            np.exp(e, out=e)
            e /= np.sum(e, axis=1, keepdims=True)
        _parallel.split_rows(x2.shape[0], rows, row_work=x2.shape[1])
        return out.reshape(x.shape)
    e = np.subtract(x, np.max(x, axis=axis, keepdims=True))
    np.exp(e, out=e)
    e /= np.sum(e, axis=axis, keepdims=True)
    return e


def log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """x - max - log(sum(exp(x - max))), with one temporary for the exp."""
    s = np.subtract(x, np.max(x, axis=axis, keepdims=True))
    t = np.exp(s)
    s -= np.log(np.sum(t, axis=axis, keepdims=True))
    return s


def _hardmax(x: np.ndarray, axis: int) -> np.ndarray:
    """1 at the first maximum along ``axis``, 0 elsewhere."""
    out = np.zeros_like(x)
    if x.size:
        np.put_along_axis(out, np.expand_dims(np.argmax(x, axis=axis), axis), 1, axis=axis)
    return out


def _flat_2d(fn: Callable) -> Callable:
    """Before opset 13: the input is read as 2-D [prod(dims[:axis]), prod(dims[axis:])]."""
    def k(x: np.ndarray, *, axis: int = 1) -> np.ndarray:
        if x.ndim == 0:
            return fn(x.reshape(1, 1), 1).reshape(())
        a = norm_axes([axis], x.ndim)[0]
        rows = math.prod(x.shape[:a])
        return fn(x.reshape(rows, math.prod(x.shape[a:])), 1).reshape(x.shape)
    return k


def _along(fn: Callable) -> Callable:
    def k(x: np.ndarray, *, axis: int = -1) -> np.ndarray:
        return fn(x, norm_axes([axis], max(x.ndim, 1))[0]) if x.ndim else fn(x.reshape(1), 0).reshape(())
    return k


# float16 stays float16 here (each numpy float16 op rounds once), as the
# reference and the conformance data do: float32 sums differ from them by 2 ulp.
for _op, _fn in {"Softmax": _softmax, "LogSoftmax": log_softmax, "Hardmax": _hardmax}.items():
    kernel(_op, 1)(_precise(_flat_2d(_fn), along_axis=True))
    kernel(_op, 13)(_precise(_along(_fn), along_axis=True))

reg_shape(same_as_input, ("Relu", 1), ("LeakyRelu", 1), ("PRelu", 1), ("Elu", 1), ("Selu", 1), ("Celu", 12),
          ("Sigmoid", 1), ("HardSigmoid", 1), ("HardSwish", 14), ("Softplus", 1), ("Softsign", 1),
          ("Shrink", 9), ("ThresholdedRelu", 10), ("Mish", 18), ("Swish", 24), ("SwiGLU", 28), ("Gelu", 20),
          ("Clip", 1), ("Softmax", 1), ("LogSoftmax", 1), ("Hardmax", 1))
