"""The backend API beyond what the conformance suite uses."""

from __future__ import annotations

import numpy as np
from onnx import helper, TensorProto

import onnxkit.backend as backend
from onnxkit.ir import Node, Value


def test_run_node_proto_and_ir_node():
    a = np.array([1, 2], np.float32)
    [c] = backend.run_node(helper.make_node("Add", ["a", "b"], ["c"]), [a, a])
    np.testing.assert_array_equal(c, [2, 4])
    # an optional input left out by an empty name
    [y] = backend.run_node(helper.make_node("Clip", ["x", "", "hi"], ["y"]),
                           [np.arange(4, dtype=np.float32), None, np.float32(2)])
    np.testing.assert_array_equal(y, [0, 1, 2, 2])
    [r] = backend.run_node(Node("Relu", [Value("x")], [Value("y")]), [np.array([-1, 2], np.float32)])
    np.testing.assert_array_equal(r, [0, 2])


def test_prepare_and_run_model():
    g = helper.make_graph([helper.make_node("Mul", ["x", "x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)
    x = np.array([3, -1], np.float32)
    assert backend.supports_device("CPU") and not backend.supports_device("CUDA")
    np.testing.assert_array_equal(backend.run_model(m, [x])[0], [9, 1])
    np.testing.assert_array_equal(backend.prepare(m).run({"x": x})[0], [9, 1])
