"""FuseMatMulBias: MatMul/Gemm with a constant weight [+ bias] [+ activation]
-> ai.onnxkit FusedMatMul, only where the fused op means the same thing.

Each rewritten model is checked against the model run as written (onnxkit,
no optimization) and against onnxruntime on the original file."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import onnxkit
from onnxkit.ir import DataType, Graph, Model, Node, Tensor, TensorType, Value
from onnxkit.passes import optimize
from onnxkit.passes.fuse_matmul_bias import FuseMatMulBias

from ._helpers import assert_same_as_unoptimized, count, make, ort_run, vi

RNG = np.random.default_rng(7)
DOM = "ai.onnxkit"


def _init(name, shape, dtype=np.float32):
    return numpy_helper.from_array(RNG.standard_normal(shape).astype(dtype), name)


def _fused(model):
    return [n for n in model.graph.all_nodes() if n.op_type == "FusedMatMul" and n.domain == DOM]


def _check(proto, feeds, *, rtol=1e-5, atol=1e-5):
    """Optimize at "runtime"; outputs equal the unoptimized run and onnxruntime's."""
    m = onnxkit.load(proto.SerializeToString())
    opt = optimize(m, "runtime")
    assert_same_as_unoptimized(m, opt, feeds, rtol=rtol, atol=atol)
    got = onnxkit.Session(opt, optimize="none").run(None, feeds)
    for g, w in zip(got, ort_run(proto, feeds)):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    return opt


def _dense(a_shape, k, n, *, bias_shape=(None,), act=None, swap=False, opset=17, act_attrs=None):
    """A @ W (+ bias) (-> act) with constant W [k, n] and bias."""
    nodes = [helper.make_node("MatMul", ["A", "W"], ["mm"])]
    inits = [_init("W", (k, n))]
    last = "mm"
    if bias_shape != (None,):
        inits.append(_init("bias", bias_shape))
        nodes.append(helper.make_node("Add", ["bias", "mm"] if swap else ["mm", "bias"], ["biased"]))
        last = "biased"
    if act:
        nodes.append(helper.make_node(act, [last], ["y"], **(act_attrs or {})))
        last = "y"
    return make(nodes, [vi("A", list(a_shape))], [vi(last, None)], inits, opset=opset)


@pytest.mark.parametrize("a_shape", [(2, 3, 4), (3, 4), (2, 2, 3, 4)])
@pytest.mark.parametrize("bias_shape,swap", [((5,), False), ((5,), True), ((1, 5), False), ((None,), False)])
def test_matmul_bias_fused(a_shape, bias_shape, swap):
    proto = _dense(a_shape, 4, 5, bias_shape=bias_shape, swap=swap)
    opt = _check(proto, {"A": RNG.standard_normal(a_shape).astype(np.float32)})
    (f,) = _fused(opt)
    assert count(opt, "MatMul") == count(opt, "Gemm") == count(opt, "Add") == 0
    assert (len(f.inputs) > 2) == (bias_shape != (None,))
    assert opt.opset_imports.get(DOM) == 1


@pytest.mark.parametrize("act,attrs,opset", [("Relu", {}, 17), ("Tanh", {}, 17), ("Sigmoid", {}, 17),
                                             ("Gelu", {}, 20), ("Gelu", {"approximate": "tanh"}, 20)])
def test_activation_fused(act, attrs, opset):
    proto = _dense((2, 6, 8), 8, 16, bias_shape=(16,), act=act, opset=opset, act_attrs=attrs)
    opt = _check(proto, {"A": (3 * RNG.standard_normal((2, 6, 8))).astype(np.float32)})
    (f,) = _fused(opt)
    assert f.attr("activation") == act and len(list(opt.graph)) == 1
    assert f.attr("approximate", "none") == attrs.get("approximate", "none")


def test_erf_gelu_pattern_fused_after_gelu_fusion():
    """BERT's x * 0.5 * (1 + erf(x / sqrt 2)) becomes Gelu (another pass), then
    joins the product."""
    c = lambda name, v: numpy_helper.from_array(np.array(v, np.float32), name)  # noqa: E731
    nodes = [helper.make_node("MatMul", ["A", "W"], ["mm"]), helper.make_node("Add", ["mm", "bias"], ["x"]),
             helper.make_node("Div", ["x", "sqrt2"], ["d"]), helper.make_node("Erf", ["d"], ["e"]),
             helper.make_node("Add", ["e", "one"], ["p"]), helper.make_node("Mul", ["x", "p"], ["q"]),
             helper.make_node("Mul", ["q", "half"], ["y"])]
    inits = [_init("W", (8, 12)), _init("bias", (12,)), c("sqrt2", 2 ** 0.5), c("one", 1.0), c("half", 0.5)]
    proto = make(nodes, [vi("A", [1, 5, 8])], [vi("y", None)], inits)
    opt = _check(proto, {"A": (2 * RNG.standard_normal((1, 5, 8))).astype(np.float32)})
    (f,) = _fused(opt)
    assert f.attr("activation") == "Gelu" and len(list(opt.graph)) == 1


def test_transposed_weight_read_as_transB():
    nodes = [helper.make_node("Transpose", ["Wt"], ["W"], perm=[1, 0]),
             helper.make_node("MatMul", ["A", "W"], ["y"])]
    proto = make(nodes, [vi("A", [2, 3, 4])], [vi("y", None)], [_init("Wt", (6, 4))])
    m = onnxkit.load(proto.SerializeToString())
    opt = optimize(m, "runtime")
    assert_same_as_unoptimized(m, opt, {"A": RNG.standard_normal((2, 3, 4)).astype(np.float32)})
    # straight through the pass alone (constant folding would fold the Transpose first)
    m2 = onnxkit.load(proto.SerializeToString())
    assert FuseMatMulBias()(m2)
    (f,) = _fused(m2)
    assert f.attr("transB") == 1 and count(m2, "Transpose") == 0
    assert_same_as_unoptimized(m, m2, {"A": RNG.standard_normal((2, 3, 4)).astype(np.float32)})


def test_gemm_forms():
    """Gemm (2-D): transB and beta fold in; alpha != 1, transA, a full C are left alone."""
    def gemm(c_shape, **attrs):
        nodes = [helper.make_node("Gemm", ["A", "B", "C"], ["y"], **attrs)]
        b_shape = (5, 4) if attrs.get("transB") else (4, 5)
        return make(nodes, [vi("A", [3, 4])], [vi("y", None)], [_init("B", b_shape), _init("C", c_shape)])
    feeds = {"A": RNG.standard_normal((3, 4)).astype(np.float32)}
    for proto, fused in [(gemm((5,), transB=1), True), (gemm((1, 5), beta=0.5), True), (gemm((5,), alpha=2.0), False),
                         (gemm((3, 5)), False)]:
        opt = _check(proto, feeds)
        assert len(_fused(opt)) == int(fused)
    proto = make([helper.make_node("Gemm", ["A", "B", "C"], ["y"], transA=1)], [vi("A", [4, 3])], [vi("y", None)],
                 [_init("B", (4, 5)), _init("C", (5,))])
    opt = _check(proto, {"A": RNG.standard_normal((4, 3)).astype(np.float32)})
    assert not _fused(opt)


def test_gemm_reshape_gelu():
    """A 2-D product reshaped back to 3-D before its Gelu (GPT-2's MLP): the
    activation moves into the product, the Reshape (and a Shape of it) stay."""
    nodes = [helper.make_node("Reshape", ["A", "flat"], ["a2"]),
             helper.make_node("Gemm", ["a2", "W", "bias"], ["mm"]),
             helper.make_node("Shape", ["A"], ["sa"]),
             helper.make_node("Slice", ["sa", "zero", "two"], ["bs"]),
             helper.make_node("Concat", ["bs", "n"], ["shp"], axis=0),
             helper.make_node("Reshape", ["mm", "shp"], ["r"]),
             helper.make_node("Shape", ["r"], ["rs"]),
             helper.make_node("Gelu", ["r"], ["y"], approximate="tanh")]
    inits = [_init("W", (8, 12)), _init("bias", (12,)),
             numpy_helper.from_array(np.array([-1, 8], np.int64), "flat"),
             numpy_helper.from_array(np.array([0], np.int64), "zero"),
             numpy_helper.from_array(np.array([2], np.int64), "two"),
             numpy_helper.from_array(np.array([12], np.int64), "n")]
    proto = make(nodes, [vi("A", ["b", "s", 8])], [vi("y", None), vi("rs", None, TensorProto.INT64)], inits,
                 opset=20)
    opt = _check(proto, {"A": RNG.standard_normal((2, 3, 8)).astype(np.float32)})
    (f,) = _fused(opt)
    assert f.attr("activation") == "Gelu" and f.attr("approximate") == "tanh" and count(opt, "Gelu") == 0


def test_not_fused_where_meaning_would_change():
    feeds = {"A": RNG.standard_normal((3, 4)).astype(np.float32)}
    # the product is also a graph output: the Add stays
    nodes = [helper.make_node("MatMul", ["A", "W"], ["mm"]), helper.make_node("Add", ["mm", "bias"], ["y"])]
    proto = make(nodes, [vi("A", [2, 3, 4])], [vi("y", None), vi("mm", None)], [_init("W", (4, 5)), _init("bias", (5,))])
    opt = _check(proto, {"A": RNG.standard_normal((2, 3, 4)).astype(np.float32)})
    assert count(opt, "Add") == 1 and len(_fused(opt)) == 1 and len(_fused(opt)[0].inputs) == 2
    # a bias that is not a row of N ([3, 5] per row; [1, 1, 5] grows a 2-D product's rank)
    for bshape in [(3, 5), (1, 1, 5)]:
        proto = _dense((3, 4), 4, 5, bias_shape=bshape)
        opt = _check(proto, feeds)                   # (a [3, 5] C makes a Gemm of the spec instead)
        assert all(len(f.inputs) == 2 for f in _fused(opt))
        alone = onnxkit.load(proto.SerializeToString())
        assert FuseMatMulBias()(alone) and count(alone, "Add") == 1
    # a weight that is a graph input (it can be fed), and an integer product
    proto = make([helper.make_node("MatMul", ["A", "W"], ["y"])], [vi("A", [3, 4]), vi("W", [4, 5])],
                 [vi("y", None)])
    m = onnxkit.load(proto.SerializeToString())
    assert not FuseMatMulBias()(m)
    ints = make([helper.make_node("MatMul", ["A", "W"], ["y"])], [vi("A", [3, 4], TensorProto.INT32)],
                [vi("y", None, TensorProto.INT32)],
                [numpy_helper.from_array(RNG.integers(-5, 5, (4, 5)).astype(np.int32), "W")])
    assert not FuseMatMulBias()(onnxkit.load(ints.SerializeToString()))
    # float16 stays with the spec ops
    half = _dense((3, 4), 4, 5, bias_shape=(5,))
    half.graph.input[0].type.tensor_type.elem_type = TensorProto.FLOAT16
    half.graph.output[0].type.tensor_type.elem_type = TensorProto.FLOAT16
    for t in half.graph.initializer:
        t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16), t.name))
    assert not FuseMatMulBias()(onnxkit.load(half.SerializeToString()))


def test_float64():
    nodes = [helper.make_node("MatMul", ["A", "W"], ["mm"]), helper.make_node("Add", ["mm", "bias"], ["y"])]
    proto = make(nodes, [vi("A", [2, 3, 4], TensorProto.DOUBLE)], [vi("y", None, TensorProto.DOUBLE)],
                 [_init("W", (4, 5), np.float64), _init("bias", (5,), np.float64)])
    opt = _check(proto, {"A": RNG.standard_normal((2, 3, 4))}, rtol=1e-12, atol=1e-12)
    assert len(_fused(opt)) == 1


def _unaligned(values: np.ndarray) -> np.ndarray:
    """``values`` (float32) at an odd address, as a weight memory-mapped at an
    odd file offset is."""
    buf = np.zeros(values.nbytes + 1, np.uint8)
    buf[1:] = values.reshape(-1).view(np.uint8)
    arr = buf[1:].view(np.float32).reshape(values.shape)
    assert not arr.flags.aligned
    return arr


def test_unaligned_shared_weight_copied_once():
    w = _unaligned(RNG.standard_normal((4, 5)).astype(np.float32))
    wv = Value("W", TensorType(DataType.FLOAT, (4, 5)), const_value=Tensor(w, name="W"))
    a = Value("A", TensorType(DataType.FLOAT, (3, 4)))
    n1 = Node("MatMul", [a, wv], [Value("y1", TensorType(DataType.FLOAT, (3, 5)))])
    n2 = Node("MatMul", [a, wv], [Value("y2", TensorType(DataType.FLOAT, (3, 5)))])
    g = Graph([a], [n1.outputs[0], n2.outputs[0]], [n1, n2], initializers=[wv])
    model = Model(g, opset_imports={"": 17})
    feeds = {"A": RNG.standard_normal((3, 4)).astype(np.float32)}
    want = onnxkit.Session(model, optimize="none").run(None, feeds)
    assert FuseMatMulBias()(model)
    f1, f2 = _fused(model)
    assert f1.inputs[1] is f2.inputs[1] is not wv
    arr = f1.inputs[1].const_value.numpy()
    assert arr.flags.aligned and arr.flags.c_contiguous and np.array_equal(arr, w)
    got = onnxkit.Session(model, optimize="none").run(None, feeds)
    for g_, w_ in zip(got, want):
        np.testing.assert_allclose(g_, w_, rtol=1e-6, atol=1e-6)
    assert [o.name for o in model.graph.outputs] == ["y1", "y2"]
