"""FuseLayerNorm: the decomposed layer normalization -> LayerNormalization
(standard from opset 17, ai.onnxkit at the runtime level below), equal to the
unoptimized run; left alone on the wrong axis, extra readers, graph outputs
in the middle."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

import onnxkit
from onnxkit.passes import optimize

from ._helpers import assert_same_as_unoptimized, count, make, model_bytes, ort_run, vi

RNG = np.random.default_rng(2)
H = 8


def _ln(opset=17, axes=(-1,), square="pow", inv="div", gamma=True, beta=True, eps=1e-5,
        extra_output=None, gamma_shape=(H,)):
    inits = [numpy_helper.from_array(np.array(eps, np.float32), "eps")]
    nodes = []

    def mean(src, dst):
        if opset >= 18:
            if "axes" not in [i.name for i in inits]:
                inits.append(numpy_helper.from_array(np.array(axes, np.int64), "axes"))
            nodes.append(helper.make_node("ReduceMean", [src, "axes"], [dst]))
        else:
            nodes.append(helper.make_node("ReduceMean", [src], [dst], axes=list(axes)))

    mean("x", "mu")
    nodes.append(helper.make_node("Sub", ["x", "mu"], ["d"]))
    if square == "pow":
        inits.append(numpy_helper.from_array(np.array(2.0, np.float32), "two"))
        nodes.append(helper.make_node("Pow", ["d", "two"], ["sq"]))
    else:
        nodes.append(helper.make_node("Mul", ["d", "d"], ["sq"]))
    mean("sq", "var")
    nodes.append(helper.make_node("Add", ["var", "eps"], ["ve"]))
    nodes.append(helper.make_node("Sqrt", ["ve"], ["sd"]))
    if inv == "div":
        nodes.append(helper.make_node("Div", ["d", "sd"], ["n"]))
    else:
        nodes.append(helper.make_node("Reciprocal", ["sd"], ["r"]))
        nodes.append(helper.make_node("Mul", ["d", "r"], ["n"]))
    out = "n"
    if gamma:
        inits.append(numpy_helper.from_array(RNG.uniform(0.5, 1.5, gamma_shape).astype(np.float32), "gamma"))
        nodes.append(helper.make_node("Mul", ["gamma", out], ["g"]))
        out = "g"
    if beta:
        inits.append(numpy_helper.from_array(RNG.uniform(-0.5, 0.5, (H,)).astype(np.float32), "beta"))
        nodes.append(helper.make_node("Add", [out, "beta"], ["y"]))
        out = "y"
    outputs = [vi(out, None)] + ([vi(extra_output, None)] if extra_output else [])
    return make(nodes, [vi("x", [2, 3, H])], outputs, inits, opset=opset)


def _feeds():
    return {"x": (RNG.standard_normal((2, 3, H)) * 3 + 1).astype(np.float32)}


@pytest.mark.parametrize("kw", [dict(), dict(opset=18), dict(square="mul"), dict(inv="reciprocal"),
                                dict(gamma=False), dict(beta=False), dict(gamma=False, beta=False),
                                dict(axes=(2,)), dict(eps=1e-3), dict(gamma_shape=(1, 1, H))],
                         ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "plain")
def test_fused(kw):
    proto = _ln(**kw)
    m = onnxkit.load(proto.SerializeToString())
    opt = optimize(m, "extended")
    assert count(opt, "LayerNormalization", "") == 1, [n.op_type for n in opt.graph]
    assert count(opt, "ReduceMean") == 0 and count(opt, "Sqrt") == 0
    ln = next(n for n in opt.graph if n.op_type == "LayerNormalization")
    assert ln.attr("axis") == -1 and ln.attr("epsilon") == pytest.approx(kw.get("eps", 1e-5))
    feeds = _feeds()
    assert_same_as_unoptimized(m, opt, feeds, rtol=1e-5, atol=1e-5)
    onnx.checker.check_model(onnx.load_from_string(model_bytes(opt)), full_check=True)
    for g, w in zip(ort_run(model_bytes(opt), feeds), ort_run(proto, feeds)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def test_two_trailing_axes():
    proto = _ln(axes=(-2, -1), gamma=False, beta=False)
    m = onnxkit.load(proto.SerializeToString())
    opt = optimize(m, "extended")
    ln = next(n for n in opt.graph if n.op_type == "LayerNormalization")
    assert ln.attr("axis") == -2
    assert_same_as_unoptimized(m, opt, _feeds(), rtol=1e-5, atol=1e-5)


def test_old_opset_runtime_domain():
    proto = _ln(opset=13)
    m = onnxkit.load(proto.SerializeToString())
    assert count(optimize(m, "extended"), "LayerNormalization") == 0     # not in opset 13
    opt = optimize(m, "runtime")
    assert count(opt, "LayerNormalization", "ai.onnxkit") == 1
    assert opt.opset_imports.get("ai.onnxkit") == 1
    assert_same_as_unoptimized(m, opt, _feeds(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kw", [dict(axes=(1,)), dict(axes=(0,)), dict(extra_output="d"),
                                dict(extra_output="sd"), dict(extra_output="mu")],
                         ids=["middle-axis", "first-axis", "sub-is-output", "sqrt-is-output", "mean-is-output"])
def test_left_alone(kw):
    proto = _ln(**kw)
    m = onnxkit.load(proto.SerializeToString())
    opt = optimize(m, "extended")
    assert count(opt, "LayerNormalization") == 0
    assert_same_as_unoptimized(m, opt, _feeds())


def test_extra_reader_of_an_intermediate_left_alone():
    proto = _ln()
    proto.graph.node.append(helper.make_node("Relu", ["var"], ["rv"]))
    proto.graph.output.append(vi("rv", None))
    m = onnxkit.load(proto.SerializeToString())
    opt = optimize(m, "extended")
    assert count(opt, "LayerNormalization") == 0
    assert_same_as_unoptimized(m, opt, _feeds())


def test_gamma_varying_along_other_axes_left_alone():
    proto = _ln(gamma_shape=(3, H))
    m = onnxkit.load(proto.SerializeToString())
    opt = optimize(m, "extended")
    assert count(opt, "LayerNormalization") == 0
    assert_same_as_unoptimized(m, opt, _feeds())
