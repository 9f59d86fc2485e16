"""FuseGelu: erf GELU in its orders and the tanh approximation -> Gelu
(standard from opset 20, ai.onnxkit at the runtime level below), equal to the
unoptimized run; left alone with wrong constants or extra readers."""

from __future__ import annotations

import math

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

import onnxkit
from onnxkit.passes import optimize

from ._helpers import assert_same_as_unoptimized, count, make, model_bytes, ort_run, vi

RNG = np.random.default_rng(3)


def _c(name, value):
    return numpy_helper.from_array(np.array(value, np.float32), name)


def _tail(e: str, order: str) -> tuple[list, str]:
    """x * e * 0.5 in three orders."""
    if order == "x-first":         # (x * e) * 0.5
        return [helper.make_node("Mul", ["x", e], ["t"]), helper.make_node("Mul", ["t", "half"], ["y"])], "y"
    if order == "half-first":      # (0.5 * e) * x
        return [helper.make_node("Mul", ["half", e], ["t"]), helper.make_node("Mul", ["x", "t"], ["y"])], "y"
    # (x * 0.5) * e
    return [helper.make_node("Mul", ["x", "half"], ["h"]), helper.make_node("Mul", ["h", e], ["y"])], "y"


def _erf(order="x-first", div=True, opset=20, sqrt2=math.sqrt(2), extra=None):
    inits = [_c("half", 0.5), _c("one", 1.0)]
    if div:
        inits.append(_c("s", sqrt2))
        nodes = [helper.make_node("Div", ["x", "s"], ["u"])]
    else:
        inits.append(_c("s", 1 / sqrt2))
        nodes = [helper.make_node("Mul", ["s", "x"], ["u"])]
    nodes += [helper.make_node("Erf", ["u"], ["e"]), helper.make_node("Add", ["one", "e"], ["e1"])]
    tail, out = _tail("e1", order)
    outputs = [vi(out, None)] + ([vi(extra, None)] if extra else [])
    return make(nodes + tail, [vi("x", [2, 16])], outputs, inits, opset=opset)


def _tanh(order="x-half", cube="pow", opset=20):
    inits = [_c("half", 0.5), _c("one", 1.0), _c("k", 0.044715), _c("c", math.sqrt(2 / math.pi))]
    if cube == "pow":
        inits.append(_c("three", 3.0))
        nodes = [helper.make_node("Pow", ["x", "three"], ["x3"])]
    else:
        nodes = [helper.make_node("Mul", ["x", "x"], ["x2"]), helper.make_node("Mul", ["x2", "x"], ["x3"])]
    nodes += [helper.make_node("Mul", ["k", "x3"], ["kx3"]), helper.make_node("Add", ["x", "kx3"], ["inner"]),
              helper.make_node("Mul", ["c", "inner"], ["w"]), helper.make_node("Tanh", ["w"], ["t0"]),
              helper.make_node("Add", ["t0", "one"], ["e1"])]
    tail, out = _tail("e1", order)
    return make(nodes + tail, [vi("x", [2, 16])], [vi(out, None)], inits, opset=opset)


def _feeds():
    return {"x": (RNG.standard_normal((2, 16)) * 3).astype(np.float32)}


def _check(proto, approximate, domain="", level="extended"):
    m = onnxkit.load(proto.SerializeToString())
    opt = optimize(m, level)
    assert count(opt, "Gelu", domain) == 1 and len(list(opt.graph)) == 1, [n.op_type for n in opt.graph]
    assert next(iter(opt.graph)).attr("approximate", "none") == approximate
    feeds = _feeds()
    assert_same_as_unoptimized(m, opt, feeds, rtol=1e-5, atol=1e-5)
    return opt, feeds


@pytest.mark.parametrize("order", ["x-first", "half-first", "x-half"])
@pytest.mark.parametrize("div", [True, False], ids=["div-sqrt2", "mul-inv-sqrt2"])
def test_erf_fused(order, div):
    proto = _erf(order, div)
    opt, feeds = _check(proto, "none")
    onnx.checker.check_model(onnx.load_from_string(model_bytes(opt)), full_check=True)
    for g, w in zip(ort_run(model_bytes(opt), feeds), ort_run(proto, feeds)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def test_erf_rounded_constant():
    _check(_erf(sqrt2=1.41421), "none")


@pytest.mark.parametrize("order", ["x-first", "half-first", "x-half"])
@pytest.mark.parametrize("cube", ["pow", "mul"])
def test_tanh_fused(order, cube):
    proto = _tanh(order, cube)
    opt, feeds = _check(proto, "tanh")
    for g, w in zip(ort_run(model_bytes(opt), feeds), ort_run(proto, feeds)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def test_old_opset():
    proto = _erf(opset=17)
    m = onnxkit.load(proto.SerializeToString())
    assert count(optimize(m, "extended"), "Gelu") == 0          # Gelu is opset 20
    opt, _ = _check(proto, "none", domain="ai.onnxkit", level="runtime")
    assert opt.opset_imports["ai.onnxkit"] == 1
    _check(_tanh(opset=13), "tanh", domain="ai.onnxkit", level="runtime")


@pytest.mark.parametrize("proto", [
    _erf(sqrt2=2.0),                                   # not sqrt(2)
    _erf(extra="e"),                                   # Erf read outside the pattern
    _erf(extra="u"),
    _erf(order="x-half", extra="h"),
], ids=["wrong-constant", "erf-is-output", "scaled-is-output", "half-x-is-output"])
def test_left_alone(proto):
    m = onnxkit.load(proto.SerializeToString())
    opt = optimize(m, "extended")
    assert count(opt, "Gelu") == 0 and count(opt, "Erf") == 1
    assert_same_as_unoptimized(m, opt, _feeds())
