"""ConstantFolding: what depends on constants only is computed once with
onnxkit's kernels; feedable initializers, random ops, failing kernels and
results over the limit are left alone; graph outputs keep their names."""

from __future__ import annotations

import time

import numpy as np
import pytest

import onnxkit
from onnxkit.errors import RunError
from onnxkit.passes._base import const_array
from onnxkit.passes.constant_folding import ConstantFolding
from onnxkit.passes.dce import DeadCodeElimination

from ._helpers import H, check_pass
from ._helpers import ops as _ops

X = {"x": (np.arange(12, dtype=np.float32).reshape(3, 4) - 5) / 2}


def _check(body, decl="float[3,4] x", out="y", inits="", feeds=X, header=H, **options):
    text = header + f"g ({decl}) => ({out}) {inits} {{ {body} }}"
    return check_pass(ConstantFolding(**options), text, [feeds])


def test_constant_chain_folds_into_one_initializer():
    m, changed = _check("""a = Mul (w, w)
        b = Transpose <perm = [1, 0]> (a)
        c = Reshape (b, s)
        y = Add (x, c)""", inits="<float[4,3] w = {1,2,3,4,5,6,7,8,9,10,11,12}, int64[2] s = {3, 4}>")
    assert changed and _ops(m) == ["Add"]
    c = m.graph.nodes[0].inputs[1]
    assert c.name == "c" and c.is_initializer()
    np.testing.assert_array_equal(const_array(c), (np.arange(1, 13, dtype=np.float32).reshape(4, 3) ** 2).T.reshape(3, 4))


def test_constant_nodes_become_initializers():
    m, changed = _check("""c = Constant <value = float[4] {1.0, 2.0, 3.0, 4.0}> ()
        i = Constant <value_int = 2> ()
        f = Cast <to = 1> (i)
        d = Mul (c, f)
        y = Add (x, d)""")
    assert changed and _ops(m) == ["Add"]
    assert "d" in m.graph.initializers


def test_feedable_initializer_is_not_folded():
    text = H + "g (float[3,4] x, float[4] w) => (y) <float[4] w = {1, 2, 3, 4}> { a = Exp (w)\n y = Add (x, a) }"
    m = onnxkit.parse(text)
    assert not ConstantFolding()(m)
    fed = {**X, "w": np.array([0, 0, 1, 1], np.float32)}
    np.testing.assert_array_equal(onnxkit.Session(m, optimize="none").run(None, fed)[0],
                                  X["x"] + np.exp(fed["w"]))


def test_random_ops_are_not_folded():
    m, changed = _check("""s = Constant <value = float[3,4] {0,0,0,0,0,0,0,0,0,0,0,0}> ()
        r = RandomUniformLike (s)
        z = Mul (r, s)
        y = Add (x, z)""")
    assert "RandomUniformLike" in _ops(m)


def test_results_over_the_limit_stay():
    body = "e = Expand (one, s)\n y = Add (x, e)"
    inits = "<float one = {1.0}, int64[2] s = {3, 4}>"
    m, changed = _check(body, inits=inits, fold_limit=47)
    assert "Expand" in _ops(m)
    m, changed = _check(body, inits=inits, fold_limit=48)
    assert _ops(m) == ["Add"]


def test_failing_kernel_is_left_for_the_runtime():
    text = H + "g (float[3,4] x) => (y) <float[5] w = {1,2,3,4,5}, int64[2] s = {2, 2}> { r = Reshape (w, s)\n y = Add (x, r) }"
    m = onnxkit.parse(text)
    ConstantFolding()(m)
    assert _ops(m) == ["Reshape", "Add"]
    with pytest.raises(RunError, match="Reshape"):
        onnxkit.Session(m, optimize="none").run(None, X)


def test_graph_output_becomes_a_constant_of_its_name():
    m, changed = _check("""a = Exp (w)
        y = Add (x, w)""", out="y, a", inits="<float[4] w = {1, 2, 3, 4}>")
    assert changed
    node = m.graph.nodes[0]
    assert node.op_type == "Constant" and m.graph.outputs[1] is node.outputs[0]
    assert node.outputs[0].name == "a"
    assert not ConstantFolding()(m)          # and stays so: a fixed point


def test_multi_output_node_folds():
    m, changed = _check("""a, b = Split <num_outputs = 2> (w)
        c = Concat <axis = 0> (b, a)
        y = Add (x, c)""", inits="<float[4] w = {1, 2, 3, 4}>")
    assert changed and _ops(m) == ["Add"]


def test_folds_inside_subgraphs():
    m, changed = _check("""y = If (c) <then_branch = g1 () => (o) { k = Neg (w)  o = Add (x, k) },
                                     else_branch = g2 () => (o) { o = Abs (x) }>""",
                        decl="float[3,4] x, bool c", inits="<float[4] w = {1, 2, 3, 4}>",
                        feeds={**X, "c": np.array(True)})
    assert changed
    then = m.graph.nodes[0].attr("then_branch")
    assert [n.op_type for n in then] == ["Add"]


def test_function_body_folds_into_constant_nodes():
    text = '''<ir_version: 10, opset_import: ["" : 21, "local" : 1]>
g (float[3,4] x) => (y) { y = local.f (x) }
<domain: "local", opset_import: ["" : 21]>
f (a) => (b) { c = Constant <value = float[1] {2.0}> ()  d = Mul (c, c)  b = Mul (a, d) }'''
    m = onnxkit.parse(text)
    assert ConstantFolding()(m)
    DeadCodeElimination()(m)              # the Constant read only by the folded Mul
    body = m.functions[0].graph
    assert [n.op_type for n in body] == ["Constant", "Mul"] and not body.initializers
    np.testing.assert_array_equal(onnxkit.Session(m, optimize="none").run(None, X)[0], X["x"] * 4)


def test_ir3_models_get_constant_nodes():
    m, changed = _check("a = Exp (w)\n y = Add (x, a)", inits="<float[4] w = {1, 2, 3, 4}>",
                        decl="float[3,4] x, float[4] w",
                        header='<ir_version: 3, opset_import: ["" : 8]>\n')
    assert not changed          # w is a graph input there: it can be fed
    text = '<ir_version: 3, opset_import: ["" : 8]>\ng (float[3,4] x) => (y) { w = Constant <value = float[4] {1, 2, 3, 4}> ()\n a = Exp (w)\n y = Add (x, a) }'
    m = onnxkit.parse(text)
    assert ConstantFolding()(m)
    DeadCodeElimination()(m)
    assert _ops(m) == ["Constant", "Add"] and not m.graph.initializers


def test_many_unfoldable_nodes_are_cheap():
    """A 3000-node chain of ops on the input: nothing folds, and looking costs little."""
    body = "\n".join(f"t{i + 1} = Relu (t{i})" for i in range(3000))
    m = onnxkit.parse(H + f"g (float[3,4] t0) => (t3000) {{ {body} }}")
    t0 = time.perf_counter()
    assert not ConstantFolding()(m)
    assert time.perf_counter() - t0 < 1.0
