"""DeadCodeElimination: unread nodes and initializers go, everything read
(by a node, a subgraph node, or as a graph output of any graph) stays."""

from __future__ import annotations

import numpy as np

import onnxkit
from onnxkit.passes.dce import DeadCodeElimination

from ._helpers import H, check_pass
from ._helpers import ops as _ops


def _check(text, feeds):
    return check_pass(DeadCodeElimination(), text, [feeds])


X = {"x": np.arange(8, dtype=np.float32).reshape(2, 4) - 3}


def test_dead_chain_and_initializer_go():
    m, changed = _check(H + """g (float[2,4] x) => (y) <float[1] w = {2.0}, float[1] unused = {5.0}> {
        a = Mul (x, w)
        b = Exp (a)
        c = Neg (b)
        y = Relu (x)
    }""", X)
    assert changed
    assert _ops(m) == ["Relu"]
    assert set(m.graph.initializers) == set()


def test_live_nodes_and_graph_outputs_stay():
    m, changed = _check(H + """g (float[2,4] x) => (y, z) <float[1] w = {2.0}> {
        a = Mul (x, w)
        y = Relu (a)
        z = Neg (a)
    }""", X)
    assert not changed
    assert _ops(m) == ["Mul", "Relu", "Neg"] and "w" in m.graph.initializers


def test_initializer_that_is_a_graph_input_stays():
    m = onnxkit.parse(H + """g (float[2,4] x, float[1] w) => (y) <float[1] w = {2.0}> {
        y = Relu (x)
    }""")
    DeadCodeElimination()(m)
    assert "w" in m.graph.initializers


def test_initializer_that_is_a_graph_output_stays():
    m = onnxkit.parse(H + """g (float[2,4] x) => (y, w) <float[1] w = {2.0}> { y = Relu (x) }""")
    assert not DeadCodeElimination()(m)
    assert "w" in m.graph.initializers


def test_value_read_only_inside_a_subgraph_stays():
    text = H + """g (float[2,4] x, bool c) => (y) {
        t = Relu (x)
        u = Exp (x)
        y = If (c) <then_branch = g1 () => (o) { o = Neg (t) }, else_branch = g2 () => (o) { o = Abs (t) }>
    }"""
    for cond in (True, False):
        m, changed = _check(text, {**X, "c": np.array(cond)})
        assert changed and _ops(m) == ["Relu", "If"]


def test_value_a_subgraph_outputs_directly_stays():
    text = H + """g (float[2,4] x, bool c) => (y) {
        t = Relu (x)
        y = If (c) <then_branch = g1 () => (t) { }, else_branch = g2 () => (o) { o = Abs (x) }>
    }"""
    m, changed = _check(text, {**X, "c": np.array(True)})
    assert _ops(m) == ["Relu", "If"]


def test_dead_if_frees_what_its_branches_read():
    m, changed = _check(H + """g (float[2,4] x, bool c) => (y) {
        t = Relu (x)
        dead = If (c) <then_branch = g1 () => (o) { o = Neg (t) }, else_branch = g2 () => (o) { o = Abs (t) }>
        y = Exp (x)
    }""", {**X, "c": np.array(True)})
    assert changed and _ops(m) == ["Exp"]


def test_dead_nodes_inside_a_subgraph_go():
    m, changed = _check(H + """g (float[2,4] x, bool c) => (y) {
        t = Relu (x)
        y = If (c) <then_branch = g1 () => (o) { d = Exp (t)  o = Neg (x) }, else_branch = g2 () => (o) { o = Abs (x) }>
    }""", {**X, "c": np.array(True)})
    assert changed
    assert _ops(m) == ["If"]
    then = m.graph.nodes[0].attr("then_branch")
    assert [n.op_type for n in then] == ["Neg"]
