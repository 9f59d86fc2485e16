"""QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear against onnxruntime
and onnx.reference beyond the conformance cases (per-axis with zero points,
blocks that do not divide the axis, saturate=0, output_dtype), and their
shape rules against onnx.shape_inference."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import onnx
import pytest
from onnx import TensorProto

import onnxkit
from tests.ops.data_testutil import assert_agrees, check_model, node_model

RNG = np.random.default_rng(0)


def _model(op: str, feeds: dict, opset: int, n_out: int = 1, **attrs) -> onnx.ModelProto:
    return node_model(op, feeds, opset=opset, n_out=n_out, **attrs)


def check(op: str, feeds: dict, opset: int, oracle: str = "ort", n_out: int = 1, **attrs) -> list:
    return check_model(_model(op, feeds, opset, n_out, **attrs), feeds, oracle)


@pytest.mark.parametrize("zp_type", [np.int8, np.uint8, np.int16, np.uint16])
def test_quantize_per_axis_with_zero_point(zp_type):
    x = (RNG.standard_normal((2, 3, 4)) * 50).astype(np.float32)
    scale = np.array([0.5, 1.0, 2.0], np.float32)
    zp = np.array([0, 3, -2 if np.dtype(zp_type).kind == "i" else 7], zp_type)
    check("QuantizeLinear", {"x": x, "s": scale, "zp": zp}, 21, axis=1)
    check("DequantizeLinear", {"q": check("QuantizeLinear", {"x": x, "s": scale, "zp": zp}, 21, axis=1)[0],
                               "s": scale, "zp": zp}, 21, axis=1)


def test_quantize_rounds_half_to_even_and_saturates():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 1000, -1000, 254.5], np.float32)
    check("QuantizeLinear", {"x": x, "s": np.array(1.0, np.float32), "zp": np.array(0, np.uint8)}, 13)
    check("QuantizeLinear", {"x": x, "s": np.array(1.0, np.float32)}, 10)


@pytest.mark.parametrize("axis,block", [(1, 3), (-1, 2), (0, 4)])
def test_blocked_quantization_with_a_remainder_block(axis, block):
    x = (RNG.standard_normal((5, 7)) * 10).astype(np.float32)
    shape = list(x.shape)
    shape[axis] = -(-shape[axis] // block)
    scale = RNG.uniform(0.1, 1.0, shape).astype(np.float32)
    zp = RNG.integers(-5, 5, shape).astype(np.int8)
    q = check("QuantizeLinear", {"x": x, "s": scale, "zp": zp}, 21, axis=axis, block_size=block)[0]
    check("DequantizeLinear", {"q": q, "s": scale, "zp": zp}, 21, axis=axis, block_size=block)


def test_blocked_quantization_rejects_a_wrong_scale_shape():
    feeds = {"x": np.zeros((4, 6), np.float32), "s": np.ones((4, 2), np.float32)}
    m = _model("QuantizeLinear", feeds, 21, axis=1, block_size=2)
    with pytest.raises(onnxkit.errors.RunError, match="blocked"):
        onnxkit.Session(m.SerializeToString()).run(None, feeds)


@pytest.mark.parametrize("dtype", [TensorProto.FLOAT8E4M3FN, TensorProto.FLOAT8E5M2,
                                   TensorProto.FLOAT8E4M3FNUZ, TensorProto.FLOAT8E5M2FNUZ])
@pytest.mark.parametrize("saturate", [0, 1])
def test_float8_quantization_saturate(dtype, saturate):
    x = np.array([0.3, -1e5, 1e5, 448, 600, np.inf, -np.inf, 57344, 1e-9], np.float32)
    check("QuantizeLinear", {"x": x, "s": np.array(2.0, np.float32)}, 23, oracle="reference",
          output_dtype=dtype, saturate=saturate)


@pytest.mark.parametrize("dtype", [TensorProto.INT4, TensorProto.UINT4, TensorProto.INT2,
                                   TensorProto.UINT2, TensorProto.FLOAT4E2M1])
def test_output_dtype_without_zero_point(dtype):
    x = np.linspace(-20, 20, 24, dtype=np.float32).reshape(4, 6)
    scale = np.array([0.5, 1, 2, 4], np.float32)
    q = check("QuantizeLinear", {"x": x, "s": scale}, 25, oracle="reference", axis=0,
              output_dtype=dtype)[0]
    check("DequantizeLinear", {"q": q, "s": scale}, 25, oracle="reference", axis=0)


def test_float16_scale_and_output_dtype():
    x = (RNG.standard_normal((3, 4)) * 30).astype(np.float16)
    scale = np.array(0.25, np.float16)
    q = check("QuantizeLinear", {"x": x, "s": scale, "zp": np.array(1, np.int8)}, 21)[0]
    check("DequantizeLinear", {"q": q, "s": scale, "zp": np.array(1, np.int8)}, 21)
    check("DequantizeLinear", {"q": q, "s": np.array(0.25, np.float32)}, 23, oracle="reference",
          output_dtype=TensorProto.FLOAT16)


def test_dequantize_int32_and_bfloat16_scale():
    q = np.array([-(2 ** 20), -1, 0, 5, 2 ** 24 + 1], np.int32)
    check("DequantizeLinear", {"q": q, "s": np.array(0.001, np.float32)}, 13)
    check("DequantizeLinear", {"q": q.astype(np.int8), "s": np.array(0.5, ml_dtypes.bfloat16)}, 21,
          oracle="reference")


@pytest.mark.parametrize("shape", [(3, 4), (1, 17), (2, 3, 5)])
@pytest.mark.parametrize("lo,hi", [(-3.0, 5.0), (1.0, 9.0), (-8.0, -2.0), (0.0, 0.0)])
def test_dynamic_quantize_linear_like_onnxruntime(shape, lo, hi):
    x = RNG.uniform(lo, hi, shape).astype(np.float32)
    check("DynamicQuantizeLinear", {"x": x}, 11, n_out=3)


def test_quantize_rule_dtype_from_attribute_or_default():
    x = np.zeros((2, 3), np.float32)
    assert_agrees(_model("QuantizeLinear", {"x": x, "s": np.array(1, np.float32)}, 23,
                         output_dtype=TensorProto.INT4))
    m = onnxkit.load(_model("QuantizeLinear", {"x": x, "s": np.array(1, np.float32)}, 21).SerializeToString())
    from onnxkit.infer import infer_shapes
    infer_shapes(m, strict=True)
    t = m.graph.outputs[0].type
    assert t.elem_type == onnxkit.DataType.UINT8 and list(t.shape.dims) == [2, 3]
