"""Activations: Relu and its relatives, Sigmoid, Gelu, Swish, SwiGLU, Clip, and
the softmax family (Softmax, LogSoftmax, Hardmax; flattened to 2-D before 13)."""

from __future__ import annotations

import functools
import math
from typing import Callable

import numpy as np

from ._registry import kernel
from ._shape import same_as_input
from .math_common import erf, norm_axes, reg_shape, up


def _precise(fn: Callable, native_f16: bool = False) -> Callable:
    """A kernel from ``fn(xf, *inputs, **attrs)``: x computed in float32 when
    narrower (float16 kept with ``native_f16``), the result cast back to x's type."""
    @functools.wraps(fn)
    def k(x: np.ndarray, *more: np.ndarray, consumed_inputs=None, **attrs) -> np.ndarray:
        with np.errstate(all="ignore"):
            xf = x if native_f16 and x.dtype == np.float16 else up(x)
            return np.asarray(fn(xf, *more, **attrs)).astype(x.dtype, copy=False)
    return k


def _act(op: str, since: int) -> Callable:
    """Register ``fn`` (through :func:`_precise`) as the kernel of ``op``."""
    def deco(fn: Callable) -> Callable:
        return kernel(op, since)(_precise(fn))
    return deco


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x), without overflow for either sign."""
    e = np.exp(-np.abs(x))
    r = 1 / (1 + e)
    return np.where(x >= 0, r, e * r)


@_act("Relu", 1)
def relu(x):
    return np.maximum(x, 0)


@_act("LeakyRelu", 1)
def leaky_relu(x, *, alpha=0.01):
    return np.where(x < 0, x * alpha, x)


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


@_act("Elu", 1)
def elu(x, *, alpha=1.0):
    return np.where(x < 0, alpha * np.expm1(x), x)


def _selu(x, *, alpha=1.67326319217681884765625, gamma=1.05070102214813232421875):
    return np.where(x <= 0, (gamma * alpha) * np.expm1(x), gamma * x)


kernel("Selu", 6)(_precise(_selu))
kernel("Selu", 1)(_precise(functools.partial(_selu, alpha=1.6732000112533569, gamma=1.0506999492645264)))


@_act("Celu", 12)
def celu(x, *, alpha=1.0):
    return np.maximum(x, 0) + np.minimum(0, alpha * np.expm1(x / alpha))


@_act("Sigmoid", 1)
def sigmoid(x):
    return _sigmoid(x)


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
    return x * _sigmoid(x * alpha)


@_act("SwiGLU", 28)
def swiglu(a, b, *, alpha=1.0):
    return a * _sigmoid(a * alpha) * up(b)


@_act("Gelu", 20)
def gelu(x, *, approximate="none"):
    if approximate == "tanh":
        inner = (x + 0.044715 * x * x * x) * math.sqrt(2 / math.pi)
        return 0.5 * x * (1 + np.tanh(inner))
    return 0.5 * x * (1 + erf(x * math.sqrt(0.5)))


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
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    e /= np.sum(e, axis=axis, keepdims=True)
    return e


def log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    s = x - np.max(x, axis=axis, keepdims=True)
    return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))


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
    kernel(_op, 1)(_precise(_flat_2d(_fn), native_f16=True))
    kernel(_op, 13)(_precise(_along(_fn), native_f16=True))

reg_shape(same_as_input, ("Relu", 1), ("LeakyRelu", 1), ("PRelu", 1), ("Elu", 1), ("Selu", 1), ("Celu", 12),
          ("Sigmoid", 1), ("HardSigmoid", 1), ("HardSwish", 14), ("Softplus", 1), ("Softsign", 1),
          ("Shrink", 9), ("ThresholdedRelu", 10), ("Mish", 18), ("Swish", 24), ("SwiGLU", 28), ("Gelu", 20),
          ("Clip", 1), ("Softmax", 1), ("LogSoftmax", 1), ("Hardmax", 1))
