"""Math kernels against onnxruntime (or onnx.reference where onnxruntime lacks
the op, type or version) on what the conformance suite does not cover:
other dtypes, attributes, old versions and edge cases."""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper
from onnx.reference import ReferenceEvaluator

import onnxkit
from onnxkit.ops.math_common import erf

RNG = np.random.default_rng(0)
NotImplemented_ = ort.capi.onnxruntime_pybind11_state.NotImplemented


def _elem(x: np.ndarray) -> int:
    if x.dtype == object:
        return onnx.TensorProto.STRING
    return helper.np_dtype_to_tensor_dtype(x.dtype)


def _model(op: str, feeds: dict, n_out: int, opset: int, **attrs) -> bytes:
    names = [n if n else "" for n in feeds]
    node = helper.make_node(op, names, [f"y{i}" for i in range(n_out)], **attrs)
    ins = [helper.make_tensor_value_info(n, _elem(x), list(x.shape)) for n, x in feeds.items() if n]
    outs = [helper.make_empty_tensor_value_info(f"y{i}") for i in range(n_out)]
    return helper.make_model(helper.make_graph([node], "g", ins, outs),
                             opset_imports=[helper.make_opsetid("", opset)], ir_version=10).SerializeToString()


def check(op: str, *inputs, opset: int = 21, n_out: int = 1, oracle: str = "ort", rtol: float = 1e-5,
          atol: float = 1e-6, **attrs) -> list:
    """Run ``op`` in onnxkit and in the oracle; same dtypes, shapes and values.
    ``inputs``: arrays, or None for an absent optional input."""
    feeds = {(f"x{i}" if x is not None else ""): x for i, x in enumerate(inputs)}
    if sum(1 for k in feeds if not k) > 1:
        feeds = {(f"x{i}" if x is not None else " " * i): x for i, x in enumerate(inputs)}
        feeds = {(k if k.strip() else ""): v for k, v in feeds.items()}
    m = _model(op, feeds, n_out, opset, **attrs)
    real = {k: v for k, v in feeds.items() if k}
    want = None
    if oracle == "ort":
        try:
            want = ort.InferenceSession(m, providers=["CPUExecutionProvider"]).run(None, real)
        except NotImplemented_:         # onnxruntime lacks this type or version
            pass
    if want is None:
        want = ReferenceEvaluator(onnx.load_from_string(m)).run(None, real)
    got = onnxkit.Session(m).run(None, real)
    for w, g in zip(want, got):
        w = np.asarray(w)
        assert g.shape == w.shape, (op, g.shape, w.shape)
        assert g.dtype == w.dtype, (op, g.dtype, w.dtype)
        if w.dtype == object or w.dtype == bool or w.dtype.kind in "iu":
            np.testing.assert_array_equal(g, w)
        else:
            np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), rtol=rtol, atol=atol)
    return got


def rand(shape, dtype=np.float32, lo=-3.0, hi=3.0) -> np.ndarray:
    if np.dtype(dtype).kind in "iu":
        return RNG.integers(lo, hi, size=shape).astype(dtype)
    return RNG.uniform(lo, hi, size=shape).astype(dtype)


INTS = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64]


# ---------------------------------------------------------------- binary
@pytest.mark.parametrize("dtype", INTS + [np.float16, np.float64])
@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
def test_arith_dtypes(op, dtype):
    lo = 0 if np.dtype(dtype).kind == "u" else -50
    a, b = rand((3, 4), dtype, lo, 50), rand((4,), dtype, 1, 9)
    if op == "Div" and np.dtype(dtype).kind == "i":
        b[::2] *= -1                   # truncation toward zero, both signs
    check(op, a, b, opset=14, rtol=1e-3)


def test_integer_wraparound_and_div_truncation():
    a = np.array([120, -128, -7, 7, -7], np.int8)
    b = np.array([10, 1, 2, -2, -2], np.int8)
    check("Add", a, b, opset=14)
    check("Mul", a, b, opset=14)
    got = check("Div", a, b, opset=14)[0]
    assert got.tolist() == [12, -128, -3, -3, 3]


# fmod=0 is integer-only in the spec (onnxruntime refuses it for floats)
@pytest.mark.parametrize("fmod,dtype", [
    (fmod, dtype) for fmod in (0, 1)
    for dtype in (np.int8, np.int32, np.int64, np.uint16, np.float32, np.float64, np.float16)
    if fmod or np.dtype(dtype).kind != "f"])
def test_mod(fmod, dtype):
    lo = 0 if np.dtype(dtype).kind == "u" else -20
    a = rand((5, 6), dtype, lo, 20)
    b = rand((6,), dtype, 1, 7)
    if np.dtype(dtype).kind != "u":
        b[::2] *= -1
    check("Mod", a, b, opset=13, fmod=fmod, rtol=1e-3)


def test_mod_float_floor_special_values():
    a = np.array([5.5, -5.5, 0.0, -0.0, np.inf, 3.0, -3.0, np.nan], np.float32)
    b = np.array([2.0, 2.0, -3.0, 3.0, 2.0, np.inf, np.inf, 1.0], np.float32)
    got = onnxkit.ops.math_binary.mod(a, b)
    want = [1.5, 0.5, -0.0, 0.0, np.nan, 3.0, np.inf, np.nan]
    np.testing.assert_array_equal(got, np.array(want, np.float32))
    assert np.signbit(got[2]) and not np.signbit(got[3])


@pytest.mark.parametrize("base,exp", [(np.int32, np.float32), (np.int64, np.int64), (np.float32, np.int32),
                                      (np.float32, np.float64), (np.float64, np.int64), (np.float16, np.float16),
                                      (np.int32, np.int32)])
def test_pow_types(base, exp):
    x = rand((4, 3), base, 1, 6)
    y = rand((3,), exp, 0, 4)
    check("Pow", x, y, opset=15, rtol=1e-3)


def test_pow_integer_negative_exponent():
    x = np.array([2, -1, 1, -1, 3, 2], np.int64)
    y = np.array([-1, -3, -5, -2, 2, 10], np.int64)
    got = check("Pow", x, y, opset=15)[0]
    assert got.tolist() == [0, -1, 1, 1, 9, 1024]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.uint64])
@pytest.mark.parametrize("direction", ["LEFT", "RIGHT"])
def test_bitshift(dtype, direction):
    bits = np.dtype(dtype).itemsize * 8
    x = rand((10,), dtype, 0, 200)
    y = np.array([0, 1, 2, 3, bits - 1, 5, 6, 7, 0, 1], dtype)
    check("BitShift", x, y, opset=11, direction=direction)


def test_bitshift_signed_opset28():
    x = np.array([-5, 5, -128, 64, 1, -1], np.int8)
    y = np.array([1, 8, 3, 1, 9, 7], np.int8)
    k = onnxkit.ops.math_binary.bitshift
    assert k(x, y, direction="RIGHT").tolist() == [-3, 0, -16, 32, 0, -1]
    assert k(x, y, direction="LEFT").tolist() == [-10, 0, 0, -128, 0, -128]


@pytest.mark.parametrize("op", ["BitwiseAnd", "BitwiseOr", "BitwiseXor"])
@pytest.mark.parametrize("dtype", [np.int8, np.uint16, np.int64])
def test_bitwise(op, dtype):
    check(op, rand((3, 4), dtype, 0, 100), rand((4,), dtype, 0, 100), opset=18)


@pytest.mark.parametrize("op", ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"])
@pytest.mark.parametrize("dtype", [np.int8, np.uint32, np.int64, np.float16, np.float64])
def test_compare(op, dtype):
    a = rand((4, 5), dtype, 0, 4)
    check(op, a, a[::-1, ::-1].copy() if dtype != np.float16 else a[0], opset=16)


def test_equal_strings_and_logical():
    a = np.array(["a", "bc", "", "d"], dtype=object)
    b = np.array(["a", "b", "", "e"], dtype=object)
    check("Equal", a, b, opset=19)
    p, q = RNG.random((3, 4)) > 0.5, RNG.random((4,)) > 0.5
    for op in ("And", "Or", "Xor"):
        check(op, p, q, opset=7)
    check("Not", p, opset=1)


def run_only(op: str, *inputs, opset: int, **attrs) -> np.ndarray:
    """onnxkit alone (versions no oracle runs)."""
    feeds = {f"x{i}": x for i, x in enumerate(inputs)}
    return onnxkit.Session(_model(op, feeds, 1, opset, **attrs)).run(None, feeds)[0]


def test_legacy_broadcast_axis():
    a, b = rand((2, 3, 4, 5)), rand((3, 4))
    for op, f in {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}.items():
        got = run_only(op, a, b, opset=6, broadcast=1, axis=1)
        np.testing.assert_allclose(got, f(a, b[:, :, None]), rtol=1e-6)
    c = rand((5,))
    np.testing.assert_allclose(run_only("Add", a, c, opset=6, broadcast=1), a + c)
    np.testing.assert_allclose(run_only("Sub", a, a, opset=1), 0)
    p = np.abs(a)
    np.testing.assert_allclose(run_only("Pow", p, b, opset=1, broadcast=1, axis=1), p ** b[:, :, None],
                               rtol=1e-5)
    m, n = RNG.random((3, 4)) > 0.5, RNG.random((2, 3, 4)) > 0.5
    np.testing.assert_array_equal(run_only("And", n, m, opset=1, broadcast=1, axis=1), n & m)
    np.testing.assert_array_equal(run_only("Equal", a, a[0, 0], opset=1, broadcast=1, axis=2),
                                  a == a[0, 0])


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.uint8, np.int64, object])
def test_where(dtype):
    c = RNG.random((3, 1, 4)) > 0.5
    if dtype is object:
        x = np.array([["a", "b", "c", "d"]], dtype=object)
        y = np.array(["z"], dtype=object)
        check("Where", c, x, y, opset=16, oracle="ref")
    else:
        check("Where", c, rand((2, 4), dtype, 0, 9), rand((4,), dtype, 0, 9), opset=16)


@pytest.mark.parametrize("op", ["Max", "Min", "Sum", "Mean"])
@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.float64])
def test_variadic(op, dtype):
    check(op, rand((2, 3, 4), dtype), rand((3, 1), dtype), rand((4,), dtype), opset=13, rtol=1e-3)
    check(op, rand((2, 3), dtype), opset=13)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int32, np.uint64])
def test_max_min_int(dtype):
    for op in ("Max", "Min"):
        check(op, rand((3, 4), dtype, 0, 100), rand((4,), dtype, 0, 100), opset=13)


# ----------------------------------------------------------------- unary
UNARY_F = ["Abs", "Neg", "Sign", "Ceil", "Floor", "Round", "Exp", "Log", "Sqrt", "Reciprocal", "Sin", "Cos",
           "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Tanh", "Asinh", "Acosh", "Atanh", "Erf", "Sigmoid",
           "Relu", "Softplus", "Softsign", "Elu", "Selu", "Celu", "HardSigmoid", "HardSwish", "Mish",
           "LeakyRelu", "ThresholdedRelu", "Shrink"]


def _domain_input(op: str, dtype) -> np.ndarray:
    if op in ("Asin", "Acos", "Atanh"):
        return rand((4, 50), dtype, -0.99, 0.99)
    if op == "Acosh":
        return rand((4, 50), dtype, 1.0, 9.0)
    if op in ("Log", "Sqrt"):
        return rand((4, 50), dtype, 0.01, 9.0)
    x = rand((4, 50), dtype, -4, 4)
    if op == "Round":
        x[0, :6] = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5]
    return x


# Celu-12 is float-only (in the spec and in onnxruntime)
@pytest.mark.parametrize("op,dtype", [(op, dtype) for op in UNARY_F
                                      for dtype in (np.float32, np.float64, np.float16)
                                      if op != "Celu" or dtype == np.float32])
def test_unary_float(op, dtype):
    opset = 22 if op not in ("Celu", "Mish") else 12 if op == "Celu" else 18
    check(op, _domain_input(op, dtype), opset=opset, rtol=2e-3 if dtype == np.float16 else 1e-5,
          atol=1e-3 if dtype == np.float16 else 1e-6)


@pytest.mark.parametrize("op", ["Abs", "Neg", "Sign", "Relu"])
@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64])
def test_unary_int(op, dtype):
    check(op, rand((3, 7), dtype, -50, 50), opset=14)


@pytest.mark.parametrize("op", ["Relu", "Sigmoid", "Tanh", "Exp", "Softmax", "Gelu", "Erf", "Abs"])
def test_bfloat16_against_reference(op):
    x = rand((3, 8)).astype(ml_dtypes.bfloat16)
    check(op, x, opset=22, oracle="ref", rtol=2 ** -6, atol=1e-2)


def test_activation_attributes():
    x = rand((3, 40), np.float64)
    check("LeakyRelu", x, opset=16, alpha=0.3)
    check("Elu", x, opset=6, alpha=0.7)
    check("Selu", x, opset=6, alpha=1.2, gamma=0.9)
    check("HardSigmoid", x, opset=6, alpha=0.3, beta=0.4)
    check("ThresholdedRelu", x, opset=10, alpha=0.5)
    check("Shrink", x, opset=9, lambd=1.0, bias=0.25)
    check("Shrink", rand((20,), np.int32, -9, 9), opset=9, lambd=2.0, bias=1.0)
    check("Celu", x.astype(np.float32), opset=12, alpha=2.0)
    check("Swish", x.astype(np.float32), opset=24, oracle="ref", alpha=0.5)
    check("SwiGLU", x.astype(np.float32), rand((3, 40)), opset=28, oracle="ref", alpha=1.5)


def test_selu_v1_defaults():
    x = rand((3, 5))
    got = run_only("Selu", x, opset=1)     # the reference uses the opset 6 defaults here
    np.testing.assert_allclose(got, np.where(x > 0, 1.0507 * x, 1.0507 * 1.6732 * np.expm1(x)), rtol=1e-6)


@pytest.mark.parametrize("slope_shape", [(1,), (5,), (4, 1), (3, 4, 5)])
def test_prelu(slope_shape):
    check("PRelu", rand((3, 4, 5)), rand(slope_shape), opset=16)
    check("PRelu", rand((3, 4, 5), np.int32, -9, 9), rand(slope_shape, np.int32, -3, 3), opset=16)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_gelu(approximate, dtype):
    x = rand((64, 50), dtype, -6, 6)            # large enough for the vectorized erf
    check("Gelu", x, opset=20, approximate=approximate, rtol=1e-3 if dtype == np.float16 else 1e-5)


def test_erf_accuracy():
    x = np.concatenate([np.linspace(-7, 7, 200001), [0.0, -0.0, 1e-300, -1e-12, np.inf, -np.inf]])
    want = np.array([math.erf(v) for v in x])
    assert np.abs(erf(x) - want).max() < 2e-9
    assert np.isnan(erf(np.full(300, np.nan))).all()
    small = np.array([0.3, -2.0])
    assert erf(small).tolist() == [math.erf(0.3), math.erf(-2.0)]


def test_erf_integers_opset9():
    check("Erf", np.array([-3, -1, 0, 1, 2, 7], np.int32), opset=9, oracle="ref")


def test_isinf_isnan():
    x = np.array([np.inf, -np.inf, np.nan, 0.0, 1.0, -2.0], np.float32)
    for dn in (0, 1):
        for dp in (0, 1):
            check("IsInf", x, opset=10, detect_negative=dn, detect_positive=dp)
    check("IsNaN", x.astype(np.float16), opset=13)
    for t in (ml_dtypes.bfloat16, ml_dtypes.float8_e5m2, ml_dtypes.float8_e4m3fn):
        check("IsNaN", x.astype(t), opset=20, oracle="ref")
        check("IsInf", x.astype(t), opset=20, oracle="ref")


def test_bitwise_not():
    for dtype in (np.uint8, np.int16, np.int64):
        check("BitwiseNot", rand((9,), dtype, 0, 100), opset=18)


# ------------------------------------------------------------------ Clip
def test_clip_versions():
    x = rand((4, 6), np.float32, -5, 5)
    check("Clip", x, opset=6, min=-1.0, max=2.0)
    check("Clip", x, opset=6)
    check("Clip", x, np.array(-1.0, np.float32), np.array(2.0, np.float32), opset=13)
    check("Clip", x, None, np.array(0.5, np.float32), opset=13)
    check("Clip", x, np.array(0.5, np.float32), opset=13)
    check("Clip", x, np.array(2.0, np.float32), np.array(1.0, np.float32), opset=13)   # min > max
    for dtype in (np.int8, np.uint8, np.int32, np.int64):
        xi = rand((10,), dtype, 0, 100)
        check("Clip", xi, np.array(10, dtype), np.array(50, dtype), opset=13)
    check("Clip", x.astype(np.float16), np.array(-1, np.float16), np.array(1, np.float16), opset=13)
    got = run_only("Clip", x, opset=1, min=0.0)
    assert got.min() >= 0 and got.max() == x.max()


# ------------------------------------------------------------- softmax
@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize("opset,axis", [(11, 1), (11, 0), (11, -1), (11, 3), (13, 1), (13, -1), (13, 0)])
def test_softmax_family(op, opset, axis):
    x = rand((2, 3, 4, 5), np.float32, -5, 5)
    x[0, 0, 0, :2] = 1.0                         # ties for Hardmax: the first wins
    check(op, x, opset=opset, axis=axis)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
def test_softmax_large_values_and_types(op):
    x = np.array([[1000.0, 1001.0, 999.0], [-1e30, 0.0, 1e30]], np.float64)
    check(op, x, opset=13)
    check(op, rand((3, 7), np.float16), opset=13, rtol=2e-3, atol=2e-3)


# ------------------------------------------------------------ reductions
REDUCE = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
          "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"]


@pytest.mark.parametrize("op", REDUCE)
@pytest.mark.parametrize("axes,keepdims", [([1], 1), ([0, 2], 0), ([-1], 0), (None, 1), (None, 0)])
def test_reduce(op, axes, keepdims):
    x = rand((3, 4, 5), np.float32, 0.1, 2)
    ax = [] if axes is None else [np.array(axes, np.int64)]
    check(op, x, *ax, opset=18, keepdims=keepdims, rtol=1e-4)
    check(op, x, opset=11, keepdims=keepdims, rtol=1e-4, **({} if axes is None else {"axes": axes}))


@pytest.mark.parametrize("op", REDUCE)
def test_reduce_noop_and_types(op):
    x = rand((3, 4), np.float32, 0.1, 2)
    check(op, x, np.array([], np.int64), opset=18, noop_with_empty_axes=1)
    check(op, x, np.array([], np.int64), opset=18, noop_with_empty_axes=0)
    check(op, x.astype(np.float16), np.array([1], np.int64), opset=18, rtol=2e-3, atol=1e-3)
    if op not in ("ReduceLogSum", "ReduceLogSumExp", "ReduceL2"):
        check(op, rand((3, 4), np.int32, 0, 9), np.array([0], np.int64), opset=18, keepdims=0)
        check(op, rand((3, 4), np.int64, -9, 9), np.array([1], np.int64), opset=18)


def test_reduce_empty_and_bool():
    x = np.zeros((2, 0, 3), np.float32)
    for op in REDUCE:
        check(op, x, np.array([1], np.int64), opset=18, oracle="ref")
    check("ReduceMax", np.zeros((2, 0), np.int32), np.array([1], np.int64), opset=18, oracle="ref")
    b = RNG.random((3, 4)) > 0.5
    check("ReduceMax", b, np.array([1], np.int64), opset=20, oracle="ref")
    check("ReduceMin", b, np.array([0], np.int64), opset=20, oracle="ref")


def test_reduce_log_sum_exp_inf():
    x = np.array([[-np.inf, -np.inf], [np.inf, 1.0], [1000.0, 1000.0]], np.float32)
    check("ReduceLogSumExp", x, np.array([1], np.int64), opset=18)


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int32, np.uint8, np.float64])
def test_arg(op, dtype):
    x = rand((3, 4, 5), dtype, 0, 4)               # many ties
    for axis in (0, 1, -1):
        for keepdims in (0, 1):
            for last in (0, 1):
                check(op, x, opset=13, axis=axis, keepdims=keepdims, select_last_index=last)


@pytest.mark.parametrize("exclusive", [0, 1])
@pytest.mark.parametrize("reverse", [0, 1])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
def test_cumsum(exclusive, reverse, dtype):
    x = rand((3, 4, 2), dtype, -5, 5)
    for axis in (0, 1, -1):
        check("CumSum", x, np.array(axis, np.int32), opset=14, exclusive=exclusive, reverse=reverse)
    check("CumProd", x, np.array(1, np.int64), opset=26, oracle="ref", exclusive=exclusive, reverse=reverse)


# ------------------------------------------------------------- matmul
@pytest.mark.parametrize("sa,sb", [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)),
                                   ((2, 1, 3, 4), (5, 4, 2)), ((2, 3, 4), (4, 6))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int32, np.int64])
def test_matmul(sa, sb, dtype):
    if dtype in (np.int32, np.int64, np.float16):
        oracle = "ref"
    else:
        oracle = "ort"
    check("MatMul", rand(sa, dtype, -5, 5), rand(sb, dtype, -5, 5), opset=13, oracle=oracle, rtol=2e-3)


@pytest.mark.parametrize("ta,tb", [(0, 0), (1, 0), (0, 1), (1, 1)])
@pytest.mark.parametrize("c_shape", [None, (), (1,), (5,), (3, 1), (3, 5)])
def test_gemm(ta, tb, c_shape):
    a = rand((4, 3) if ta else (3, 4))
    b = rand((5, 4) if tb else (4, 5))
    c = [] if c_shape is None else [rand(c_shape)]
    check("Gemm", a, b, *c, opset=13, transA=ta, transB=tb, alpha=0.5, beta=2.0)
    check("Gemm", a, b, *c, opset=13, transA=ta, transB=tb)


def test_gemm_int_and_old():
    a, b, c = rand((3, 4), np.int32, -5, 5), rand((4, 2), np.int32, -5, 5), rand((2,), np.int32, -5, 5)
    check("Gemm", a, b, c, opset=13, oracle="ref")
    check("Gemm", a, b, c, opset=13, oracle="ref", alpha=2.0, beta=3.0)
    check("Gemm", rand((3, 4)), rand((4, 2)), rand((3, 2)), opset=6, oracle="ref", broadcast=0)
    check("Gemm", rand((3, 4)), rand((4, 2)), rand((2,)), opset=6, oracle="ref", broadcast=1)


@pytest.mark.parametrize("ta,tb", [(np.uint8, np.uint8), (np.int8, np.int8), (np.uint8, np.int8)])
def test_matmul_integer(ta, tb):
    lo_a, lo_b = (0, 255) if ta == np.uint8 else (-128, 127), (0, 255) if tb == np.uint8 else (-128, 127)
    a, b = rand((2, 3, 4), ta, *lo_a), rand((4, 5), tb, *lo_b)
    # uint8 x int8: onnx.reference (exact), since onnxruntime's u8s8 kernel may saturate int16 pair
    # sums on hosts without AVX-512 VNNI; the other pairs have exact kernels on every x86-64 host
    oracle = "ref" if (ta, tb) == (np.uint8, np.int8) else "ort"
    check("MatMulInteger", a, b, opset=10, oracle=oracle)
    check("MatMulInteger", a, b, np.array(7, ta), np.array(3, tb), opset=10, oracle=oracle)
    a2 = rand((3, 4), ta, *lo_a)               # per-row / per-column zero points: onnxruntime has none
    za, zb = np.array([1, 2, 3], ta), np.array([1, 2, 3, 4, 5], tb)
    got = run_only("MatMulInteger", a2, b, za, zb, opset=10)
    want = (a2.astype(np.int64) - za[:, None]) @ (b.astype(np.int64) - zb)
    assert got.dtype == np.int32 and (got == want).all()


@pytest.mark.parametrize("eq,shapes", [
    ("ij,jk->ik", [(3, 4), (4, 5)]), ("ij,jk", [(3, 4), (4, 5)]), ("ii->i", [(4, 4)]), ("ii", [(4, 4)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]), ("...ij,...jk->...ik", [(2, 3, 4), (1, 4, 5)]),
    ("i,j->ij", [(3,), (4,)]), ("ij->ji", [(3, 4)]), ("Ab,bC->CA", [(3, 4), (4, 2)]),
    ("i j , j k -> i k", [(2, 3), (3, 2)]), ("abc,cd,de->abe", [(2, 3, 4), (4, 5), (5, 2)]),
    ("...i,...i", [(2, 3, 4), (2, 3, 4)])])
def test_einsum(eq, shapes):
    xs = [rand(s, np.float64) for s in shapes]
    check("Einsum", *xs, opset=12, equation=eq)
    check("Einsum", *[rand(s, np.int32, -4, 4) for s in shapes], opset=12, oracle="ref", equation=eq)


def test_det():
    x = rand((2, 3, 4, 4))
    check("Det", x, opset=11, rtol=1e-4)
    check("Det", rand((3, 3), np.float64), opset=11)
    h = rand((2, 2), np.float16)
    got = run_only("Det", h, opset=22)
    assert got.dtype == np.float16 and np.isclose(got, np.linalg.det(h.astype(np.float32)), rtol=2e-3)


# ---------------------------------------------------------------- losses
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore_index", [None, 1, -1])
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5), (2, 3, 2, 2)])
def test_losses(reduction, weighted, ignore_index, shape):
    x = rand(shape, np.float32)
    t = RNG.integers(0, shape[1], size=(shape[0],) + shape[2:]).astype(np.int64)
    if ignore_index is not None:
        t.reshape(-1)[::3] = ignore_index
    w = [rand((shape[1],), np.float32, 0.1, 2)] if weighted else []
    attrs = {"reduction": reduction} | ({} if ignore_index is None else {"ignore_index": ignore_index})
    check("NegativeLogLikelihoodLoss", x, t, *w, opset=13, rtol=1e-5, **attrs)
    check("SoftmaxCrossEntropyLoss", x, t, *w, opset=13, n_out=2, rtol=1e-5, **attrs)
    check("SoftmaxCrossEntropyLoss", x.astype(np.float64), t.astype(np.int32), *[a.astype(np.float64) for a in w],
          opset=13, rtol=1e-5, **attrs)


def test_prelu_before_7_is_per_channel():
    x, s = rand((2, 3, 4, 5)), rand((3,))
    np.testing.assert_allclose(run_only("PRelu", x, s, opset=6), np.where(x < 0, x * s[:, None, None], x))


def test_blockwise_large_inputs():
    x = rand((3, 40000), np.float32, -6, 6)           # several cache blocks, a partial last one
    check("Gelu", x, opset=20)
    check("Erf", x, opset=13)
    check("Sigmoid", np.array([-100.0, -20.0, 0.0, 20.0, 100.0], np.float32), opset=13)
    check("Gelu", np.array(0.7, np.float32), opset=20)  # 0-d
