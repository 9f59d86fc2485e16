"""ShapeFolding: Shape / Size / Gather-of-Shape of known dims become
constants after shape inference; with constant folding the shape chain of a
dynamic-axes export folds where the dims are static, and stays right for
every size of the symbolic ones."""

from __future__ import annotations

import numpy as np

import onnxkit
from onnxkit.passes import optimize
from onnxkit.passes.shape_folding import ShapeFolding

from ._helpers import H, check_pass
from ._helpers import ops as _ops


def _check(text, feeds_list):
    return check_pass(ShapeFolding(), text, feeds_list)


def test_shape_of_static_value_folds():
    m, changed = _check(H + "g (float[2,3,4] x) => (s) { t = Relu (x)\n s = Shape (t) }",
                        [{"x": np.ones((2, 3, 4), np.float32)}])
    assert changed and "Shape" not in _ops(m)


def test_shape_with_start_end_folds_only_its_static_range():
    text = H + "g (float[N,3,4] x) => (a, b) { a = Shape <start = 1> (x)\n b = Shape <end = -1> (x) }"
    m, changed = _check(text, [{"x": np.ones((n, 3, 4), np.float32)} for n in (1, 5)])
    assert changed
    assert _ops(m) == ["Constant", "Shape"]      # a folded (a graph output: a Constant of its name)


def test_size_folds_when_static_only():
    m, changed = _check(H + "g (float[2,3] x, float[N] z) => (a, b) { a = Size (x)\n b = Size (z) }",
                        [{"x": np.ones((2, 3), np.float32), "z": np.ones((n,), np.float32)} for n in (1, 7)])
    assert changed and _ops(m) == ["Constant", "Size"]


def test_gather_of_a_static_dim_folds_beside_a_symbolic_one():
    text = H + """g (float[N,4] x) => (y) <int64 one = {1}, int64 zero = {0}> {
        s = Shape (x)
        d = Gather (s, one)
        n = Gather (s, zero)
        dd = Unsqueeze (d, zero)
        nn = Unsqueeze (n, zero)
        shp = Concat <axis = 0> (dd, nn)
        y = Reshape (x, shp)
    }"""
    m, changed = _check(text, [{"x": np.arange(4 * n, dtype=np.float32).reshape(n, 4)} for n in (1, 3)])
    assert changed
    ops = _ops(m)
    assert ops.count("Gather") == 1 and "Shape" in ops


def test_whole_shape_chain_folds_with_constant_folding():
    text = H + """g (float[2,3,4] x) => (y) <int64 zero = {0}, int64 two = {2}, int64[1] m1 = {-1}> {
        s = Shape (x)
        a = Gather (s, zero)
        b = Gather (s, two)
        au = Unsqueeze (a, zero)
        bu = Unsqueeze (b, zero)
        shp = Concat <axis = 0> (au, m1, bu)
        y = Reshape (x, shp)
    }"""
    m = onnxkit.parse(text)
    om = optimize(m, "basic")
    assert _ops(om) == ["Reshape"]
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(onnxkit.Session(om, optimize="none").run(None, {"x": x})[0], x)


def test_dynamic_chain_keeps_working_for_every_size():
    text = H + """g (float[B,S,8] x) => (y) <int64 zero = {0}, int64 one = {1}, int64[2] heads = {2, 4}> {
        s = Shape (x)
        b = Gather (s, zero)
        q = Gather (s, one)
        bu = Unsqueeze (b, zero)
        qu = Unsqueeze (q, zero)
        shp = Concat <axis = 0> (bu, qu, heads)
        y = Reshape (x, shp)
    }"""
    m = onnxkit.parse(text)
    om = optimize(m, "basic")
    for b, s in ((1, 1), (2, 5)):
        x = np.arange(b * s * 8, dtype=np.float32).reshape(b, s, 8)
        got = onnxkit.Session(om, optimize="none").run(None, {"x": x})[0]
        np.testing.assert_array_equal(got, x.reshape(b, s, 2, 4))


def test_shape_inside_a_subgraph_folds():
    text = H + """g (float[2,3] x, bool c) => (y) {
        y = If (c) <then_branch = g1 () => (o) { o = Shape (x) }, else_branch = g2 () => (o) { o = Size (x) }>
    }"""
    m, changed = _check(text, [{"x": np.ones((2, 3), np.float32), "c": np.array(v)} for v in (True, False)])
    assert changed


def test_symbolic_dims_are_not_folded():
    m, changed = _check(H + "g (float[N,M] x) => (s) { s = Shape (x) }", [{"x": np.ones((2, 5), np.float32)}])
    assert not changed and _ops(m) == ["Shape"]
