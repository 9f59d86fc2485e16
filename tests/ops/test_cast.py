"""Cast, CastLike, BitCast against onnx.reference on cases the conformance
suite lacks (every pair of numeric types, strings, saturate=0, float8e8m0
rounding modes), and their shape rules against onnx.shape_inference."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import onnxkit
from onnxkit.infer import infer_shapes
from tests.infer.agreement import compare

NUMERIC = [t for t in range(1, 29) if t not in (TensorProto.STRING, TensorProto.COMPLEX64,
                                                 TensorProto.COMPLEX128)]
NO_NEGATIVE = {TensorProto.UINT8, TensorProto.UINT16, TensorProto.UINT32, TensorProto.UINT64,
               TensorProto.UINT4, TensorProto.UINT2, TensorProto.BOOL, TensorProto.FLOAT8E8M0}


def _model(op: str, inputs: list[tuple[str, int, list | None]], out_type: int | None = None,
           opset: int = 25, **attrs) -> onnx.ModelProto:
    node = helper.make_node(op, [n for n, _, _ in inputs], ["y"], **attrs)
    ins = [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs]
    out = helper.make_tensor_value_info("y", out_type, None) if out_type else helper.make_empty_tensor_value_info("y")
    g = helper.make_graph([node], "g", ins, [out])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _run(m: onnx.ModelProto, feeds: dict) -> tuple[np.ndarray, np.ndarray]:
    want = ReferenceEvaluator(m).run(None, feeds)[0]
    got = onnxkit.Session(m.SerializeToString()).run(None, feeds)[0]
    return np.asarray(want), got


def _values(src: int, dst: int) -> np.ndarray:
    vals = [0.0, 1.0, 0.5, 1.5] if src != TensorProto.BOOL else [0.0, 1.0]
    if src == TensorProto.FLOAT8E8M0 or dst == TensorProto.FLOAT8E8M0:
        vals = [0.5, 1.0, 2.0, 0.25]
    elif src not in NO_NEGATIVE and dst not in NO_NEGATIVE:
        vals += [-1.0, -0.5]
    dt = helper.tensor_dtype_to_np_dtype(src)
    return np.array(vals, np.float32).astype(dt).reshape(2, -1)


@pytest.mark.parametrize("src", NUMERIC, ids=lambda t: TensorProto.DataType.Name(t))
def test_cast_every_pair_like_reference(src):
    for dst in NUMERIC:
        x = _values(src, dst)
        m = _model("Cast", [("x", src, [2, None])], to=dst)
        got = onnxkit.Session(m.SerializeToString()).run(None, {"x": x})[0]
        try:
            want = ReferenceEvaluator(m).run(None, {"x": x})[0]
        except TypeError:   # ml_dtypes cannot cast this pair directly: the same values from float32
            m32 = _model("Cast", [("x", TensorProto.FLOAT, [2, None])], to=dst)
            want = ReferenceEvaluator(m32).run(None, {"x": x.astype(np.float32)})[0]
        assert got.dtype == want.dtype, (dst, got.dtype, want.dtype)
        assert got.shape == want.shape
        np.testing.assert_array_equal(got.astype(np.float64), want.astype(np.float64),
                                      err_msg=TensorProto.DataType.Name(dst))


def test_cast_like_takes_the_target_type():
    x = np.array([[1.7, -2.2, np.nan]], np.float32)
    like = np.zeros(1, ml_dtypes.float8_e5m2)
    m = _model("CastLike", [("x", TensorProto.FLOAT, None), ("t", TensorProto.FLOAT8E5M2, None)])
    want, got = _run(m, {"x": x, "t": like})
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))


@pytest.mark.parametrize("dst", [TensorProto.FLOAT8E4M3FN, TensorProto.FLOAT8E4M3FNUZ,
                                 TensorProto.FLOAT8E5M2, TensorProto.FLOAT8E5M2FNUZ])
@pytest.mark.parametrize("saturate", [0, 1])
def test_float8_saturation_bits(dst, saturate):
    x = np.array([1e6, -1e6, np.inf, -np.inf, np.nan, 0.3, -0.0, 500, 60000, 1e-9], np.float32)
    want, got = _run(_model("Cast", [("x", TensorProto.FLOAT, None)], to=dst, saturate=saturate),
                     {"x": x})
    np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))


@pytest.mark.parametrize("mode", ["up", "down", "nearest"])
@pytest.mark.parametrize("saturate", [0, 1])
def test_e8m0_rounding_modes(mode, saturate):
    x = np.array([0.0, 0.124, 0.25, 0.75, 1.1, 1.5, 3.0, 1e38, 3.3e38, 1e-40, np.nan], np.float32)
    m = _model("Cast", [("x", TensorProto.FLOAT, None)], to=TensorProto.FLOAT8E8M0,
               saturate=saturate, round_mode=mode)
    want, got = _run(m, {"x": x})
    np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))


def test_e8m0_infinity_follows_the_spec_table():
    m = _model("Cast", [("x", TensorProto.FLOAT, None)], to=TensorProto.FLOAT8E8M0)
    got = onnxkit.Session(m.SerializeToString()).run(None, {"x": np.array([np.inf], np.float32)})[0]
    assert got.view(np.uint8).tolist() == [0xFE]            # saturate + up: Inf -> E8M0_MAX


@pytest.mark.parametrize("src", [TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.INT64,
                                 TensorProto.UINT8, TensorProto.FLOAT16])
def test_numbers_to_strings(src):
    x = np.array([0.47892547, 314.15926, -2.0, 1e20, np.inf, np.nan, 0.0])
    if helper.tensor_dtype_to_np_dtype(src).kind in "iu":
        x = np.array([0, 7, 255, 100])
    x = x.astype(helper.tensor_dtype_to_np_dtype(src))
    want, got = _run(_model("Cast", [("x", src, None)], to=TensorProto.STRING), {"x": x})
    assert got.dtype == object and got.tolist() == want.tolist()


@pytest.mark.parametrize("dst", [TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16])
def test_strings_to_floats(dst):
    x = np.array(["3.14", "1e-5", "1E8", "+INF", "INF", "-INF", "NaN", "-inf", "nan", "-0.5", "100"],
                 dtype=object)
    want, got = _run(_model("Cast", [("x", TensorProto.STRING, None)], to=dst), {"x": x})
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_strings_to_integers_and_bytes_input():
    x = np.array([b"12", b"-7", b"100.5", b"9007199254740993"], dtype=object)
    m = _model("Cast", [("x", TensorProto.STRING, None)], to=TensorProto.INT64)
    got = onnxkit.Session(m.SerializeToString()).run(None, {"x": x})[0]
    assert got.dtype == np.int64 and got.tolist() == [12, -7, 100, 9007199254740993]


def test_bitcast_sub_byte_and_bool():
    x = np.array([-8, -1, 0, 7], ml_dtypes.int4)
    m = _model("BitCast", [("x", TensorProto.INT4, None)], opset=26, to=TensorProto.UINT4)
    got = onnxkit.Session(m.SerializeToString()).run(None, {"x": x})[0]
    assert got.dtype == ml_dtypes.uint4 and got.astype(np.int32).tolist() == [8, 15, 0, 7]
    m = _model("BitCast", [("x", TensorProto.UINT8, None)], opset=26, to=TensorProto.BOOL)
    got = onnxkit.Session(m.SerializeToString()).run(None, {"x": np.array([0, 1], np.uint8)})[0]
    assert got.tolist() == [False, True]


def test_bitcast_width_mismatch_names_the_node():
    m = _model("BitCast", [("x", TensorProto.FLOAT, None)], opset=26, to=TensorProto.INT64)
    with pytest.raises(onnxkit.errors.RunError, match="BitCast"):
        onnxkit.Session(m.SerializeToString()).run(None, {"x": np.zeros(2, np.float32)})


def test_cast_1_takes_a_type_name():
    m = _model("Cast", [("x", TensorProto.FLOAT, None)], opset=1, to="INT32")
    m.opset_import[0].version = 5
    m.graph.node[0].attribute[0].CopyFrom(helper.make_attribute("to", "INT32"))
    got = onnxkit.Session(m.SerializeToString()).run(None, {"x": np.array([2.7], np.float32)})[0]
    assert got.dtype == np.int32 and got.tolist() == [2]


# ---------------------------------------------------------------- shape rules
@pytest.mark.parametrize("case", [
    ("Cast", [("x", TensorProto.FLOAT, ["N", 3])], {"to": TensorProto.INT8}, 25),
    ("Cast", [("x", TensorProto.STRING, [2, None])], {"to": TensorProto.FLOAT}, 25),
    ("CastLike", [("x", TensorProto.FLOAT, ["N", 3]), ("t", TensorProto.BFLOAT16, [1])], {}, 25),
    ("BitCast", [("x", TensorProto.FLOAT, ["N", 3])], {"to": TensorProto.INT32}, 26),
])
def test_shape_rules_agree_with_onnx(case):
    op, ins, attrs, opset = case
    n, gaps = compare(op, _model(op, ins, opset=opset, **attrs))
    assert n and not gaps, gaps


def test_cast_propagates_shape_values():
    """Shape -> Cast(int32) -> Cast(int64) -> Reshape keeps the symbolic dims."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "seq", 4])
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Cast", ["s"], ["s32"], to=TensorProto.INT32),
             helper.make_node("Cast", ["s32"], ["s64"], to=TensorProto.INT64),
             helper.make_node("Reshape", ["x", "s64"], ["y"])]
    g = helper.make_graph(nodes, "g", [x], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    m = onnxkit.load(helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)]).SerializeToString())
    infer_shapes(m, strict=True)
    assert list(m.graph.outputs[0].type.shape.dims) == ["N", "seq", 4]


def test_bitcast_rule_rejects_other_widths():
    m = onnxkit.load(_model("BitCast", [("x", TensorProto.FLOAT, [2])], opset=26,
                            to=TensorProto.INT64).SerializeToString())
    with pytest.raises(onnxkit.errors.InferenceError, match="bit widths"):
        infer_shapes(m, strict=True)


def test_integers_saturate_into_float8():
    x = np.array([1000, -1000, 3, 100000], np.int32)
    m = _model("Cast", [("x", TensorProto.INT32, None)], to=TensorProto.FLOAT8E4M3FN)
    got = onnxkit.Session(m.SerializeToString()).run(None, {"x": x})[0]
    assert got.astype(np.float32).tolist() == [448.0, -448.0, 3.0, 448.0]
