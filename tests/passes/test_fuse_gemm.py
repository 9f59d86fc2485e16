"""FuseMatMulAdd: MatMul + Add -> Gemm only where Gemm means the same thing."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import onnxkit
from onnxkit.passes import optimize

from ._helpers import assert_same_as_unoptimized, count, make, model_bytes, ort_run, vi

RNG = np.random.default_rng(1)


# ----------------------------------------------------------------- the tests
def _mm_add(a_shape, b_shape, c_shape, swap=False, opset=17, dtype=np.float32, extra=False, a_known=True):
    t = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    b = numpy_helper.from_array(RNG.standard_normal(b_shape).astype(dtype), "B")
    c = numpy_helper.from_array(RNG.standard_normal(c_shape).astype(dtype), "C")
    add_in = ["C", "mm"] if swap else ["mm", "C"]
    nodes = [helper.make_node("MatMul", ["A", "B"], ["mm"]), helper.make_node("Add", add_in, ["y"])]
    outputs = [vi("y", None, t)]
    if extra:
        nodes.append(helper.make_node("Relu", ["mm"], ["r"]))
        outputs.append(vi("r", None, t))
    return make(nodes, [vi("A", a_shape if a_known else None, t)], outputs, [b, c], opset=opset)


@pytest.mark.parametrize("c_shape,swap", [((5,), False), ((5,), True), ((1, 5), False), ((3, 5), False),
                                          ((3, 1), False), ((), True), ((1,), False)])
def test_fused(c_shape, swap):
    proto = _mm_add((3, 4), (4, 5), c_shape, swap=swap)
    m = onnxkit.load(proto.SerializeToString())
    opt = optimize(m, "extended")
    assert count(opt, "Gemm") == 1 and count(opt, "MatMul") == 0 and count(opt, "Add") == 0
    feeds = {"A": RNG.standard_normal((3, 4)).astype(np.float32)}
    assert_same_as_unoptimized(m, opt, feeds, rtol=1e-5, atol=1e-5)
    onnx.checker.check_model(onnx.load_from_string(model_bytes(opt)), full_check=True)
    for g, w in zip(ort_run(model_bytes(opt), feeds), ort_run(proto, feeds)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def test_symbolic_m():
    proto = _mm_add(("batch", 4), (4, 5), (5,))
    m = onnxkit.load(proto.SerializeToString())
    opt = optimize(m, "extended")
    assert count(opt, "Gemm") == 1
    assert_same_as_unoptimized(m, opt, {"A": RNG.standard_normal((7, 4)).astype(np.float32)}, rtol=1e-5)


@pytest.mark.parametrize("kw", [
    dict(a_shape=(2, 3, 4), b_shape=(4, 5), c_shape=(5,)),          # batched MatMul
    dict(a_shape=(3, 4), b_shape=(4, 5), c_shape=(2, 3, 5)),        # C would grow the result
    dict(a_shape=(3, 4), b_shape=(4, 1), c_shape=(3, 5)),           # C broadcasts (M, N) up
    dict(a_shape=(3, 4), b_shape=(4, 5), c_shape=(5,), extra=True),  # MatMul read elsewhere
    dict(a_shape=(3, 4), b_shape=(4, 5), c_shape=(5,), dtype=np.int32),
    dict(a_shape=(3, 4), b_shape=(4, 5), c_shape=(5,), a_known=False),  # rank of A unknown
], ids=["batched", "c-grows", "c-wider", "extra-reader", "int32", "rank-unknown"])
def test_left_alone(kw):
    proto = _mm_add(**kw)
    m = onnxkit.load(proto.SerializeToString())
    opt = optimize(m, "extended")
    assert count(opt, "Gemm") == 0 and count(opt, "MatMul") == 1
    dt = np.int32 if kw.get("dtype") is np.int32 else np.float32
    a = (RNG.standard_normal(kw["a_shape"]) * 3).astype(dt)
    assert_same_as_unoptimized(m, opt, {"A": a})


def test_bfloat16_needs_opset_13():
    proto = _mm_add((3, 4), (4, 5), (5,), opset=11)
    proto.graph.initializer[0].CopyFrom(helper.make_tensor("B", TensorProto.BFLOAT16, [4, 5], [0] * 20))
    proto.graph.initializer[1].CopyFrom(helper.make_tensor("C", TensorProto.BFLOAT16, [5], [0] * 5))
    proto.graph.input[0].type.tensor_type.elem_type = TensorProto.BFLOAT16
    m = onnxkit.load(proto.SerializeToString())
    assert count(optimize(m, "extended"), "Gemm") == 0
    proto.opset_import[0].version = 13
    m = onnxkit.load(proto.SerializeToString())
    assert count(optimize(m, "extended"), "Gemm") == 1


def test_graph_output_in_the_middle_left_alone():
    proto = _mm_add((3, 4), (4, 5), (5,))
    proto.graph.output.append(vi("mm", None))
    m = onnxkit.load(proto.SerializeToString())
    opt = optimize(m, "extended")
    assert count(opt, "Gemm") == 0
    assert_same_as_unoptimized(m, opt, {"A": RNG.standard_normal((3, 4)).astype(np.float32)})
