"""Convolutions (Conv, ConvTranspose, DeformConv, Col2Im, CausalConvWithState,
the quantized ones) against onnxruntime / onnx.reference on cases the
conformance suite lacks, and their shape rules (symbolic dims, auto_pad)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto

from tests.ops.nn_testutil import check_op, check_shapes, node_model

rng = np.random.default_rng(0)
F = TensorProto.FLOAT


def r(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("attrs, m", [
    (dict(group=2, dilations=[2, 1], pads=[1, 0, 2, 1], strides=[2, 3]), 6),
    (dict(auto_pad="SAME_LOWER", strides=[2, 2]), 4),
    (dict(auto_pad="SAME_UPPER", strides=[3, 2]), 4),
    (dict(auto_pad="VALID", group=4), 8),
])
def test_conv_2d_attrs(attrs, m):
    g = attrs.get("group", 1)
    check_op("Conv", [("x", r(2, 4, 9, 10)), ("w", r(m, 4 // g, 3, 2)), ("b", r(m))], **attrs)


def test_conv_1x1_strided_and_depthwise_3d_double():
    check_op("Conv", [("x", r(1, 6, 7, 7)), ("w", r(5, 6, 1, 1))], strides=[2, 2])
    check_op("Conv", [("x", r(2, 3, 5, 6, 4, dtype=np.float64)), ("w", r(6, 1, 2, 3, 2, dtype=np.float64))],
             group=3, pads=[1, 0, 1, 0, 1, 1], oracle="ref")


def test_conv_float16():
    check_op("Conv", [("x", r(1, 2, 6, 6, dtype=np.float16)), ("w", r(3, 2, 3, 3, dtype=np.float16))],
             rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("attrs", [
    dict(group=2, strides=[2, 1], dilations=[1, 2], output_padding=[1, 0], pads=[0, 1, 1, 0]),
    dict(auto_pad="SAME_LOWER", strides=[2, 2]),
    dict(auto_pad="SAME_UPPER", strides=[2, 1]),
    dict(output_shape=[9, 7], strides=[2, 2]),
])
def test_conv_transpose_attrs(attrs):
    g = attrs.get("group", 1)
    check_op("ConvTranspose", [("x", r(2, 4, 4, 3)), ("w", r(4, 3, 3, 2)), ("b", r(3 * g))], **attrs)


def test_conv_transpose_output_larger_than_natural():
    # SAME with stride > kernel: in*stride would need a negative pad; onnxruntime and onnx's shape
    # inference keep the natural size (onnx.reference pads zeros), and so does onnxkit
    check_op("ConvTranspose", [("x", r(1, 2, 3, 3)), ("w", r(2, 1, 2, 2))], auto_pad="SAME_LOWER",
             strides=[3, 3])
    # an explicit output_shape larger than the natural size: zeros at the end
    check_op("ConvTranspose", [("x", r(1, 2, 3, 3)), ("w", r(2, 1, 2, 2))], oracle="ref",
             output_shape=[10, 9], strides=[3, 3])


def test_conv_transpose_1d_3d():
    check_op("ConvTranspose", [("x", r(1, 2, 5)), ("w", r(2, 3, 4))], strides=[3])
    check_op("ConvTranspose", [("x", r(1, 2, 3, 2, 3)), ("w", r(2, 1, 2, 2, 2))], strides=[1, 2, 1])


def test_conv_integer_and_qlinear_per_channel():
    x = rng.integers(0, 255, (1, 3, 6, 6), dtype=np.uint8)
    w = rng.integers(-127, 127, (4, 3, 3, 3), dtype=np.int8)
    # onnx.reference, not onnxruntime: onnxruntime's uint8 x int8 convolution saturates its int16
    # pair sums on x86-64 hosts without AVX-512 VNNI (up to 64 off there); onnxkit and onnx.reference
    # agree with the exact integer result everywhere
    check_op("ConvInteger", [("x", x), ("w", w), ("xz", np.array(3, np.uint8))], pads=[1, 1, 1, 1], oracle="ref")
    check_op("QLinearConv", [("x", x), ("xs", np.array(0.05, np.float32)), ("xz", np.array(128, np.uint8)),
                             ("w", w), ("ws", rng.uniform(0.01, 0.03, 4).astype(np.float32)),
                             ("wz", np.zeros(4, np.int8)), ("ys", np.array(0.2, np.float32)),
                             ("yz", np.array(100, np.uint8)), ("b", rng.integers(-50, 50, 4).astype(np.int32))],
             strides=[2, 2], atol=1, oracle="ref")


def test_qlinear_matmul_int8():
    a = rng.integers(-128, 127, (2, 3, 4), dtype=np.int8)
    b = rng.integers(-128, 127, (4, 5), dtype=np.int8)
    check_op("QLinearMatMul", [("a", a), ("as", np.array(0.02, np.float32)), ("az", np.array(1, np.int8)),
                               ("b", b), ("bs", np.array(0.03, np.float32)), ("bz", np.array(-2, np.int8)),
                               ("ys", np.array(0.1, np.float32)), ("yz", np.array(3, np.int8))],
             opset=21, atol=1, oracle="ref")  # onnx.reference: see QLinearConv above


def test_deform_conv_against_reference():
    x, w = r(1, 4, 5, 6), r(4, 2, 2, 2)
    off = r(1, 2 * 2 * 2 * 2, 5, 6) * 0.7
    mask = rng.uniform(0, 1, (1, 2 * 4, 5, 6)).astype(np.float32)
    check_op("DeformConv", [("x", x), ("w", w), ("o", off), ("b", r(4)), ("m", mask)], oracle="ref",
             group=2, offset_group=2, pads=[1, 0, 0, 1], opset=22)


def test_col2im_3d_and_causal_conv():
    check_op("Col2Im", [("x", r(2, 2 * 2 * 2 * 1, 2 * 3 * 3)), ("i", np.array([3, 4, 3], np.int64)),
                        ("b", np.array([2, 2, 1], np.int64))], oracle="ref", opset=18)
    check_op("CausalConvWithState", [("x", r(2, 3, 5)), ("w", r(3, 1, 4)), ("b", r(3)), ("s", r(2, 3, 3))], 2,
             oracle="ref", opset=27, activation="silu")


# ------------------------------------------------------------------ shape rules
def _sym(n_in: int, shape):
    return [("x", (F, shape)), ("w", (F, [4, n_in, 3, 3]))]


def test_conv_shapes_symbolic():
    m = node_model("Conv", _sym(3, ["N", 3, "H", "W"]), pads=[1, 1, 1, 1])
    assert check_shapes(m) == ["float[N,4,H,W]"]
    m = node_model("Conv", _sym(3, ["N", 3, "H", 10]), auto_pad="SAME_UPPER", strides=[2, 2])
    got = check_shapes(m)[0]
    assert got.startswith("float[N,4,") and got.endswith(",5]") and "?" not in got
    m = node_model("Conv", _sym(3, ["N", 3, 11, 12]), strides=[2, 3], dilations=[2, 1])
    assert check_shapes(m) == ["float[N,4,4,4]"]


def test_conv_transpose_and_quant_shapes():
    m = node_model("ConvTranspose", [("x", (F, ["N", 2, "H", 5])), ("w", (F, [2, 3, 3, 3]))], strides=[2, 2],
                   group=1, output_padding=[1, 1])
    assert check_shapes(m) == ["float[N,3,2*H + 2,12]"]
    m = node_model("ConvTranspose", [("x", (F, ["N", 2, "H", 5])), ("w", (F, [2, 3, 3, 3]))],
                   auto_pad="SAME_UPPER", strides=[2, 2])
    assert check_shapes(m) == ["float[N,3,2*H,10]"]
    m = node_model("ConvInteger", [("x", (TensorProto.UINT8, [1, 3, 8, 8])), ("w", (TensorProto.UINT8, [2, 3, 3, 3]))])
    assert check_shapes(m) == ["int32[1,2,6,6]"]


def test_col2im_and_causal_shapes():
    m = node_model("Col2Im", [("x", (F, ["N", 8, 12])), ("i", np.array([3, 4], np.int64)),
                              ("b", np.array([2, 2], np.int64))], opset=18,
                   initializers={"i": np.array([3, 4], np.int64), "b": np.array([2, 2], np.int64)})
    assert check_shapes(m) == ["float[N,2,3,4]"]
    m = node_model("CausalConvWithState", [("x", (F, ["B", 3, "L"])), ("w", (F, [3, 1, 4]))], 2, opset=27)
    assert check_shapes(m) == ["float[B,3,L]", "float[B,3,3]"]


def test_deform_conv_shapes():
    m = node_model("DeformConv", [("x", (F, ["N", 4, "H", "W"])), ("w", (F, [6, 2, 3, 3])),
                                  ("o", (F, ["N", 36, "A", "B"]))], opset=22, group=2, offset_group=2,
                   pads=[1, 1, 1, 1])
    assert check_shapes(m) == ["float[N,6,H,W]"]
    m = node_model("DeformConv", [("x", (F, ["N", 4, 7, 8])), ("w", (F, [6, 2, 3, 3])),
                                  ("o", (F, ["N", 36, None, None]))], opset=22, group=2)
    assert check_shapes(m) == ["float[N,6,5,6]"]
