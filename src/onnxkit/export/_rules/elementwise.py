"""Elementwise arithmetic, comparisons, logic, activations, casts."""

from __future__ import annotations

import math
from typing import Any

from ...ir import DataType
from .._registry import conversion_rule
from ._util import aten, promoted


def _binary(onnx_op: str, compute: str = "out"):
    def rule(ctx: Any, a: Any, b: Any, **kw: Any):
        dt = ctx.out_dtype() if compute == "out" else promoted(ctx, 0, 1)
        return getattr(ctx.o, onnx_op)(ctx.cast(a, dt), ctx.cast(b, dt))
    return rule


def _scaled(ctx: Any, b: Any, alpha: Any, dt: DataType) -> Any:
    b = ctx.cast(b, dt)
    if alpha is not None and alpha != 1:
        b = ctx.o.Mul(b, ctx.cast(alpha, dt))
    return b


@conversion_rule(aten.add.Tensor, aten.add.Scalar, aten.add_.Tensor, aten.add_.Scalar)
def add(ctx, a, b, alpha=1):
    dt = ctx.out_dtype()
    if dt == DataType.BOOL:
        return ctx.o.Or(ctx.cast(a, dt), ctx.cast(b, dt))
    return ctx.o.Add(ctx.cast(a, dt), _scaled(ctx, b, alpha, dt))


@conversion_rule(aten.sub.Tensor, aten.sub.Scalar, aten.sub_.Tensor)
def sub(ctx, a, b, alpha=1):
    dt = ctx.out_dtype()
    return ctx.o.Sub(ctx.cast(a, dt), _scaled(ctx, b, alpha, dt))


@conversion_rule(aten.rsub.Tensor, aten.rsub.Scalar)
def rsub(ctx, a, b, alpha=1):
    dt = ctx.out_dtype()
    return ctx.o.Sub(ctx.cast(b, dt), _scaled(ctx, a, alpha, dt))


@conversion_rule(aten.mul.Tensor, aten.mul.Scalar, aten.mul_.Tensor, aten.mul_.Scalar)
def mul(ctx, a, b):
    dt = ctx.out_dtype()
    if dt == DataType.BOOL:
        return ctx.o.And(ctx.cast(a, dt), ctx.cast(b, dt))
    return ctx.o.Mul(ctx.cast(a, dt), ctx.cast(b, dt))


@conversion_rule(aten.div.Tensor, aten.div.Scalar, aten.true_divide.Tensor, aten.div_.Tensor)
def div(ctx, a, b):
    dt = ctx.out_dtype()
    return ctx.o.Div(ctx.cast(a, dt), ctx.cast(b, dt))


@conversion_rule(aten.div.Tensor_mode, aten.div.Scalar_mode)
def div_mode(ctx, a, b, rounding_mode=None):
    dt = ctx.out_dtype()
    if rounding_mode is None:
        return ctx.o.Div(ctx.cast(a, dt), ctx.cast(b, dt))
    if dt.is_floating:
        q = ctx.o.Div(ctx.cast(a, dt), ctx.cast(b, dt))
        if rounding_mode == "floor":
            return ctx.o.Floor(q)
        return ctx.o.Where(ctx.o.Less(q, ctx.const(0.0, dt)), ctx.o.Ceil(q), ctx.o.Floor(q))
    if rounding_mode == "trunc":
        return ctx.o.Div(ctx.cast(a, dt), ctx.cast(b, dt))
    return _floordiv_int(ctx, ctx.cast(a, dt), ctx.cast(b, dt), dt)


def _floordiv_int(ctx, a, b, dt):
    # integer Div truncates; floor differs when the signs differ and there is a remainder
    q = ctx.o.Div(a, b)
    r = ctx.o.Mod(a, b, fmod=1)
    zero = ctx.const(0, dt)
    fix = ctx.o.And(ctx.o.Not(ctx.o.Equal(r, zero)),
                 ctx.o.Xor(ctx.o.Less(a, zero), ctx.o.Less(b, zero)))
    return ctx.o.Sub(q, ctx.o.Cast(fix, to=int(dt)))


@conversion_rule(aten.floor_divide.default, aten.floor_divide.Scalar)
def floor_divide(ctx, a, b):
    return div_mode(ctx, a, b, rounding_mode="floor")


@conversion_rule(aten.remainder.Tensor, aten.remainder.Scalar)
def remainder(ctx, a, b):
    dt = ctx.out_dtype()
    a, b = ctx.cast(a, dt), ctx.cast(b, dt)
    if dt.is_floating:
        return ctx.o.Sub(a, ctx.o.Mul(ctx.o.Floor(ctx.o.Div(a, b)), b))
    return ctx.o.Mod(a, b, fmod=0)


@conversion_rule(aten.fmod.Tensor, aten.fmod.Scalar)
def fmod(ctx, a, b):
    dt = ctx.out_dtype()
    return ctx.o.Mod(ctx.cast(a, dt), ctx.cast(b, dt), fmod=1)


@conversion_rule(aten.pow.Tensor_Scalar, aten.pow.Tensor_Tensor, aten.pow.Scalar)
def pow_(ctx, a, b):
    dt = ctx.out_dtype()
    if isinstance(b, (int, float)) and not isinstance(b, bool):
        if b == 2:
            x = ctx.cast(a, dt)
            return ctx.o.Mul(x, x)
        if b == 1:
            return ctx.o.Identity(ctx.cast(a, dt))
        if b == 0.5 and dt.is_floating:
            return ctx.o.Sqrt(ctx.cast(a, dt))
    if dt.is_integer:
        # ONNX Pow on ints: compute in double, round back
        p = ctx.o.Pow(ctx.cast(a, DataType.DOUBLE), ctx.cast(b, DataType.DOUBLE))
        return ctx.o.Cast(ctx.o.Round(p), to=int(dt))
    return ctx.o.Pow(ctx.cast(a, dt), ctx.cast(b, dt))


def _unary(onnx_op: str, float_only: bool = False, **attrs: Any):
    def rule(ctx, x, *rest, **kw):
        dt = ctx.out_dtype()
        return getattr(ctx.o, onnx_op)(ctx.cast(x, dt), **attrs)
    return rule


for _aten, _onnx in [
    ("neg", "Neg"), ("abs", "Abs"), ("exp", "Exp"), ("log", "Log"), ("sqrt", "Sqrt"),
    ("reciprocal", "Reciprocal"), ("sin", "Sin"), ("cos", "Cos"), ("tan", "Tan"), ("tanh", "Tanh"),
    ("sigmoid", "Sigmoid"), ("relu", "Relu"), ("erf", "Erf"), ("floor", "Floor"), ("ceil", "Ceil"),
    ("sign", "Sign"), ("asin", "Asin"), ("acos", "Acos"), ("atan", "Atan"), ("sinh", "Sinh"),
    ("cosh", "Cosh"), ("asinh", "Asinh"), ("acosh", "Acosh"), ("atanh", "Atanh"),
    ("round", "Round"), ("relu_", "Relu"), ("sigmoid_", "Sigmoid"), ("tanh_", "Tanh"),
]:
    _ov = getattr(aten, _aten)
    conversion_rule(_ov.default)(_unary(_onnx))


@conversion_rule(aten.rsqrt.default)
def rsqrt(ctx, x):
    dt = ctx.out_dtype()
    return ctx.o.Reciprocal(ctx.o.Sqrt(ctx.cast(x, dt)))


@conversion_rule(aten.trunc.default)
def trunc(ctx, x):
    dt = ctx.out_dtype()
    x = ctx.cast(x, dt)
    return ctx.o.Where(ctx.o.Less(x, ctx.const(0.0, dt)), ctx.o.Ceil(x), ctx.o.Floor(x))


@conversion_rule(aten.log2.default)
def log2(ctx, x):
    dt = ctx.out_dtype()
    return ctx.o.Div(ctx.o.Log(ctx.cast(x, dt)), ctx.const(math.log(2.0), dt))


@conversion_rule(aten.log10.default)
def log10(ctx, x):
    dt = ctx.out_dtype()
    return ctx.o.Div(ctx.o.Log(ctx.cast(x, dt)), ctx.const(math.log(10.0), dt))


@conversion_rule(aten.log1p.default)
def log1p(ctx, x):
    dt = ctx.out_dtype()
    return ctx.o.Log(ctx.o.Add(ctx.cast(x, dt), ctx.const(1.0, dt)))


@conversion_rule(aten.expm1.default)
def expm1(ctx, x):
    dt = ctx.out_dtype()
    return ctx.o.Sub(ctx.o.Exp(ctx.cast(x, dt)), ctx.const(1.0, dt))


@conversion_rule(aten.atan2.default)
def atan2(ctx, y, x):
    dt = ctx.out_dtype()
    y, x = ctx.cast(y, dt), ctx.cast(x, dt)
    base = ctx.o.Atan(ctx.o.Div(y, x))
    zero, pi = ctx.const(0.0, dt), ctx.const(math.pi, dt)
    neg_x = ctx.o.Less(x, zero)
    adj = ctx.o.Where(ctx.o.Less(y, zero), ctx.o.Neg(pi), pi)
    return ctx.o.Add(base, ctx.o.Where(neg_x, adj, zero))


@conversion_rule(aten.gelu.default)
def gelu(ctx, x, approximate="none"):
    dt = ctx.out_dtype()
    x = ctx.cast(x, dt)
    if ctx.opset >= 20:
        return ctx.o.Gelu(x, approximate=approximate)
    if approximate == "tanh":
        inner = ctx.o.Mul(ctx.const(math.sqrt(2 / math.pi), dt),
                       ctx.o.Add(x, ctx.o.Mul(ctx.const(0.044715, dt), ctx.o.Mul(x, ctx.o.Mul(x, x)))))
        return ctx.o.Mul(ctx.o.Mul(ctx.const(0.5, dt), x), ctx.o.Add(ctx.const(1.0, dt), ctx.o.Tanh(inner)))
    e = ctx.o.Erf(ctx.o.Mul(x, ctx.const(1 / math.sqrt(2), dt)))
    return ctx.o.Mul(ctx.o.Mul(ctx.const(0.5, dt), x), ctx.o.Add(ctx.const(1.0, dt), e))


@conversion_rule(aten.silu.default, aten.silu_.default)
def silu(ctx, x):
    return ctx.o.Mul(x, ctx.o.Sigmoid(x))


@conversion_rule(aten.mish.default)
def mish(ctx, x):
    return ctx.o.Mish(x)


@conversion_rule(aten.hardswish.default, aten.hardswish_.default)
def hardswish(ctx, x):
    return ctx.o.HardSwish(x)


@conversion_rule(aten.hardsigmoid.default)
def hardsigmoid(ctx, x):
    return ctx.o.HardSigmoid(x, alpha=1.0 / 6, beta=0.5)


@conversion_rule(aten.leaky_relu.default, aten.leaky_relu_.default)
def leaky_relu(ctx, x, negative_slope=0.01):
    return ctx.o.LeakyRelu(x, alpha=float(negative_slope))


@conversion_rule(aten.elu.default)
def elu(ctx, x, alpha=1.0, scale=1.0, input_scale=1.0):
    if scale != 1.0 or input_scale != 1.0:
        raise ctx.error("elu with scale/input_scale other than 1 is not supported yet")
    return ctx.o.Elu(x, alpha=float(alpha))


@conversion_rule(aten.softplus.default)
def softplus(ctx, x, beta=1, threshold=20):
    dt = ctx.out_dtype()
    if beta == 1:
        sp = ctx.o.Softplus(x)
    else:
        sp = ctx.o.Div(ctx.o.Softplus(ctx.o.Mul(x, ctx.const(float(beta), dt))),
                    ctx.const(float(beta), dt))
    big = ctx.o.Greater(ctx.o.Mul(x, ctx.const(float(beta), dt)), ctx.const(float(threshold), dt))
    return ctx.o.Where(big, x, sp)


@conversion_rule(aten.hardtanh.default, aten.hardtanh_.default)
def hardtanh(ctx, x, min_val=-1.0, max_val=1.0):
    dt = ctx.out_dtype()
    return ctx.o.Clip(x, ctx.const(min_val, dt), ctx.const(max_val, dt))


@conversion_rule(aten.clamp.default, aten.clamp.Tensor, aten.clamp_.default)
def clamp(ctx, x, min=None, max=None):
    dt = ctx.out_dtype()
    x = ctx.cast(x, dt)
    if not hasattr(min, "producer") and not hasattr(max, "producer"):
        return ctx.o.Clip(x, None if min is None else ctx.const(min, dt),
                      None if max is None else ctx.const(max, dt))
    if min is not None:
        x = ctx.o.Max(x, ctx.cast(min, dt))
    if max is not None:
        x = ctx.o.Min(x, ctx.cast(max, dt))
    return x


@conversion_rule(aten.clamp_min.default, aten.clamp_min.Tensor)
def clamp_min(ctx, x, m):
    return clamp(ctx, x, min=m)


@conversion_rule(aten.clamp_max.default, aten.clamp_max.Tensor)
def clamp_max(ctx, x, m):
    return clamp(ctx, x, max=m)


conversion_rule(aten.minimum.default)(_binary("Min"))
conversion_rule(aten.maximum.default)(_binary("Max"))
conversion_rule(aten.fmin.default)(_binary("Min"))
conversion_rule(aten.fmax.default)(_binary("Max"))

for _aten, _onnx in [("eq", "Equal"), ("lt", "Less"), ("le", "LessOrEqual"), ("gt", "Greater"),
                     ("ge", "GreaterOrEqual")]:
    _ov = getattr(aten, _aten)
    conversion_rule(_ov.Tensor, _ov.Scalar)(_binary(_onnx, compute="promoted"))


@conversion_rule(aten.ne.Tensor, aten.ne.Scalar)
def ne(ctx, a, b):
    dt = promoted(ctx, 0, 1)
    return ctx.o.Not(ctx.o.Equal(ctx.cast(a, dt), ctx.cast(b, dt)))


def _logic(onnx_op: str, bitwise_op: str):
    def rule(ctx, a, b):
        dt = ctx.out_dtype()
        if dt == DataType.BOOL:
            return getattr(ctx.o, onnx_op)(ctx.cast(a, DataType.BOOL), ctx.cast(b, DataType.BOOL))
        return getattr(ctx.o, bitwise_op)(ctx.cast(a, dt), ctx.cast(b, dt))
    return rule


conversion_rule(aten.logical_and.default, aten.bitwise_and.Tensor, aten.bitwise_and.Scalar)(_logic("And", "BitwiseAnd"))
conversion_rule(aten.logical_or.default, aten.bitwise_or.Tensor, aten.bitwise_or.Scalar)(_logic("Or", "BitwiseOr"))
conversion_rule(aten.logical_xor.default, aten.bitwise_xor.Tensor, aten.bitwise_xor.Scalar)(_logic("Xor", "BitwiseXor"))


@conversion_rule(aten.logical_not.default)
def logical_not(ctx, x):
    return ctx.o.Not(ctx.cast(x, DataType.BOOL))


@conversion_rule(aten.bitwise_not.default)
def bitwise_not(ctx, x):
    dt = ctx.out_dtype()
    return ctx.o.Not(x) if dt == DataType.BOOL else ctx.o.BitwiseNot(x)


@conversion_rule(aten.isnan.default)
def isnan(ctx, x):
    return ctx.o.IsNaN(x)


@conversion_rule(aten.isinf.default)
def isinf(ctx, x):
    return ctx.o.IsInf(x)


@conversion_rule(aten.where.self, aten.where.ScalarOther, aten.where.ScalarSelf, aten.where.Scalar)
def where(ctx, cond, a, b):
    dt = ctx.out_dtype()
    return ctx.o.Where(ctx.cast(cond, DataType.BOOL), ctx.cast(a, dt), ctx.cast(b, dt))


@conversion_rule(aten.masked_fill.Scalar, aten.masked_fill.Tensor)
def masked_fill(ctx, x, mask, value):
    dt = ctx.out_dtype()
    return ctx.o.Where(ctx.cast(mask, DataType.BOOL), ctx.cast(value, dt), ctx.cast(x, dt))


@conversion_rule(aten.lerp.Scalar, aten.lerp.Tensor)
def lerp(ctx, a, b, w):
    dt = ctx.out_dtype()
    a = ctx.cast(a, dt)
    return ctx.o.Add(a, ctx.o.Mul(ctx.cast(w, dt), ctx.o.Sub(ctx.cast(b, dt), a)))


# ---------------------------------------------------------------- casts and copies


@conversion_rule(aten._to_copy.default, aten.to.dtype, aten._to_dtype.default if hasattr(aten, "_to_dtype") else aten.to.dtype)
def to_copy(ctx, x, *args, **kwargs):
    return ctx.cast(x, ctx.out_dtype())


@conversion_rule(aten.clone.default, aten.alias.default, aten.detach.default, aten.lift_fresh_copy.default,
                 aten.contiguous.default, aten.alias_copy.default, aten.detach_copy.default,
                 aten.lift_fresh.default, aten.dropout.default, aten.positive.default)
def identity(ctx, x, *args, **kwargs):
    return x


@conversion_rule(aten.copy.default, aten.copy_.default)
def copy(ctx, dst, src, non_blocking=False):
    dt = ctx.out_dtype()
    return ctx.o.Expand(ctx.cast(src, dt), ctx.shape(dst))


@conversion_rule(aten.native_dropout.default)
def native_dropout(ctx, x, p, train):
    if train:
        raise ctx.error("dropout in training mode cannot be exported; call model.eval() first")
    return x, None
