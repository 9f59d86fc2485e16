"""The plan's fast path: element-wise ops written in place only into buffers
nobody else holds; inputs, weights and values read later never change; errors
still name the node."""

from __future__ import annotations

import os

import numpy as np
import pytest

import onnxkit
from onnxkit import GraphBuilder
from onnxkit.errors import RunError


def _run(model, feeds, optimize="none"):
    return onnxkit.Session(model, optimize=optimize).run(None, feeds)


def test_in_place_never_overwrites_inputs_weights_or_live_values():
    b = GraphBuilder("g")
    x = b.input("x", "float", [2, 3])
    w = b.initializer(np.full((2, 3), 2, np.float32), "w")
    h = b.node("Mul", x, w)            # x and w must survive: not this graph's buffers
    r = b.node("Relu", h)              # h dies here: may be written in place
    v = b.node("Reshape", r, b.initializer(np.array([3, 2], np.int64), "s"))   # a view of r
    s = b.node("Sigmoid", r)           # r is still read (through the view v): not in place
    t = b.node("Add", s, s)            # the same value twice: never in place
    b.output(v, "v")
    b.output(t, "t")
    b.output(b.node("Neg", h), "n")    # h is also read here, after Relu
    m = b.model(opset=21)
    x0 = np.array([[-1, 2, -3], [4, -5, 6]], np.float32)
    x = x0.copy()
    sess = onnxkit.Session(m, optimize="none")
    for _ in range(2):
        vv, tt, nn = sess.run(None, {"x": x})
        np.testing.assert_array_equal(x, x0)
        np.testing.assert_array_equal(vv, np.maximum(2 * x0, 0).reshape(3, 2))
        np.testing.assert_allclose(tt, 2 / (1 + np.exp(-np.maximum(2 * x0, 0))), rtol=1e-6)
        np.testing.assert_array_equal(nn, -2 * x0)
    assert np.all(sess.model.graph.initializers["w"].const_value.numpy() == 2)


def test_in_place_chain_gives_the_same_as_the_kernels():
    b = GraphBuilder("g")
    x = b.input("x", "float", ["n", 8])
    y = b.node("Add", x, x)
    for op in ["Relu", "Sigmoid", "Tanh", "Exp", "Sqrt", "Neg", "Abs", "Reciprocal"]:
        y = b.node(op, y)
    z = b.node("Mul", b.initializer(np.linspace(-1, 1, 8, dtype=np.float32), "c"), y)   # dying 2nd input
    z = b.node("Sub", z, b.initializer(np.float32(0.5), "h"))
    z = b.node("Div", z, b.initializer(np.float32(3), "k"))
    b.output(z, "z")
    m = b.model(opset=21)
    x = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32)
    got = _run(m, {"x": x})[0]
    import onnxruntime as ort
    m.ir_version = 10
    want = ort.InferenceSession(onnxkit.to_bytes(m), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    r = x + x
    r = 1 / np.abs(-np.sqrt(np.exp(np.tanh(1 / (1 + np.exp(-np.maximum(r, 0))))))).astype(np.float32)
    ref = (np.linspace(-1, 1, 8, dtype=np.float32) * r - np.float32(0.5)) / np.float32(3)
    np.testing.assert_allclose(got, ref, rtol=1e-6)


def test_integer_and_half_types_keep_their_semantics():
    b = GraphBuilder("g")
    a = b.input("a", "int32", [4])
    c = b.input("c", "int32", [4])
    q = b.node("Div", b.node("Add", a, c), c)       # integer division truncates toward zero
    b.output(q, "q")
    m = b.model(opset=21)
    a0 = np.array([-7, 7, -8, 9], np.int32)
    c0 = np.array([2, -2, 3, 4], np.int32)
    np.testing.assert_array_equal(_run(m, {"a": a0, "c": c0})[0], np.trunc((a0 + c0) / c0).astype(np.int32))
    b = GraphBuilder("h")
    x = b.input("x", "float16", [3])
    b.output(b.node("Sigmoid", b.node("Mul", x, x)), "y")
    y = _run(b.model(opset=21), {"x": np.array([1, 2, 3], np.float16)})[0]
    assert y.dtype == np.float16
    np.testing.assert_allclose(y, 1 / (1 + np.exp(-np.array([1, 4, 9.0]))), rtol=1e-3)


def test_errors_in_the_fast_path_name_the_node():
    b = GraphBuilder("g")
    x = b.input("x", "float", [2, 3])
    y = b.input("y", "float", [4])
    b.output(b.node("Add", x, y, name="bad_add"), "z")
    sess = onnxkit.Session(b.model(opset=21), optimize="none")
    with pytest.raises(RunError, match=r"node 0 'bad_add' \(Add\) failed.*\n  inputs: float32\[2, 3\], float32\[4\]"):
        sess.run(None, {"x": np.zeros((2, 3), np.float32), "y": np.zeros(4, np.float32)})


def test_outputs_are_the_callers_own_arrays():
    b = GraphBuilder("g")
    x = b.input("x", "float", [3])
    w = b.initializer(np.ones(3, np.float32), "w")
    b.output(b.node("Identity", x), "same")
    b.output(b.node("Identity", w), "weight")
    sess = onnxkit.Session(b.model(opset=21), optimize="none")
    x = np.zeros(3, np.float32)
    same, weight = sess.run(None, {"x": x})
    assert same is not x and weight.flags.writeable
    weight[:] = 5
    assert sess.run(None, {"x": x})[1].tolist() == [1, 1, 1]


def _unaligned_model(tmp_path):
    # a 1-byte name shifts raw_data to an odd offset in the file
    b = GraphBuilder("g")
    x = b.input("x", "float", [2, 3])
    w = b.initializer(np.arange(6, dtype=np.float32).reshape(2, 3) + 0.5, "w")
    b.output(b.node("Mul", x, w), "y")
    p = tmp_path / "m.onnx"
    onnxkit.save(b.model(opset=21), p)
    return p


def test_unaligned_weights_are_read_aligned_once(tmp_path):
    from onnxkit._io import read_unaligned_weights
    p = _unaligned_model(tmp_path)
    m = onnxkit.load(p)
    before = m.graph.initializers["w"].const_value.numpy()
    n = read_unaligned_weights(m)
    after = m.graph.initializers["w"].const_value.numpy()
    np.testing.assert_array_equal(after, before)
    assert after.flags.aligned
    assert not before.flags.aligned and n == 24       # the case under test: raw_data at an odd offset
    # a file replaced since it was mapped (as save replaces files) is not read:
    # the copy comes through the map, which still shows the old file
    m2 = onnxkit.load(p)
    mapped = m2.graph.initializers["w"].const_value.numpy().copy()
    (tmp_path / "new.onnx").write_bytes(b"\0" * p.stat().st_size)
    os.replace(tmp_path / "new.onnx", p)
    read_unaligned_weights(m2)
    np.testing.assert_array_equal(m2.graph.initializers["w"].const_value.numpy(), mapped)
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(onnxkit.Session(onnxkit.load(_unaligned_model(tmp_path / "..")))
                                  .run(None, {"x": x})[0], x * before)


def test_a_failing_pass_leaves_the_model_running_as_written(monkeypatch):
    from onnxkit.errors import OptimizeError
    from onnxkit.passes import dce, optimize

    def boom(self, graph, model, opsets):
        raise KeyError("surprise")
    monkeypatch.setattr(dce.DeadCodeElimination, "__call__", lambda self, model: boom(self, None, model, {}))
    b = GraphBuilder("g")
    x = b.input("x", "float", [2])
    b.output(b.node("Neg", x), "y")
    m = b.model(opset=21)
    with pytest.raises(OptimizeError, match="optimizer pass 'dce' failed: KeyError"):
        optimize(m, "basic")
    with pytest.warns(RuntimeWarning, match="running the model unoptimized"):
        sess = onnxkit.Session(m)
    assert sess.run(None, {"x": np.array([1, -2], np.float32)})[0].tolist() == [-1, 2]
