"""Element-wise math, comparisons, logic, activations, Softmax family, Cast."""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

from .._registry import rule
from ._common import norm_axis, scalar, torch_dtype

_INT_TYPES = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)

# ------------------------------------------------------------------ binary arithmetic (numpy broadcasting)
rule("Add", 7, fn=torch.add)
rule("Sub", 7, fn=torch.sub)
rule("Mul", 7, fn=torch.mul)


@rule("Div", 7)
def div(a, b):
    if a.dtype in _INT_TYPES:
        return torch.div(a, b, rounding_mode="trunc")      # the spec's integer division truncates
    return torch.div(a, b)


@rule("Pow", 7)
def pow_(a, b):
    if a.dtype in _INT_TYPES and (b.is_floating_point() or b.dtype != a.dtype):
        return torch.pow(a.double(), b.double()).to(a.dtype)   # output has the base's type
    if a.is_floating_point() and not b.is_floating_point():
        b = b.to(a.dtype)
    return torch.pow(a, b).to(a.dtype)


@rule("Mod", 10)
def mod(a, b, *, fmod=0):
    return torch.fmod(a, b) if fmod else torch.remainder(a, b)


@rule("BitShift", 11)
def bit_shift(a, b, *, direction):
    return torch.bitwise_left_shift(a, b) if direction == "LEFT" else torch.bitwise_right_shift(a, b)


rule("BitwiseAnd", 18, fn=torch.bitwise_and)
rule("BitwiseOr", 18, fn=torch.bitwise_or)
rule("BitwiseXor", 18, fn=torch.bitwise_xor)
rule("BitwiseNot", 18, fn=torch.bitwise_not)

# ------------------------------------------------------------------ comparisons and logic
rule("Equal", 7, fn=torch.eq)
rule("Greater", 7, fn=torch.gt)
rule("Less", 7, fn=torch.lt)
rule("GreaterOrEqual", 12, fn=torch.ge)
rule("LessOrEqual", 12, fn=torch.le)
rule("And", 7, fn=torch.logical_and)
rule("Or", 7, fn=torch.logical_or)
rule("Xor", 7, fn=torch.logical_xor)
rule("Not", 1, fn=torch.logical_not)
rule("Where", 9, fn=torch.where)
rule("IsNaN", 9, fn=torch.isnan)


@rule("IsInf", 10)
def is_inf(x, *, detect_negative=1, detect_positive=1):
    if detect_negative and detect_positive:
        return torch.isinf(x)
    if detect_negative:
        return torch.isneginf(x)
    if detect_positive:
        return torch.isposinf(x)
    return torch.zeros_like(x, dtype=torch.bool)


# ------------------------------------------------------------------ variadic (broadcasting from opset 8)
def _variadic(op, name):
    def f(*xs):
        return functools.reduce(op, xs)
    f.__name__ = f.__qualname__ = name
    return f


rule("Max", 8, fn=_variadic(torch.maximum, "max_"))
rule("Min", 8, fn=_variadic(torch.minimum, "min_"))
rule("Sum", 8, fn=_variadic(torch.add, "sum_"))


@rule("Mean", 8)
def mean(*xs):
    return functools.reduce(torch.add, xs) / len(xs)


# ------------------------------------------------------------------ unary math
for _op, _fn in {"Neg": torch.neg, "Abs": torch.abs, "Reciprocal": torch.reciprocal, "Floor": torch.floor,
                 "Ceil": torch.ceil, "Sqrt": torch.sqrt, "Exp": torch.exp, "Log": torch.log,
                 "Relu": torch.relu, "Sigmoid": torch.sigmoid, "Tanh": torch.tanh}.items():
    rule(_op, 6, fn=_fn)
for _op, _fn in {"Sin": torch.sin, "Cos": torch.cos, "Tan": torch.tan, "Asin": torch.asin,
                 "Acos": torch.acos, "Atan": torch.atan}.items():
    rule(_op, 7, fn=_fn)
for _op, _fn in {"Sinh": torch.sinh, "Cosh": torch.cosh, "Asinh": torch.asinh, "Acosh": torch.acosh,
                 "Atanh": torch.atanh, "Erf": torch.erf, "Sign": torch.sign}.items():
    rule(_op, 9, fn=_fn)
rule("Round", 11, fn=torch.round)             # half to even, as the spec says


@rule("Identity", 1)
def identity(x):
    return x

rule("Softsign", 1, fn=F.softsign)


@rule("Softplus", 1)
def softplus(x):
    return F.softplus(x, beta=1.0, threshold=20.0)


# ------------------------------------------------------------------ activations with attributes
@rule("LeakyRelu", 6)
def leaky_relu(x, *, alpha=0.01):
    return F.leaky_relu(x, alpha)


@rule("Elu", 6)
def elu(x, *, alpha=1.0):
    return F.elu(x, alpha)


@rule("Selu", 6)
def selu(x, *, alpha=1.67326319217681884765625, gamma=1.05070102214813232421875):
    return gamma * torch.where(x > 0, x, alpha * (torch.exp(x) - 1))


@rule("Celu", 12)
def celu(x, *, alpha=1.0):
    return F.celu(x, alpha)


@rule("HardSigmoid", 6)
def hard_sigmoid(x, *, alpha=0.2, beta=0.5):
    return torch.clamp(alpha * x + beta, 0, 1)


@rule("HardSwish", 14)
def hard_swish(x):
    return x * torch.clamp(x / 6 + 0.5, 0, 1)


@rule("ThresholdedRelu", 10)
def thresholded_relu(x, *, alpha=1.0):
    return torch.where(x > alpha, x, torch.zeros_like(x))


@rule("Mish", 18)
def mish(x):
    return x * torch.tanh(F.softplus(x))


@rule("PRelu", 7)
def prelu(x, slope):
    return torch.where(x < 0, x * slope, x)


@rule("Shrink", 9)
def shrink(x, *, bias=0.0, lambd=0.5):
    zero = torch.zeros_like(x)
    return torch.where(x < -lambd, x + bias, torch.where(x > lambd, x - bias, zero)).to(x.dtype)


@rule("Gelu", 20)
def gelu(x, *, approximate="none"):
    return F.gelu(x, approximate=approximate)


@rule("Clip", 6)
def clip6(x, *, min=-3.4028234663852886e38, max=3.4028234663852886e38):
    return torch.clamp(x, min, max)


@rule("Clip", 11)
def clip(x, min=None, max=None):
    if min is None and max is None:
        return x
    return torch.clamp(x, min, max)


# ------------------------------------------------------------------ Softmax family
def _coerced(fn, x, axis):
    """Opset < 13: the input seen as 2-D, [prod(shape[:axis]), prod(shape[axis:])]."""
    axis = norm_axis(axis, x.dim())
    shape = x.shape
    return fn(x.reshape(math.prod(shape[:axis]), -1), 1).reshape(shape)


def _hardmax(x, dim):
    idx = torch.argmax(x, dim=dim, keepdim=True)
    return torch.zeros_like(x).scatter_(dim, idx, 1)


@rule("Softmax", 1)
def softmax1(x, *, axis=1):
    return _coerced(torch.softmax, x, axis)


@rule("Softmax", 13)
def softmax(x, *, axis=-1):
    return torch.softmax(x, axis)


@rule("LogSoftmax", 1)
def log_softmax1(x, *, axis=1):
    return _coerced(torch.log_softmax, x, axis)


@rule("LogSoftmax", 13)
def log_softmax(x, *, axis=-1):
    return torch.log_softmax(x, axis)


@rule("Hardmax", 1)
def hardmax1(x, *, axis=1):
    return _coerced(_hardmax, x, axis)


@rule("Hardmax", 13)
def hardmax(x, *, axis=-1):
    return _hardmax(x, norm_axis(axis, x.dim()))


# ------------------------------------------------------------------ Cast
@rule("Cast", 6)
def cast(x, *, to, saturate=1, round_mode="up"):
    return x.to(torch_dtype(to))


@rule("CastLike", 15)
def cast_like(x, like, *, saturate=1, round_mode="up"):
    return x.to(like.dtype)


# ------------------------------------------------------------------ scans along an axis
@rule("CumSum", 11, const=(1,))
def cumsum(x, axis, *, exclusive=0, reverse=0):
    a = norm_axis(int(scalar(axis)), x.dim())
    if reverse:
        x = x.flip(a)
    y = torch.cumsum(x, a).to(x.dtype)
    if exclusive:
        y = y - x
    return y.flip(a) if reverse else y


@rule("Trilu", 14, const=(1,))
def trilu(x, k=None, *, upper=1):
    k = 0 if k is None else int(scalar(k))
    return torch.triu(x, k) if upper else torch.tril(x, k)


@rule("Det", 11)
def det(x):
    return torch.linalg.det(x)


@rule("Einsum", 12)
def einsum(*xs, equation):
    return torch.einsum(equation.replace(" ", ""), *xs)


@rule("CumProd", 26, const=(1,))
def cumprod(x, axis, *, exclusive=0, reverse=0):
    a = norm_axis(int(scalar(axis)), x.dim())
    if reverse:
        x = x.flip(a)
    if exclusive:
        ones = torch.ones_like(x.narrow(a, 0, 1))
        x = torch.cat([ones, x.narrow(a, 0, x.shape[a] - 1)], a)
    y = torch.cumprod(x, a).to(x.dtype)
    return y.flip(a) if reverse else y


@rule("Swish", 24)
def swish(x, *, alpha=1.0):
    return x * torch.sigmoid(alpha * x)


# ------------------------------------------------------------------ (de)quantization, per tensor or per axis
_QRANGE = {torch.uint8: (0, 255), torch.int8: (-128, 127), torch.int16: (-32768, 32767),
           torch.int32: (-2 ** 31, 2 ** 31 - 1)}


def _per_axis(p, x, axis):
    """A 1-D scale / zero point shaped to broadcast along ``axis`` of x."""
    if p.dim() == 0 or p.numel() == 1 and x.dim() == 0:
        return p.reshape(())
    shape = [1] * x.dim()
    shape[norm_axis(axis, x.dim())] = -1
    return p.reshape(shape)


def _unblocked(a, n):
    return not a.get("block_size", 0)


@rule("QuantizeLinear", 10, when=_unblocked)
def quantize_linear(x, y_scale, y_zero_point=None, *, axis=1, block_size=0, output_dtype=0, saturate=1,
                    precision=0):
    if y_zero_point is not None:
        dt = y_zero_point.dtype
    else:
        dt = torch_dtype(output_dtype) if output_dtype else torch.uint8
    scale = _per_axis(y_scale, x, axis)
    ct = torch.float64 if x.dtype == torch.float64 or dt == torch.int32 else torch.float32
    q = torch.round(x.to(ct) / scale.to(ct))
    if y_zero_point is not None:
        q = q + _per_axis(y_zero_point, x, axis).to(ct)
    lo, hi = _QRANGE[dt]
    return torch.clamp(q, lo, hi).to(dt)


@rule("DequantizeLinear", 10, when=_unblocked)
def dequantize_linear(x, x_scale, x_zero_point=None, *, axis=1, block_size=0, output_dtype=0):
    scale = _per_axis(x_scale, x, axis)
    ct = torch.float64 if x.dtype == torch.int32 else torch.float32
    v = x.to(ct)
    if x_zero_point is not None:
        v = v - _per_axis(x_zero_point, x, axis).to(ct)
    out = (v * scale.to(ct))
    return out.to(torch_dtype(output_dtype) if output_dtype else x_scale.dtype)


# ------------------------------------------------------------------ opsets 1-6: broadcasting by attribute
def _legacy_binary(op, name):
    """Opset < 7: no numpy broadcasting; with ``broadcast=1`` B is aligned with
    A's axes from ``axis`` on (the last axes by default)."""
    def f(a, b, *, broadcast=0, axis=None, consumed_inputs=None):
        if broadcast and axis is not None and b.dim() and b.dim() + norm_axis(axis, a.dim()) < a.dim():
            b = b.reshape(tuple(b.shape) + (1,) * (a.dim() - norm_axis(axis, a.dim()) - b.dim()))
        return op(a, b)
    f.__name__ = f.__qualname__ = name
    return f


rule("Add", 1, fn=_legacy_binary(torch.add, "add_legacy"))
rule("Sub", 1, fn=_legacy_binary(torch.sub, "sub_legacy"))
rule("Mul", 1, fn=_legacy_binary(torch.mul, "mul_legacy"))
rule("Div", 1, fn=_legacy_binary(div, "div_legacy"))
rule("Pow", 1, fn=_legacy_binary(pow_, "pow_legacy"))


@rule("PRelu", 1)
def prelu_legacy(x, slope, *, consumed_inputs=None):
    """Opset < 7: a 1-D slope of C entries is per channel (axis 1)."""
    if slope.dim() == 1 and x.dim() > 2 and slope.numel() == x.shape[1] > 1:
        slope = slope.reshape(-1, *[1] * (x.dim() - 2))
    return prelu(x, slope)


for _op, _fn in (("Max", torch.maximum), ("Min", torch.minimum), ("Sum", torch.add)):
    rule(_op, 1, fn=_variadic(_fn, _op.lower() + "_legacy"))
rule("Mean", 1, fn=mean)


def _legacy_unary(fn):
    def f(x, *, consumed_inputs=None):
        return fn(x)
    f.__name__ = f.__qualname__ = fn.__name__ + "_legacy"
    return f


for _op, _fn in {"Neg": torch.neg, "Abs": torch.abs, "Reciprocal": torch.reciprocal, "Floor": torch.floor,
                 "Ceil": torch.ceil, "Sqrt": torch.sqrt, "Exp": torch.exp, "Log": torch.log,
                 "Relu": torch.relu, "Sigmoid": torch.sigmoid, "Tanh": torch.tanh}.items():
    rule(_op, 1, fn=_legacy_unary(_fn))
