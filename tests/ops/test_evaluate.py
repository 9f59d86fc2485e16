"""onnxkit.ops.evaluate_node: one node computed with the registered kernels,
outside a Session (what constant folding uses)."""

from __future__ import annotations

import numpy as np
import pytest

import onnxkit
from onnxkit.errors import RunError
from onnxkit.ir import Attribute, AttributeType, Function, Graph, Node, Value
from onnxkit.ops import evaluate_node


def test_a_kernel_with_attributes_either_spelling_of_the_domain():
    x = np.array([[1.0, -2.0], [3.0, 4.0]], np.float32)
    node = Node("LeakyRelu", [Value("x")], 1, attributes={"alpha": 0.5})
    for opsets in ({"": 21}, {"ai.onnx": 21}):
        (y,) = evaluate_node(node, [x], opsets)
        np.testing.assert_array_equal(y, np.where(x < 0, 0.5 * x, x))
    node.domain = "ai.onnx"
    (y,) = evaluate_node(node, [x], {"": 21})
    assert y.dtype == np.float32


def test_outputs_one_per_declared_output_and_trailing_absent_inputs_dropped():
    x = np.arange(6, dtype=np.float32)
    node = Node("Dropout", [Value("x"), None, None], 2)
    y, mask = evaluate_node(node, [x, None, None], {"": 21})
    np.testing.assert_array_equal(y, x)
    assert mask is None or mask.dtype == bool
    node = Node("TopK", [Value("x"), Value("k")], 2)
    values, indices = evaluate_node(node, [x, np.array([2], np.int64)], {"": 21})
    np.testing.assert_array_equal(values, [5, 4]) and np.testing.assert_array_equal(indices, [5, 4])


def test_a_model_local_function_and_attribute_references():
    a, out = Value("a"), Value("out")
    body = Graph([a], [out], [Node("Mul", [a, a], [Value("sq")]),
                             ])
    sq = next(iter(body)).outputs[0]
    scale = Node("LeakyRelu", [sq], [out])
    scale.attributes["alpha"] = Attribute("alpha", AttributeType.FLOAT, None, ref_attr_name="k")
    body.append(scale)
    fn = Function("local", "sq_leaky", body, attributes=["k"], opset_imports={"": 21})
    call = Node("sq_leaky", [Value("x")], 1, domain="local", attributes={"k": 0.25})
    (y,) = evaluate_node(call, [np.array([-2.0, 3.0], np.float32)], {"": 21, "local": 1},
                         functions={fn.identifier: fn})
    np.testing.assert_array_equal(y, [4.0, 9.0])


def test_an_op_without_a_kernel_runs_through_the_spec_function(monkeypatch):
    import onnxkit.ops._evaluate as ev
    real = ev.find_kernel
    monkeypatch.setattr(ev, "find_kernel", lambda op, *a, **k: None if op == "Selu" else real(op, *a, **k))
    x = np.array([-1.0, 0.5], np.float32)
    node = Node("Selu", [Value("x")], 1, attributes={"alpha": 2.0})
    (y,) = evaluate_node(node, [x], {"": 21})             # the body's nodes, attribute defaults bound
    want = 1.0507 * np.where(x > 0, x, 2.0 * (np.exp(x) - 1))
    np.testing.assert_allclose(y, want, rtol=1e-4)


def test_refusals_say_what():
    node = Node("NoSuchOp", [Value("x")], 1)
    with pytest.raises(RunError, match="no kernel for NoSuchOp"):
        evaluate_node(node, [np.zeros(1)], {"": 21})
    with pytest.raises(RunError, match="imports no opset"):
        evaluate_node(Node("Relu", [Value("x")], 1, domain="custom"), [np.zeros(1)], {"": 21})
    branch = Graph([], [Value("c")])
    with pytest.raises(RunError, match="subgraph"):
        evaluate_node(Node("If", [Value("b")], 1, attributes={"then_branch": branch, "else_branch": branch}),
                      [np.array(True)], {"": 21})


def test_constant_folding_and_the_session_agree():
    text = """<ir_version: 10, opset_import: ["" : 21]>
    g (float[2, 3] x) => (float[2, 3] y) {
        c = Constant <value = float[3] {1, 2, 3}> ()
        s = Softmax <axis = 0> (c)
        y = Add (x, s)
    }"""
    folded = onnxkit.optimize(onnxkit.parse(text), "basic")
    assert [n.op_type for n in folded.graph] == ["Add"]
    x = np.ones((2, 3), np.float32)
    want = onnxkit.Session(onnxkit.parse(text), optimize="none").run(None, {"x": x})[0]
    np.testing.assert_array_equal(onnxkit.Session(folded, optimize="none").run(None, {"x": x})[0], want)
