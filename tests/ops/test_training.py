"""Optimizers against onnx.reference (onnxruntime has no preview-training
kernels), several tensors at once and in double; Gradient by finite
differences; output types from the shape rules."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto as TP, helper as h
from onnx.reference import ReferenceEvaluator

import onnxkit
from onnxkit.infer import infer_shapes

DOM = "ai.onnx.preview.training"
RNG = np.random.default_rng(0)


def model(op, names_in, names_out, dtype, **attrs):
    node = h.make_node(op, names_in, names_out, domain=DOM, **attrs)
    ins = [h.make_tensor_value_info(n, TP.INT64 if n == "T" else dtype, None if n in ("R", "T") else [3, 2])
           for n in names_in]
    ins[0] = h.make_tensor_value_info("R", dtype, [])
    ins[1] = h.make_tensor_value_info("T", TP.INT64, [])
    g = h.make_graph([node], "g", ins, [h.make_tensor_value_info(n, dtype, None) for n in names_out])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17), h.make_opsetid(DOM, 1)], ir_version=8)


CASES = {
    "Adagrad": (["X", "G", "H"], ["X_new", "H_new"], dict(decay_factor=0.1, epsilon=1e-5, norm_coefficient=0.01)),
    "Adam": (["X", "G", "V", "H"], ["X_new", "V_new", "H_new"],
             dict(alpha=0.9, beta=0.99, epsilon=1e-5, norm_coefficient=0.01, norm_coefficient_post=0.02)),
    "Momentum": (["X", "G", "V"], ["X_new", "V_new"], dict(alpha=0.9, beta=0.5, mode="nesterov",
                                                          norm_coefficient=0.01)),
}


@pytest.mark.parametrize("op", sorted(CASES))
@pytest.mark.parametrize("dtype", [TP.FLOAT, TP.DOUBLE])
def test_optimizers_two_tensors(op, dtype):
    groups, outs, attrs = CASES[op]
    names_in = ["R", "T"] + [f"{g}{i}" for g in groups for i in (1, 2)]
    names_out = [f"{o}{i}" for o in outs for i in (1, 2)]
    m = model(op, names_in, names_out, dtype, **attrs)
    npdt = np.float32 if dtype == TP.FLOAT else np.float64
    feeds = {n: np.abs(RNG.standard_normal((3, 2))).astype(npdt) for n in names_in[2:]}
    feeds.update(R=np.array(0.1, npdt), T=np.array(3, np.int64))
    want = ReferenceEvaluator(m).run(None, feeds)
    got = onnxkit.Session(m.SerializeToString()).run(None, feeds)
    for w, g in zip(want, got):
        assert g.dtype == npdt and g.shape == (3, 2)
        np.testing.assert_allclose(g, w, rtol=1e-5)
    typed = infer_shapes(onnxkit.load(m.SerializeToString()))
    assert all(str(v.type) == str(typed.graph.inputs[2].type) for v in next(iter(typed.graph)).outputs)


def test_gradient_by_finite_differences():
    nodes = [h.make_node("MatMul", ["a", "b"], ["c"]), h.make_node("Sigmoid", ["c"], ["d"]),
             h.make_node("Mul", ["d", "a2"], ["e"]), h.make_node("Sub", ["e", "b2"], ["y"]),
             h.make_node("Gradient", ["a", "b", "a2", "b2"], ["ga", "gb"], domain=DOM, xs=["a", "b"], zs=["a2", "b2"],
                         y="y")]
    f32 = TP.FLOAT
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("a", f32, [2, 3]), h.make_tensor_value_info("b", f32, [3, 2]),
                                  h.make_tensor_value_info("a2", f32, [1, 2]), h.make_tensor_value_info("b2", f32, [2])],
                     [h.make_tensor_value_info(n, f32, None) for n in ("y", "ga", "gb")])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17), h.make_opsetid(DOM, 1)], ir_version=8)
    feeds = {"a": RNG.standard_normal((2, 3)), "b": RNG.standard_normal((3, 2)), "a2": RNG.standard_normal((1, 2)),
             "b2": RNG.standard_normal(2)}
    feeds = {k: v.astype(np.float64) for k, v in feeds.items()}
    s = onnxkit.Session(m.SerializeToString())
    _, ga, gb = s.run(None, {k: v.astype(np.float32) for k, v in feeds.items()})

    def total(a, b):
        return (1 / (1 + np.exp(-(a @ b))) * feeds["a2"] - feeds["b2"]).sum()
    eps = 1e-6
    for x, gx, which in ((feeds["a"], ga, 0), (feeds["b"], gb, 1)):
        num = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            d = np.zeros_like(x)
            d[idx] = eps
            args = [feeds["a"], feeds["b"]]
            hi, lo = list(args), list(args)
            hi[which], lo[which] = args[which] + d, args[which] - d
            num[idx] = (total(*hi) - total(*lo)) / (2 * eps)
        np.testing.assert_allclose(gx, num, rtol=1e-3, atol=1e-4)
    assert [str(v.type) for v in list(infer_shapes(onnxkit.load(m.SerializeToString())).graph)[-1].outputs] == \
        ["float[2,3]", "float[3,2]"]
