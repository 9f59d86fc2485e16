"""The inference driver on hand-built models.

Most tests use ops of a private domain (``test.infer``) whose rules and kernels
are registered here, so they test the driver, not the per-op rules.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest

import onnxkit
from onnxkit import DataType, TensorType
from onnxkit.builder import FunctionBuilder, GraphBuilder
from onnxkit.errors import InferenceError
from onnxkit.infer import infer, infer_shapes, summarize
from onnxkit.infer import _driver
from onnxkit.ir import SequenceType, Shape
from onnxkit.ops._registry import kernel, shape
from onnxkit.ops._shape import mul

D = "test.infer"


# ---------------------------------------------------------------- private ops


@shape("Double", 1, domain=D)
def _double(ctx):
    """[d0, ...] -> [2*d0, ...] (two copies along axis 0)."""
    s = ctx.input_shape(0)
    ctx.set_output(0, ctx.input_dtype(0), None if s is None else (mul(2, s[0]), *s[1:]))


@shape("ShapeOf", 1, domain=D)
def _shape_of(ctx):
    s = ctx.input_shape(0)
    ctx.set_output(0, DataType.INT64, None if s is None else [len(s)])
    if s is not None:
        ctx.set_output_dims(0, s)


@shape("Fill", 1, domain=D)
def _fill(ctx):
    """A float tensor of the shape given by input 0's elements."""
    ctx.set_output(0, DataType.FLOAT, ctx.input_dims(0))


@shape("Unknowns", 1, domain=D)
def _unknowns(ctx):
    ctx.set_output(0, ctx.input_dtype(0), [None, 4])


@shape("Picky", 1, domain=D)
def _picky(ctx):
    ctx.fail("input 0 must be a matrix")


@shape("Broken", 1, domain=D)
def _broken(ctx):
    raise ZeroDivisionError("a bug in the rule")


@shape("Branch", 1, domain=D)
def _branch(ctx):
    """Runs attribute ``body`` on input 0's type; its outputs are the node's."""
    for i, t in enumerate(ctx.infer_subgraph(ctx.attr("body"), [ctx.input_type(0)])):
        ctx.set_output_type(i, t)


@shape("Attr", 1, domain=D)
def _attr(ctx):
    """[n] where n is attribute ``n``."""
    ctx.set_output(0, DataType.FLOAT, [ctx.attr("n", 1)])


@kernel("Plus", 1, domain=D)   # a kernel without a shape rule: folded
def _plus(a, b):
    return a + b


@shape("Peek", 1, domain=D)
def _peek(ctx):
    """Output has as many elements as input 0's value says (its value is asked for)."""
    v = ctx.input_value(0)
    ctx.set_output(0, DataType.FLOAT, None if v is None else [int(v.sum())])


def _model(b: GraphBuilder, **kw) -> onnxkit.Model:
    return b.model(opset=21, opset_imports={D: 1}, **kw)


def _type(v) -> str:
    return str(v.type)


# ---------------------------------------------------------------- basics


def test_symbols_flow_and_are_written_back():
    b = GraphBuilder()
    x = b.input("x", "float", ["batch", "seq"])
    y = b.node("Double", x, domain=D)
    z = b.node("Double", y, domain=D)
    b.output(z, "z")
    m = _model(b)
    assert infer_shapes(m) is m
    assert _type(y) == "float[2*batch,seq]"
    assert _type(z) == "float[4*batch,seq]"
    assert x.type.shape.dims == ("batch", "seq")       # graph inputs unchanged


def test_saved_value_info():
    b = GraphBuilder()
    x = b.input("x", "float", ["N", 3])
    y = b.node("Double", x, domain=D, name="d1")
    b.output(b.node("Double", y, domain=D), "z")
    m = infer_shapes(_model(b))
    p = onnx.load_from_string(onnxkit.to_bytes(m))
    vi = {v.name: v for v in p.graph.value_info}
    assert [d.dim_param or d.dim_value for d in vi[y.name].type.tensor_type.shape.dim] == ["2*N", 3]
    assert [d.dim_param or d.dim_value for d in p.graph.output[0].type.tensor_type.shape.dim] == ["4*N", 3]


def test_unknown_dims_stay_unknown():
    b = GraphBuilder()
    x = b.input("x", "float", ["N"])
    y = b.node("Unknowns", x, domain=D)
    b.output(y, "y")
    m = infer_shapes(_model(b))
    assert y.type.shape.dims == (None, 4)
    d = onnx.load_from_string(onnxkit.to_bytes(m)).graph.output[0].type.tensor_type.shape.dim[0]
    assert not d.HasField("dim_value") and not d.dim_param
    assert summarize(m) == (1, 1, 0)


def test_data_propagation_of_dims():
    b = GraphBuilder()
    x = b.input("x", "float", ["batch", 7])
    s = b.node("ShapeOf", x, domain=D)
    y = b.node("Fill", s, domain=D)
    b.output(y, "y")
    m = infer_shapes(_model(b))
    assert _type(s) == "int64[2]"
    assert _type(y) == "float[batch,7]"
    # without data propagation the dims of s are not known
    b2 = GraphBuilder()
    x = b2.input("x", "float", ["batch", 7])
    y2 = b2.node("Fill", b2.node("ShapeOf", x, domain=D), domain=D)
    b2.output(y2, "y")
    infer_shapes(_model(b2), data_prop=False)
    assert y2.type is None or y2.type.shape is None


def test_dims_from_constant_values():
    b = GraphBuilder()
    c = b.constant(np.array([2, 5], np.int64))
    init = b.initializer(np.array([3], np.int64), "init")
    y = b.node("Fill", c, domain=D)
    z = b.node("Fill", init, domain=D)
    b.output(y, "y")
    b.output(z, "z")
    infer_shapes(_model(b))
    assert _type(y) == "float[2,5]" and _type(z) == "float[3]"


def test_folding_by_kernel_for_an_op_without_rule():
    b = GraphBuilder()
    a = b.constant(np.array([1, 2], np.int64))
    c = b.constant(np.array([10, 20], np.int64))
    s = b.node("Plus", a, c, domain=D)           # no rule: the kernel's result gives the type
    v = b.node("Peek", s, domain=D)              # and its value reaches the next rule
    f = b.node("Fill", s, domain=D)              # and so do its elements as dims
    b.output(v, "v")
    b.output(f, "f")
    infer_shapes(_model(b))
    assert _type(s) == "int64[2]"
    assert _type(v) == "float[33]"
    assert _type(f) == "float[11,22]"


def test_large_values_are_not_folded():
    b = GraphBuilder()
    big = b.initializer(np.ones(_driver.MAX_FOLD_ELEMENTS + 1, np.int64), "big")
    s = b.node("Plus", big, big, domain=D)
    v = b.node("Peek", big, domain=D)    # a rule may still read an initializer of any size
    b.output(s, "s")
    b.output(v, "v")
    infer_shapes(_model(b))
    assert s.type is None or s.type.shape is None
    assert _type(v) == f"float[{_driver.MAX_FOLD_ELEMENTS + 1}]"


def test_attributes_and_no_rule_fallback(monkeypatch):
    real = _driver.find_shape
    monkeypatch.setattr(_driver, "find_shape",
                        lambda op, opset, domain="": None if op in ("Abs", "Shape") else real(op, opset, domain))
    b = GraphBuilder()
    x = b.input("x", "float16", ["N", 2])
    r = b.node("Abs", x)        # T -> T: the input's element type
    s = b.node("Shape", x)      # T1 -> T2 = tensor(int64) only
    a = b.node("Attr", x, domain=D, n=5)
    b.output(r, "r")
    b.output(s, "s")
    b.output(a, "a")
    rep = infer(_model(b))
    assert r.type == TensorType(DataType.FLOAT16) and s.type == TensorType(DataType.INT64)
    assert _type(a) == "float[5]"
    assert rep.no_rule == {"Abs": 1, "Shape": 1}
    assert "Abs (1)" in rep.summary()


# ---------------------------------------------------------------- declared types


def test_declared_type_is_merged():
    b = GraphBuilder()
    x = b.input("x", "float", ["N", 3])
    y = b.node("Double", x, domain=D)
    y.type = TensorType(DataType.FLOAT, ["M", None])      # value_info: a name, an unknown
    b.output(b.node("Double", y, domain=D), "z", dtype="float", shape=[8, 3])
    rep = infer(_model(b))
    assert not rep.problems
    assert _type(y) == "float[M,3]"              # declared symbol kept, unknown filled in
    assert rep.model.graph.outputs[0].type.shape.dims == (8, 3)   # a number is more specific


def test_conflict_keeps_declared_type_and_names_the_node():
    b = GraphBuilder()
    x = b.input("x", "float", ["N", 3])
    y = b.node("Double", x, domain=D, name="dbl")
    b.output(y, "y", dtype="float", shape=["N", 5])
    m = _model(b)
    problems: list = []
    infer_shapes(m, problems=problems)
    assert len(problems) == 1
    e = problems[0]
    assert isinstance(e, InferenceError)
    assert (e.node_index, e.node_name, e.op_type, e.value_name) == (0, "dbl", "Double", "y")
    assert str(e.declared) == "float[N,5]" and str(e.inferred) == "float[2*N,3]"
    assert "node 0 'dbl' (test.infer::Double)" in str(e) and "'y'" in str(e)
    assert _type(y) == "float[N,5]"
    # strict: raised
    b.graph.outputs[0].type = TensorType(DataType.FLOAT, ["N", 5])
    with pytest.raises(InferenceError, match="dim 3 is not 5"):
        infer_shapes(_model(b), strict=True)


def test_element_type_conflict():
    b = GraphBuilder()
    x = b.input("x", "float", ["N"])
    b.output(b.node("Double", x, domain=D), "y", dtype="int32", shape=None)
    rep = infer(_model(b))
    assert len(rep.problems) == 1 and "element type float is not int32" in str(rep.problems[0])


def test_failing_rules_are_reported_and_inference_goes_on():
    b = GraphBuilder()
    x = b.input("x", "float", ["N"])
    p = b.node("Picky", x, domain=D, name="p")
    q = b.node("Broken", x, domain=D, name="q")
    z = b.node("Double", x, domain=D)
    for v, n in ((p, "p"), (q, "q"), (z, "z")):
        b.output(v, n + "_out")
    rep = infer(_model(b))
    msgs = [str(e) for e in rep.problems]
    assert any("'p'" in s and "must be a matrix" in s for s in msgs)
    assert any("'q'" in s and "ZeroDivisionError" in s for s in msgs)
    assert _type(z) == "float[2*N]"
    with pytest.raises(InferenceError, match="must be a matrix"):
        infer(_model(b), strict=True)


# ---------------------------------------------------------------- subgraphs and functions


def test_subgraph_sees_outer_values_and_is_typed():
    b = GraphBuilder()
    x = b.input("x", "float", ["N", 2])
    outer = b.node("Double", x, domain=D)
    body = b.subgraph("body")
    inp = body.input("i", None, None)                  # typed by the rule's input_types
    inner = body.node("Double", inp, domain=D)
    body.output(inner, "r0")
    body.output(body.node("Double", outer, domain=D), "r1")   # an outer-scope value
    y0, y1 = b.node("Branch", x, domain=D, outputs=2, body=body.graph)
    b.output(y0, "y0")
    b.output(y1, "y1")
    m = infer_shapes(_model(b))
    assert _type(inner) == "float[2*N,2]"       # written into the subgraph
    assert _type(y0) == "float[2*N,2]" and _type(y1) == "float[4*N,2]"
    p = onnx.load_from_string(onnxkit.to_bytes(m))
    sub = p.graph.node[-1].attribute[0].g
    assert [v.name for v in sub.value_info] == [] or all(v.type.tensor_type.elem_type for v in sub.value_info)
    assert [d.dim_param for d in sub.output[1].type.tensor_type.shape.dim][0] == "4*N"


def test_model_local_function_with_attribute():
    fb = FunctionBuilder("my.fns", "DoubleFill", inputs=["X"], attributes=["n"])
    a = fb.node("Attr", fb.inputs[0], domain=D, n=fb.attr_ref("n", "int"))
    fb.output(fb.node("Double", fb.node("Double", fb.inputs[0], domain=D), domain=D), "Y")
    fb.output(a, "A")
    b = GraphBuilder()
    x = b.input("x", "float", ["N", 3])
    y, a1 = b.call(fb, x, n=6)
    y2, a2 = b.call(fb, y, n=2)                  # a second call with other types
    for v, n in ((y, "y"), (a1, "a1"), (y2, "y2"), (a2, "a2")):
        b.output(v, n)
    m = _model(b)
    infer_shapes(m)
    assert _type(y) == "float[4*N,3]" and _type(a1) == "float[6]"
    assert _type(y2) == "float[16*N,3]" and _type(a2) == "float[2]"
    # the function body is not written into
    assert all(v.type is None for n in m.functions[0].graph for v in n.outputs)


def test_spec_function_body_when_no_rule(monkeypatch):
    """An op without a rule whose spec defines a body is inferred through it."""
    real = _driver.find_shape
    monkeypatch.setattr(_driver, "find_shape",
                        lambda op, opset, domain="": None if op == "Relu" else real(op, opset, domain))
    b = GraphBuilder()
    x = b.input("x", "float16", ["N", 2])
    r = b.node("Relu", x)
    b.output(r, "r")
    rep = infer(_model(b))
    assert _type(r) == "float16[N,2]" and not rep.no_rule


def test_sequence_types_pass_through_fallback(monkeypatch):
    real = _driver.find_shape
    monkeypatch.setattr(_driver, "find_shape",
                        lambda op, opset, domain="": None if op == "Identity" else real(op, opset, domain))
    b = GraphBuilder()
    s = b.input("s", type=SequenceType(TensorType(DataType.FLOAT, [3])))
    y = b.node("Identity", s)      # V -> V: the input's type, shapes forgotten
    b.output(y, "y")
    infer_shapes(_model(b))
    assert y.type == SequenceType(TensorType(DataType.FLOAT))


def test_weights_are_not_copied():
    b = GraphBuilder()
    w = b.initializer(np.ones((64, 64), np.float32), "w")
    b.output(b.node("Double", w, domain=D), "y")
    m = _model(b)
    before = m.graph.initializers["w"].const_value
    infer_shapes(m)
    assert m.graph.initializers["w"].const_value is before
    assert m.graph.outputs[0].type.shape == Shape([128, 64])
    assert w.type.shape.dims == (64, 64)


def test_infer_twice_is_stable():
    b = GraphBuilder()
    x = b.input("x", "float", ["N"])
    b.output(b.node("Double", x, domain=D), "y")
    m = _model(b)
    infer_shapes(m)
    first = onnxkit.to_bytes(m)
    rep = infer(m)
    assert not rep.problems and onnxkit.to_bytes(m) == first


def test_declared_undefined_element_type_is_unknown_not_a_conflict():
    # make_tensor_value_info("y", 0, None): element type UNDEFINED declares nothing
    b = GraphBuilder()
    x = b.input("x", "float", ["N"])
    b.output(b.node("Double", x, domain=D), "y", dtype=DataType.UNDEFINED)
    m = _model(b)
    rep = infer(m)
    assert not rep.problems
    assert str(m.graph.outputs[0].type) == "float[2*N]"


# ---------------------------------------------------------------- standard ops end to end


def test_shape_computation_chain():
    """Shape -> Gather -> Unsqueeze -> Concat -> Reshape, as exporters write it."""
    m = onnxkit.parse('''<ir_version: 10, opset_import: ["" : 18]>
    g (float[batch, seq, 64] x) => (y) {
        s = Shape (x)
        i0 = Constant <value = int64 {0}> ()
        i1 = Constant <value = int64 {1}> ()
        b = Gather <axis = 0> (s, i0)
        q = Gather <axis = 0> (s, i1)
        bu = Unsqueeze (b, ax)
        qu = Unsqueeze (q, ax)
        ax = Constant <value = int64[1] {0}> ()
        heads = Constant <value = int64[2] {4, 16}> ()
        t = Concat <axis = 0> (bu, qu, heads)
        y = Reshape (x, t)
    }''')
    # (ax is defined after its first use: such a model is not topologically sorted)
    m.graph.sort()
    rep = infer(m)
    assert str(m.graph.outputs[0].type) == "float[batch,seq,4,16]", rep.summary()


def test_cli(tmp_path, capsys):
    from onnxkit.cli import main

    b = GraphBuilder()
    x = b.input("x", "float", ["N", 3])
    b.output(b.node("Double", b.node("Double", x, domain=D), domain=D), "z")
    src, out = str(tmp_path / "m.onnx"), str(tmp_path / "out.onnx")
    onnxkit.save(_model(b), src)
    assert main(["infer", src]) == 0
    assert "values: 2, typed: 2 (100.0%), fully shaped: 2 (100.0%)" in capsys.readouterr().out
    assert main(["infer", src, out]) == 0
    p = onnx.load(out)
    assert [d.dim_param for d in p.graph.value_info[0].type.tensor_type.shape.dim] == ["2*N", ""]
