"""Session: the onnxruntime-like API, input validation, errors that name the
node, intermediate values, profiles, functions and subgraphs."""

from __future__ import annotations

import numpy as np
import pytest

import onnxkit
from onnxkit import GraphBuilder
from onnxkit.errors import InvalidInputError, RunError


def _mlp():
    b = GraphBuilder("mlp")
    x = b.input("x", "float", ["batch", 4])
    w = b.initializer(np.arange(8, dtype=np.float32).reshape(4, 2) / 8, "w")
    h = b.node("MatMul", x, w, name="mm")
    y = b.node("Relu", h, name="act")
    b.output(y, "y", dtype="float", shape=["batch", 2])
    return b.model(opset=21)


def test_run_and_describe():
    sess = onnxkit.Session(_mlp())
    [i] = sess.get_inputs()
    assert (i.name, i.type, i.shape) == ("x", "tensor(float)", ["batch", 4])
    [o] = sess.get_outputs()
    assert (o.name, o.type, o.shape) == ("y", "tensor(float)", ["batch", 2])
    x = np.array([[1, -2, 3, -4], [0.5, 0.5, 0.5, 0.5]], np.float32)
    [y] = sess.run(None, {"x": x})
    w = np.arange(8, dtype=np.float32).reshape(4, 2) / 8
    np.testing.assert_allclose(y, np.maximum(x @ w, 0), rtol=1e-6)
    assert y.dtype == np.float32
    np.testing.assert_allclose(onnxkit.run(_mlp(), {"x": x})[0], y)
    assert sess.run(["y"], {"x": x})[0].shape == (2, 2)


def test_runs_from_bytes_and_path(tmp_path):
    m = _mlp()
    p = tmp_path / "m.onnx"
    onnxkit.save(m, p)
    x = np.ones((3, 4), np.float32)
    a = onnxkit.Session(str(p)).run(None, {"x": x})[0]
    b = onnxkit.Session(onnxkit.to_bytes(m)).run(None, {"x": x})[0]
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("feeds,words", [
    ({}, ["missing input 'x'"]),
    ({"x": np.ones((2, 4), np.float32), "z": np.ones(1)}, ["unknown input 'z'", "'x'"]),
    ({"x": np.ones((2, 4), np.float64)}, ["input 'x'", "float", "float64"]),
    ({"x": np.ones((2, 4, 1), np.float32)}, ["input 'x'", "rank 2", "[2, 4, 1]"]),
    ({"x": np.ones((2, 5), np.float32)}, ["input 'x'", "dim 1 must be 4", "[2, 5]"]),
])
def test_bad_inputs_are_named(feeds, words):
    with pytest.raises(InvalidInputError) as e:
        onnxkit.Session(_mlp()).run(None, feeds)
    for w in words:
        assert w in str(e.value)


def test_unknown_output_name():
    with pytest.raises(InvalidInputError, match="unknown output 'nope'"):
        onnxkit.Session(_mlp()).run(["nope"], {"x": np.ones((1, 4), np.float32)})


def test_kernel_failure_names_the_node():
    b = GraphBuilder("bad")
    x = b.input("x", "float", [2, 3])
    y = b.input("y", "float", [4, 5])
    b.output(b.node("MatMul", x, y, name="the_matmul"), "z", dtype="float")
    sess = onnxkit.Session(b.model(opset=21))
    with pytest.raises(RunError) as e:
        sess.run(None, {"x": np.ones((2, 3), np.float32), "y": np.ones((4, 5), np.float32)})
    msg = str(e.value)
    assert "node 0 'the_matmul' (MatMul)" in msg and "float32[2, 3]" in msg and "float32[4, 5]" in msg


def test_missing_kernel_is_reported_at_load():
    b = GraphBuilder("custom")
    x = b.input("x", "float", [2])
    b.output(b.node("Frobnicate", x, domain="my.domain", name="f"), "y", dtype="float")
    with pytest.raises(RunError, match="my.domain"):
        onnxkit.Session(b.model(opset=21, opset_imports={"my.domain": 1}))


def test_intermediate_values_and_profile():
    sess = onnxkit.Session(_mlp())
    x = np.ones((2, 4), np.float32)
    values = sess.run_intermediate({"x": x})
    mm = [k for k in values if k not in ("x", "w", "y")]
    assert len(mm) == 1 and values[mm[0]].shape == (2, 2)
    np.testing.assert_array_equal(values["y"], np.maximum(values[mm[0]], 0))
    prof = onnxkit.Session(_mlp(), optimize="none").profile({"x": x})
    assert [p.op_type for p in prof] == ["MatMul", "Relu"]
    assert all(p.seconds >= 0 and p.output_shapes == [[2, 2]] and p.output_bytes == 16 for p in prof)
    # the default session profiles the graph it runs: the optimized one
    assert [p.op_type for p in sess.profile({"x": x})] == ["FusedMatMul"]


def test_values_are_freed_after_last_use():
    sess = onnxkit.Session(_mlp())
    env = sess._bind({"x": np.ones((2, 4), np.float32)})
    sess._plan.run(env)
    names = {v.name for v in env}
    assert "y" in names and not any(n.startswith("matmul") for n in names)


def test_model_local_function_and_outer_scope_subgraph():
    from onnxkit import FunctionBuilder
    fb = FunctionBuilder("my.fn", "AddRelu", inputs=["a", "b"])
    a, bb = fb.graph.inputs
    fb.output(fb.node("Relu", fb.node("Add", a, bb)), "out")
    b = GraphBuilder("g")
    x = b.input("x", "float", [3])
    y = b.call(fb, x, x)
    cond = b.input("c", "bool", [])
    then = b.subgraph("then")
    then.output(then.node("Neg", y), "t")
    other = b.subgraph("else")
    other.output(other.node("Identity", y), "e")
    z = b.node("If", cond, then_branch=then, else_branch=other)
    b.output(z, "z", dtype="float")
    m = b.model(opset=21)
    sess = onnxkit.Session(m)
    x = np.array([-1, 0, 2], np.float32)
    np.testing.assert_array_equal(sess.run(None, {"x": x, "c": np.array(True)})[0], [0, 0, -4])
    np.testing.assert_array_equal(sess.run(None, {"x": x, "c": np.array(False)})[0], [0, 0, 4])


def test_outputs_are_the_callers_own_arrays():
    b = GraphBuilder("views")
    x = b.input("x", "float", [2, 3])
    shape = b.initializer(np.array([4, 2, 3], np.int64), "shape")
    b.output(b.node("Identity", x), "same", dtype="float")
    b.output(b.node("Expand", x, shape), "expanded", dtype="float")
    x = np.ones((2, 3), np.float32)
    same, expanded = onnxkit.Session(b.model(opset=21)).run(None, {"x": x})
    assert not np.shares_memory(same, x) and not np.shares_memory(expanded, x)
    same[0, 0] = 5
    expanded[0, 0, 0] = 7                   # writable
    assert x[0, 0] == 1
