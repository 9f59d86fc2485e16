"""CommonSubexpressions: equal nodes and equal small constants merge; random
ops, subgraph owners, distinct attributes and two graph outputs do not."""

from __future__ import annotations

import numpy as np

import onnxkit
from onnxkit.passes.cse import SMALL, CommonSubexpressions

from ._helpers import H, check_pass
from ._helpers import ops as _ops

X = {"x": (np.arange(12, dtype=np.float32).reshape(3, 4) - 5) / 2}


def _check(body, decl="float[3,4] x", out="y", inits="", feeds=X):
    text = H + f"g ({decl}) => ({out}) {inits} {{ {body} }}"
    return check_pass(CommonSubexpressions(), text, [feeds], seed=1)


def test_equal_nodes_and_their_chains_merge():
    m, changed = _check("""a = Relu (x)
        b = Relu (x)
        c = Exp (a)
        d = Exp (b)
        y = Add (c, d)""")
    assert changed and _ops(m) == ["Relu", "Exp", "Add"]
    add = m.graph.nodes[-1]
    assert add.inputs[0] is add.inputs[1]


def test_different_attributes_stay_apart():
    m, changed = _check("""a = LeakyRelu <alpha = 0.1> (x)
        b = LeakyRelu <alpha = 0.2> (x)
        y = Add (a, b)""")
    assert not changed and len(m.graph) == 3


def test_same_attributes_merge():
    m, changed = _check("""a = Transpose <perm = [1, 0]> (x)
        b = Transpose <perm = [1, 0]> (x)
        y = Add (a, b)""", out="y")
    assert changed and _ops(m) == ["Transpose", "Add"]


def test_equal_small_initializers_merge_so_readers_do():
    m, changed = _check("""a = Mul (x, w1)
        b = Mul (x, w2)
        y = Add (a, b)""", inits="<float[2] v = {1.0, 2.0}, float[4] w1 = {1.0, 2.0, 3.0, 4.0}, "
                                  "float[4] w2 = {1.0, 2.0, 3.0, 4.0}>")
    assert changed and _ops(m) == ["Mul", "Add"]


def test_equal_constant_nodes_merge():
    m, changed = _check("""c1 = Constant <value = float[4] {1.0, 2.0, 3.0, 4.0}> ()
        c2 = Constant <value = float[4] {1.0, 2.0, 3.0, 4.0}> ()
        a = Mul (x, c1)
        b = Mul (x, c2)
        y = Add (a, b)""")
    assert changed and _ops(m) == ["Constant", "Mul", "Add"]


def test_different_initializers_stay_apart():
    m, changed = _check("""a = Mul (x, w1)
        b = Mul (x, w2)
        y = Add (a, b)""", inits="<float[4] w1 = {1.0, 2.0, 3.0, 4.0}, float[4] w2 = {1.0, 2.0, 3.0, 5.0}>")
    assert not changed and len(m.graph) == 3


def test_big_initializers_are_not_compared():
    n = SMALL // 4 + 1
    text = H + "g (float[3,4] x) => (y) { a = Add (x, w1)\n b = Add (x, w2)\n y = Mul (a, b) }"
    m = onnxkit.parse(text)
    w = np.ones((n,), np.float32)
    from onnxkit.ir import Tensor, Value
    from onnxkit.ir._tensor import TensorBase

    class Unreadable(Tensor):
        def numpy(self):
            raise AssertionError("a big weight was read")

    for name in ("w1", "w2"):
        v = Value(name, dtype=onnxkit.DataType.FLOAT, shape=[n], const_value=Unreadable(w, name=name))
        m.graph.add_initializer(v)
        for node in m.graph:
            for i, inp in enumerate(node.inputs):
                if inp is not None and inp.name == name:
                    node.set_input(i, v)
    assert isinstance(m.graph.initializers["w1"].const_value, TensorBase)
    assert not CommonSubexpressions()(m)


def test_graph_input_initializers_are_not_merged():
    m, changed = _check("""a = Mul (x, w1)
        b = Mul (x, w2)
        y = Add (a, b)""", decl="float[3,4] x, float[4] w1",
                        inits="<float[4] w1 = {1.0, 2.0, 3.0, 4.0}, float[4] w2 = {1.0, 2.0, 3.0, 4.0}>",
                        feeds={**X, "w1": np.array([5, 6, 7, 8], np.float32)})
    assert not changed


def test_random_ops_stay_apart():
    m, changed = _check("""a = RandomUniformLike (x)
        b = RandomUniformLike (x)
        y = Sub (a, b)""")
    assert not changed and len(m.graph) == 3


def test_nodes_with_subgraphs_stay_apart():
    m, changed = _check("""a = If (c) <then_branch = g1 () => (o) { o = Neg (x) }, else_branch = g2 () => (o) { o = Abs (x) }>
        b = If (c) <then_branch = g3 () => (o) { o = Neg (x) }, else_branch = g4 () => (o) { o = Abs (x) }>
        y = Add (a, b)""", decl="float[3,4] x, bool c", feeds={**X, "c": np.array(True)})
    assert not changed


def test_two_graph_outputs_keep_both_names():
    m, changed = _check("""y = Relu (x)
        z = Relu (x)""", out="y, z")
    assert not changed and len(m.graph) == 2


def test_duplicate_graph_output_takes_over_the_name():
    m, changed = _check("""a = Relu (x)
        y = Relu (x)
        z = Exp (a)""", out="y, z")
    assert changed and _ops(m) == ["Relu", "Exp"]
    assert m.graph.nodes[0].outputs[0] is m.graph.outputs[0]


def test_merges_inside_subgraphs():
    m, changed = _check("""y = If (c) <then_branch = g1 () => (o) { a = Neg (x)  b = Neg (x)  o = Add (a, b) },
                                     else_branch = g2 () => (o) { o = Abs (x) }>""",
                        decl="float[3,4] x, bool c", feeds={**X, "c": np.array(True)})
    assert changed
    assert [n.op_type for n in m.graph.nodes[0].attr("then_branch")] == ["Neg", "Add"]
