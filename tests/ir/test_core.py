"""The in-memory model: use-def links, mutation, iteration while mutating, sorting."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

import onnxkit
from onnxkit.errors import IRError
from onnxkit.ir import Attribute, AttributeType, Graph, Node, Shape, Tensor, TensorType, Value


def _chain(n: int = 4):
    x = Value("x", dtype=1, shape=["N", 3])
    g = Graph([x], [], name="g")
    v = x
    nodes = []
    for i in range(n):
        node = Node("Relu", [v], [Value(f"v{i}")], name=f"n{i}")
        g.append(node)
        nodes.append(node)
        v = node.outputs[0]
    g.outputs.append(v)
    return g, x, nodes


def test_producer_and_uses_follow_edits():
    g, x, nodes = _chain()
    assert nodes[1].inputs[0].producer() is nodes[0]
    assert x.uses() == [(nodes[0], 0)]
    y = Value("y")
    nodes[1].set_input(0, y)
    assert nodes[0].outputs[0].uses() == []
    assert y.uses() == [(nodes[1], 0)]


def test_replace_all_uses_with():
    g, x, nodes = _chain()
    add = Node("Add", [x, x], [Value("s")])
    g.insert_before(nodes[0], add)
    new = Value("new")
    x.replace_all_uses_with(new)
    assert x.uses() == []
    assert sorted(i for _, i in new.uses()) == [0, 0, 1]
    assert add.inputs == (new, new)


def test_remove_is_safe_during_iteration_and_refuses_live_outputs():
    g, x, nodes = _chain(5)
    with pytest.raises(IRError, match="read by"):
        g.remove(nodes[2])
    seen = []
    for node in g:
        seen.append(node.name)
        if node.name == "n1":
            # bypass n2 and n3, then remove them while the iterator stands on n1
            nodes[4].set_input(0, node.outputs[0])
            g.remove(nodes[3], safe=False)
            g.remove(nodes[2], safe=False)
    assert seen == ["n0", "n1", "n4"]
    assert [n.name for n in g] == ["n0", "n1", "n4"] and len(g) == 3
    assert nodes[2].graph is None


def test_removing_current_node_while_iterating_continues():
    g, _, nodes = _chain(4)
    visited = []
    for node in g:
        visited.append(node.name)
        g.remove(node, safe=False)
    assert visited == ["n0", "n1", "n2", "n3"]
    assert len(g) == 0 and list(g) == []


def test_insert_ahead_of_cursor_is_visited():
    g, _, nodes = _chain(2)
    visited = []
    for node in g:
        visited.append(node.name)
        if node.name == "n0":
            g.insert_after(node, Node("Identity", [node.outputs[0]], [Value("i")], name="ins"))
    assert visited == ["n0", "ins", "n1"]


def test_node_cannot_join_two_graphs():
    g, _, nodes = _chain(1)
    with pytest.raises(IRError):
        Graph().append(nodes[0])


def test_value_has_one_producer():
    v = Value("v")
    Node("Relu", [], [v])
    with pytest.raises(IRError, match="already produced"):
        Node("Relu", [], [v])


def test_topological_sort_is_stable_and_sees_subgraph_uses():
    x = Value("x", dtype=1, shape=[1])
    a = Node("Relu", [x], [Value("a")], name="a")
    # the If's branch reads 'a' from the outer scope: If must come after a
    then_g = Graph([], [], name="then")
    then_g.append(Node("Identity", [a.outputs[0]], [Value("t")], name="t"))
    then_g.outputs.append(then_g.nodes[0].outputs[0])
    cond = Node("Cast", [x], [Value("c")], name="c", attributes={"to": 9})
    iff = Node("If", [cond.outputs[0]], [Value("z")], name="if",
               attributes=[Attribute("then_branch", AttributeType.GRAPH, then_g),
                           Attribute("else_branch", AttributeType.GRAPH, then_g)])
    g = Graph([x], [iff.outputs[0]], [iff, cond, a])
    g.sort()
    order = [n.name for n in g]
    assert order.index("a") < order.index("if") and order.index("c") < order.index("if")
    assert order == ["c", "a", "if"]  # stable: c and a keep their relative order


def test_sort_detects_cycles():
    a = Node("Relu", [], [Value("a")])
    b = Node("Relu", [a.outputs[0]], [Value("b")])
    a.set_input(0, b.outputs[0]) if a.inputs else a.append_input(b.outputs[0])
    g = Graph([], [], [a, b])
    with pytest.raises(IRError, match="cycle"):
        g.sort()


def test_subgraph_outer_scope_reference_is_the_outer_value():
    cond = onnx.helper.make_tensor_value_info("c", onnx.TensorProto.BOOL, [])
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2])
    branch = onnx.helper.make_graph([onnx.helper.make_node("Relu", ["x"], ["r"])], "b", [],
                                    [onnx.helper.make_tensor_value_info("r", 1, [2])])
    g = onnx.helper.make_graph(
        [onnx.helper.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=branch)],
        "g", [cond, x], [y])
    m = onnxkit.load(onnx.helper.make_model(g).SerializeToString())
    outer_x = m.graph.inputs[1]
    users = [n.op_type for n in outer_x.consumers()]
    assert users == ["Relu", "Relu"]  # both branches read the very same Value
    sub = m.graph.nodes[0].attributes["then_branch"].value
    assert sub.nodes[0].inputs[0] is outer_x


def test_types_and_shapes():
    v = Value("v", dtype=onnxkit.DataType.FLOAT, shape=["N", 3, None])
    assert v.type == TensorType(1, Shape(["N", 3, None]))
    assert v.shape.rank == 3 and not v.shape.is_static()
    v.shape = [2, 3]
    assert v.shape.is_static() and v.shape.numpy() == (2, 3) and v.dtype == onnxkit.DataType.FLOAT
    with pytest.raises(AttributeError):
        v.shape.dims = (1,)


def test_attribute_inference():
    assert Attribute.infer("a", 1).type == AttributeType.INT
    assert Attribute.infer("a", [1, 2.5]).type == AttributeType.FLOATS
    assert Attribute.infer("a", "s").type == AttributeType.STRING
    assert Attribute.infer("a", np.ones(2, np.float32)).type == AttributeType.TENSOR
    assert Attribute.infer("a", Graph()).type == AttributeType.GRAPH
    with pytest.raises(IRError):
        Attribute.infer("a", [])


def test_edit_then_save_is_valid_for_onnx():
    x = onnx.helper.make_tensor_value_info("x", 1, ["N", 2])
    y = onnx.helper.make_tensor_value_info("y", 1, ["N", 2])
    g = onnx.helper.make_graph([onnx.helper.make_node("Relu", ["x"], ["r"]),
                                onnx.helper.make_node("Neg", ["r"], ["y"])], "g", [x], [y])
    m = onnxkit.load(onnx.helper.make_model(g, opset_imports=[onnx.helper.make_opsetid("", 17)]).SerializeToString())
    relu, neg = m.graph.nodes
    # put an Abs between Relu and Neg, and an initializer-driven Add
    w = Value("w", const_value=Tensor(np.array([1.0, 2.0], np.float32)))
    m.graph.add_initializer(w)
    abs_ = Node("Abs", [relu.outputs[0]], [Value("a")])
    add = Node("Add", [abs_.outputs[0], w], [Value("s")])
    m.graph.insert_after(relu, [abs_, add])
    neg.set_input(0, add.outputs[0])
    out = onnx.load_from_string(onnxkit.to_bytes(m))
    onnx.checker.check_model(out, full_check=True)
    assert [n.op_type for n in out.graph.node] == ["Relu", "Abs", "Add", "Neg"]
    assert out.graph.node[3].input == ["s"]
