"""Optional ops: tensor, sequence and empty optionals, against onnxruntime;
output types against onnx.shape_inference."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as TP, helper as h

import onnxkit
from onnxkit.infer import infer_shapes
from onnxkit.ir import OptionalType, SequenceType, TensorType

F = TP.FLOAT
OPT_T = h.make_optional_type_proto(h.make_tensor_type_proto(F, [2]))


def build(nodes, inputs, outputs, opset=18):
    g = h.make_graph(nodes, "g", inputs, [h.make_value_info(n, onnx.TypeProto()) for n in outputs])
    return h.make_model(g, opset_imports=[h.make_opsetid("", opset)], ir_version=8)


def both(m, feeds):
    want = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    got = onnxkit.Session(m.SerializeToString()).run(None, feeds)
    for w, g in zip(want, got):
        np.testing.assert_array_equal(g, w)
    return got


def types(m) -> dict:
    return {v.name: v.type for n in infer_shapes(onnxkit.load(m.SerializeToString())).graph for v in n.outputs}


def test_wrap_has_get_tensor():
    m = build([h.make_node("Optional", ["x"], ["o"]), h.make_node("OptionalHasElement", ["o"], ["has"]),
               h.make_node("OptionalGetElement", ["o"], ["y"])],
              [h.make_tensor_value_info("x", F, [2])], ["has", "y"])
    x = np.array([1.5, 2.5], np.float32)
    both(m, {"x": x})
    t = types(m)
    assert t["o"] == OptionalType(TensorType(F, [2])) and t["y"] == TensorType(F, [2])
    assert t["has"] == TensorType(TP.BOOL, [])
    theirs = onnx.shape_inference.infer_shapes(m)
    assert {v.name for v in theirs.graph.value_info} <= set(t)


def test_empty_optional_from_type_attribute():
    m = build([h.make_node("Optional", [], ["o"], type=h.make_sequence_type_proto(h.make_tensor_type_proto(F, None))),
               h.make_node("OptionalHasElement", ["o"], ["has"])], [], ["has"])
    assert both(m, {})[0] == np.array(False)
    assert types(m)["o"] == OptionalType(SequenceType(TensorType(F)))


def test_has_element_of_absent_input_and_plain_tensor():
    m = build([h.make_node("OptionalHasElement", [""], ["a"]), h.make_node("OptionalHasElement", ["x"], ["b"]),
               h.make_node("OptionalGetElement", ["x"], ["c"])],
              [h.make_tensor_value_info("x", F, [2])], ["a", "b", "c"])
    a, b, c = onnxkit.Session(m.SerializeToString()).run(None, {"x": np.ones(2, np.float32)})
    assert not a and b and c.shape == (2,)
    assert types(m)["c"] == TensorType(F, [2])


def test_get_element_of_empty_optional_fails():
    m = build([h.make_node("OptionalGetElement", ["o"], ["y"])], [h.make_value_info("o", OPT_T)], ["y"])
    with pytest.raises(onnxkit.errors.RunError, match="empty optional"):
        onnxkit.Session(m.SerializeToString()).run(None, {"o": None})
