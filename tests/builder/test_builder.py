"""The builder: models it makes pass onnx's checker and run in onnxruntime with
the results of a numpy reference; names, errors and the op namespace."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import onnxkit
from onnxkit.builder import AttrRef, FunctionBuilder, GraphBuilder, Ops, as_dtype
from onnxkit.errors import IRError, UnsupportedDataTypeError
from onnxkit.ir import Attribute, AttributeType, DataType, Graph, Value


def check_and_run(model: onnxkit.Model, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Serialize, pass onnx's full check, and run in onnxruntime."""
    data = onnxkit.to_bytes(model)
    onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    sess = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray, pad: int) -> np.ndarray:
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = sliding_window_view(x, w.shape[2:], axis=(2, 3))  # N, C, H, W, kh, kw
    return np.einsum("nchwij,ocij->nohw", win, w) + b[None, :, None, None]


def maxpool2(x: np.ndarray) -> np.ndarray:
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ---------------------------------------------------------------- models


def test_small_cnn():
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.3
    b1 = rng.standard_normal(4).astype(np.float32) * 0.1
    w2 = rng.standard_normal((5, 4 * 4 * 4)).astype(np.float32) * 0.2
    b2 = rng.standard_normal(5).astype(np.float32) * 0.1

    b = GraphBuilder("cnn")
    x = b.input("x", "float", [2, 3, 8, 8])
    h = b.op.Conv(x, b.initializer(w1, "w1"), b.initializer(b1, "b1"), kernel_shape=[3, 3],
                  pads=[1, 1, 1, 1])
    h = b.op.Relu(h)
    h = b.op.MaxPool(h, kernel_shape=[2, 2], strides=[2, 2])
    flat = b.op.Flatten(h, axis=1)
    shaped = b.node("Reshape", h, np.array([2, -1], np.int64))  # same as Flatten
    logits = b.op.Gemm(shaped, b.initializer(w2, "w2"), b.initializer(b2, "b2"), transB=1)
    y = b.op.Softmax(logits, axis=-1)
    b.output(y, "y", dtype="float", shape=[2, 5])
    b.output(flat, "flat", dtype=np.float32, shape=[2, 64])
    model = b.model(opset=21)

    assert [n.op_type for n in model.graph] == \
        ["Conv", "Relu", "MaxPool", "Flatten", "Constant", "Reshape", "Gemm", "Softmax"]
    xv = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    got_y, got_flat = check_and_run(model, {"x": xv})
    ref_h = maxpool2(np.maximum(conv2d(xv, w1, b1, 1), 0))
    ref_flat = ref_h.reshape(2, -1)
    np.testing.assert_allclose(got_flat, ref_flat, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_y, softmax(ref_flat @ w2.T + b2), rtol=1e-4, atol=1e-6)


def test_if_with_branches_reading_outer_values():
    b = GraphBuilder("main")
    cond = b.input("cond", "bool", [])
    x = b.input("x", "float", [3])
    scale = b.initializer(np.array([2.0, 3.0, 4.0], np.float32), "scale")
    shift = b.op.Add(x, np.float32(1.0))

    with b.subgraph("then") as then:
        then.output(then.op.Mul(x, scale), "then_out")  # reads x and scale of the outer graph
    with b.subgraph("else") as other:
        other.output(other.op.Sub(shift, x), "else_out")
    y = b.op.If(cond, then_branch=then, else_branch=other)
    b.output(y, "y", dtype="float", shape=[3])
    model = b.model()

    # outer values are read as the very Value objects
    mul = then.graph.nodes[0]
    assert mul.inputs[0] is x and mul.inputs[1] is scale
    xv = np.array([1.0, -2.0, 5.0], np.float32)
    (got,) = check_and_run(model, {"cond": np.array(True), "x": xv})
    np.testing.assert_allclose(got, xv * [2, 3, 4])
    (got,) = check_and_run(model, {"cond": np.array(False), "x": xv})
    np.testing.assert_allclose(got, np.ones(3, np.float32))


def test_loop():
    b = GraphBuilder("main")
    trips = b.input("trips", "int64", [])
    x = b.input("x", "float", [2])
    init = b.initializer(np.zeros(2, np.float32), "acc0")

    body = b.subgraph("body")
    i = body.input("i", "int64", [])
    cond_in = body.input("cond_in", "bool", [])
    acc = body.input("acc_in", "float", [2])
    step = body.op.Mul(x, body.op.Cast(i, to=DataType.FLOAT))  # x * i, x from outside
    acc_out = body.op.Add(acc, step)
    body.output(body.op.Identity(cond_in), "cond_out")
    body.output(acc_out, "acc_out")
    body.output(acc_out, "scan_out")  # already an output: passed through an Identity

    final, scanned = b.op.Loop(trips, b.constant(True), init, body=body, outputs=2)
    b.output(final, "final", dtype="float", shape=[2])
    b.output(scanned, "scanned", dtype="float", shape=["trips", 2])
    model = b.model(opset=21)

    xv = np.array([1.5, -1.0], np.float32)
    got_final, got_scan = check_and_run(model, {"trips": np.array(4, np.int64), "x": xv})
    ref = np.cumsum([xv * k for k in range(4)], axis=0)
    np.testing.assert_allclose(got_scan, ref)
    np.testing.assert_allclose(got_final, ref[-1])


def test_model_local_function():
    fb = FunctionBuilder("custom.fn", "ScaledRelu", inputs=["X"], attributes=["alpha"])
    (X,) = fb.inputs
    alpha = fb.node("Constant", value_float=fb.attr_ref("alpha", "float"))
    fb.output(fb.op.Relu(fb.op.Mul(X, alpha)), "Y")
    f = fb.function
    assert f.attributes == ["alpha"] and [v.name for v in f.inputs] == ["X"]
    assert f.graph.nodes[0].attributes["value_float"].ref_attr_name == "alpha"

    b = GraphBuilder("main")
    x = b.input("x", "float", ["n", 3])
    y1 = b.call(fb, x, alpha=2.0)
    y2 = b.op("custom.fn").ScaledRelu(x, alpha=-0.5)  # the same function, called by name
    b.output(y1, "y1", dtype="float", shape=["n", 3])
    b.output(y2, "y2", dtype="float", shape=["n", 3])
    model = b.model(opset=21)
    assert model.functions == [f]
    assert model.opset_imports == {"": 21, "custom.fn": 1}
    assert f.opset_imports == {"": 21}

    xv = np.array([[1.0, -2.0, 3.0], [-0.5, 0.0, 4.0]], np.float32)
    got1, got2 = check_and_run(model, {"x": xv})
    np.testing.assert_allclose(got1, np.maximum(xv * 2.0, 0))
    np.testing.assert_allclose(got2, np.maximum(xv * -0.5, 0))


def test_function_attribute_default_and_explicit_functions_argument():
    fb = FunctionBuilder("my", "AddScalar", inputs=["X"],
                         attributes=[Attribute("value", AttributeType.FLOAT, 10.0)])
    c = fb.node("Constant", value_float=fb.attr_ref("value"))
    fb.output(fb.op.Add(fb.inputs[0], c), "Y")
    b = GraphBuilder()
    x = b.input("x", "float", [2])
    b.output(b.op("my").AddScalar(x), "y", dtype="float", shape=[2])
    model = b.model(functions=[fb])
    (got,) = check_and_run(model, {"x": np.array([1, 2], np.float32)})
    np.testing.assert_allclose(got, [11, 12])


def test_function_calling_a_function():
    inner = FunctionBuilder("lib", "Double", inputs=["X"])
    inner.output(inner.op.Add(inner.inputs[0], inner.inputs[0]), "Y")
    outer = FunctionBuilder("lib", "Quadruple", inputs=["X"])
    outer.output(outer.call(inner, outer.call(inner, outer.inputs[0])), "Y")
    b = GraphBuilder()
    x = b.input("x", "float", [3])
    b.output(b.call(outer, x), "y", dtype="float", shape=[3])
    model = b.model()
    assert [f.name for f in model.functions] == ["Double", "Quadruple"]  # callees first
    assert outer.function.opset_imports == {"lib": 1}
    (got,) = check_and_run(model, {"x": np.array([1, 2, -3], np.float32)})
    np.testing.assert_allclose(got, [4, 8, -12])


def test_symbolic_batch_dims():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    b = GraphBuilder("main")
    x = b.input("x", "float", ["batch", "seq", 4])
    h = b.op.Tanh(b.op.MatMul(x, b.initializer(w)))
    s = b.op.ReduceSum(h, np.array([-1], np.int64), keepdims=0)
    b.output(s, "s", dtype="float", shape=["batch", "seq"])
    model = b.model()

    proto = onnx.load_from_string(onnxkit.to_bytes(model))
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", "seq", 4]
    for shape in [(1, 1, 4), (5, 7, 4)]:
        xv = rng.standard_normal(shape).astype(np.float32)
        (got,) = check_and_run(model, {"x": xv})
        np.testing.assert_allclose(got, np.tanh(xv @ w).sum(-1), rtol=1e-5, atol=1e-5)


def test_round_trip_through_onnxkit_load():
    b = GraphBuilder()
    x = b.input("x", "float", [2])
    b.output(b.op.Neg(x), "y", dtype="float", shape=[2])
    data = onnxkit.to_bytes(b.model())
    assert onnxkit.to_bytes(onnxkit.load(data)) == data


# ---------------------------------------------------------------- names


def test_automatic_names_are_unique_and_user_names_kept():
    b = GraphBuilder()
    x = b.input("x", "float", [2])
    a = b.op.Relu(x)
    c = b.op.Relu(a)
    d = b.op.Relu(c, name="my_relu")
    w = b.initializer(np.ones(2, np.float32))
    assert (a.name, c.name, d.name) == ("relu_0", "relu_1", "my_relu")
    assert [n.name for n in b.graph] == ["Relu_0", "Relu_1", "my_relu"]
    assert w.name == "init_0" and b.graph.initializers["init_0"] is w
    names = [v.name for v in b.graph.values()]
    assert len(names) == len(set(names))


def test_user_name_moves_an_automatic_name_aside():
    b = GraphBuilder()
    x = b.input("x", "float", [2])
    r = b.op.Relu(x)
    w = b.initializer(np.ones(2, np.float32))
    assert (r.name, w.name) == ("relu_0", "init_0")
    later = b.op.Neg(x, outputs=["relu_0"])
    w2 = b.initializer(np.zeros(2, np.float32), "init_0")
    assert later.name == "relu_0" and r.name not in ("relu_0", None)
    assert w2.name == "init_0" and w.name != "init_0"
    assert b.graph.initializers[w.name] is w and b.graph.initializers["init_0"] is w2


def test_duplicate_names_raise_irerror():
    b = GraphBuilder()
    x = b.input("x", "float", [2])
    with pytest.raises(IRError, match="'x' is already used"):
        b.input("x", "float", [2])
    with pytest.raises(IRError, match="already used"):
        b.op.Relu(x, outputs=["x"])
    with pytest.raises(IRError, match="already used"):
        b.initializer(np.ones(1), "x")
    b.op.Relu(x, name="n")
    with pytest.raises(IRError, match="node name 'n'"):
        b.op.Relu(x, name="n")
    with pytest.raises(IRError, match="repeat"):
        b.node("Split", x, outputs=["a", "a"])
    # a subgraph shares the names of the enclosing graph
    sub = b.subgraph()
    with pytest.raises(IRError, match="already used"):
        sub.input("x", "float", [2])
    assert len(b.graph) == 1  # nothing half-made was left behind
    assert [n for n, _ in x.uses()] == b.graph.nodes


def test_output_renames_and_passes_through():
    b = GraphBuilder()
    x = b.input("x", "float", [2])
    r = b.op.Relu(x)
    out = b.output(r, "y")  # automatic name: renamed
    assert out is r and r.name == "y"
    out2 = b.output(r, "z")  # already an output: Identity
    assert out2 is not r and out2.producer().op_type == "Identity" and out2.name == "z"
    out3 = b.output(x, "x_copy")  # a user-named input: Identity
    assert out3.producer().inputs == (x,)
    assert [v.name for v in b.graph.outputs] == ["y", "z", "x_copy"]


def test_node_with_several_outputs_and_missing_optional_input():
    b = GraphBuilder()
    x = b.input("x", "float", [4])
    lo, hi = b.op.Split(x, np.array([1, 3], np.int64), outputs=2, axis=0)
    assert lo.producer() is hi.producer() and (lo.index, hi.index) == (0, 1)
    clipped = b.op.Clip(x, None, np.float32(0.5))
    node = clipped.producer()
    assert node.inputs[1] is None
    b.output(lo, "lo", dtype="float", shape=[1])
    b.output(hi, "hi", dtype="float", shape=[3])
    b.output(clipped, "c", dtype="float", shape=[4])
    got = check_and_run(b.model(), {"x": np.array([1, -1, 2, 0.25], np.float32)})
    np.testing.assert_allclose(got[0], [1])
    np.testing.assert_allclose(got[1], [-1, 2, 0.25])
    np.testing.assert_allclose(got[2], [0.5, -1, 0.5, 0.25])


def test_attributes():
    b = GraphBuilder()
    x = b.input("x", "float", [2, 3])
    t = b.node("Transpose", x, perm=[1, 0], unused=None)
    n = t.producer()
    assert set(n.attributes) == {"perm"} and n.attributes["perm"].type == AttributeType.INTS
    g = b.node("Gemm", x, x, attributes={"transB": 1},
               alpha=Attribute("alpha", AttributeType.FLOAT, 2.0))
    assert g.producer().attributes["alpha"].value == 2.0
    assert g.producer().attributes["transB"].value == 1
    with pytest.raises(IRError, match="named 'beta'"):
        b.node("Gemm", x, x, alpha=Attribute("beta", AttributeType.FLOAT, 1.0))
    with pytest.raises(IRError, match="empty list"):
        b.node("Transpose", x, perm=[])
    ref = b.node("Elu", x, alpha=AttrRef("a", "float")).producer().attributes["alpha"]
    assert (ref.ref_attr_name, ref.type, ref.value) == ("a", AttributeType.FLOAT, None)


def test_constants_and_dtypes():
    b = GraphBuilder()
    assert b.constant(1.5).dtype == DataType.FLOAT
    assert b.constant(3).dtype == DataType.INT64
    assert b.constant(True).dtype == DataType.BOOL
    assert b.constant([1.0, 2.0]).shape == [2]
    assert b.constant(np.arange(3, dtype=np.int32)).dtype == DataType.INT32
    assert b.constant(2, dtype="float16").dtype == DataType.FLOAT16
    for spec, want in [("float", DataType.FLOAT), ("float32", DataType.FLOAT),
                       ("double", DataType.DOUBLE), ("int64", DataType.INT64),
                       (np.float16, DataType.FLOAT16), (np.dtype("uint8"), DataType.UINT8),
                       (DataType.BFLOAT16, DataType.BFLOAT16), (7, DataType.INT64), (None, None)]:
        assert as_dtype(spec) == want
    with pytest.raises(UnsupportedDataTypeError):
        as_dtype("flaot")


def test_values_from_elsewhere_are_refused():
    b1, b2 = GraphBuilder(), GraphBuilder()
    x1 = b1.input("x", "float", [1])
    with pytest.raises(IRError, match="not defined in graph"):
        b2.op.Relu(x1)
    sub = b1.subgraph()
    inner = sub.op.Relu(x1)
    with pytest.raises(IRError, match="not defined in graph"):
        b1.op.Relu(inner)  # a subgraph's value is not visible outside it
    with pytest.raises(IRError, match="subgraph"):
        sub.model()
    with pytest.raises(IRError, match="expected a Value"):
        b1.op.Relu("x")


def test_op_namespace_forwards_to_node():
    b = GraphBuilder()
    assert isinstance(b.op, Ops)
    x = b.input("x", "float", [1])
    y = b.op("com.example").Custom(x, k=1, outputs=["y"])
    n = y.producer()
    assert (n.op_type, n.domain, n.attr("k"), y.name) == ("Custom", "com.example", 1, "y")
    with pytest.raises(AttributeError):
        b.op._private
    assert b.model().opset_imports == {"": 21, "com.example": 1}


def test_function_builder_errors():
    fb = FunctionBuilder("d", "F", inputs=["X"], attributes=["a"])
    with pytest.raises(IRError, match="give its type"):
        fb.attr_ref("a")
    with pytest.raises(IRError, match="no attribute 'b'"):
        fb.attr_ref("b", "int")
    with pytest.raises(IRError, match="not a model"):
        fb.model()
    c = fb.initializer(np.ones(2, np.float32))  # functions hold no initializers: a Constant
    assert c.producer().op_type == "Constant" and not fb.graph.initializers


def test_builder_makes_plain_ir_objects():
    b = GraphBuilder("g")
    x = b.input("x", "float", [1])
    y = b.op.Relu(x)
    assert isinstance(b.graph, Graph) and isinstance(y, Value)
    assert y.producer() in b.graph.nodes and x.consumers() == [y.producer()]
