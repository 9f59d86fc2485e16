"""passes/nhwc.py: Conv chains rewritten to ai.onnxkit NhwcConv / NhwcMaxPool.

Each model runs three ways on random data: optimized at the runtime level,
as written (``optimize="none"``) and in onnxruntime; the results must agree,
and the graph must hold the ops the rewrite promises (fusions done, transposes
only at the chain's entry and exits)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper as oh, numpy_helper
from onnx.reference import ReferenceEvaluator

import onnxkit
from onnxkit.passes import optimize

rng = np.random.default_rng(1)
F = TensorProto.FLOAT


def _w(*shape, dtype=np.float32):
    return (rng.standard_normal(shape) * 0.3).astype(dtype)


def _conv(name, x, y, w, b=None, **attrs):
    inits = [numpy_helper.from_array(w, f"{name}_w")]
    ins = [x, f"{name}_w"]
    if b is not None:
        inits.append(numpy_helper.from_array(b, f"{name}_b"))
        ins.append(f"{name}_b")
    return oh.make_node("Conv", ins, [y], name=name, **attrs), inits


def _model(nodes, inits, x_shape, outputs=("y",), opset=17, elem=F, extra_inputs=()):
    g = oh.make_graph(nodes, "g", [oh.make_tensor_value_info("x", elem, x_shape), *extra_inputs],
                      [oh.make_tensor_value_info(o, elem, None) for o in outputs], inits)
    m = oh.make_model(g, opset_imports=[oh.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def _check(m, feeds, *, tol=1e-4, oracle="onnxruntime"):
    """Optimized == as written == the oracle (onnxruntime, or onnx.reference for
    what onnxruntime lacks); returns the optimized graph's op counts."""
    data = m.SerializeToString()
    fast = onnxkit.Session(data).run(None, feeds)
    slow = onnxkit.Session(data, optimize="none").run(None, feeds)
    if oracle == "onnxruntime":
        ref = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feeds)
    else:
        ref = ReferenceEvaluator(m).run(None, feeds)
    for a, b, c in zip(fast, slow, ref):
        assert a.shape == c.shape and a.dtype == c.dtype
        np.testing.assert_allclose(a, c, rtol=tol, atol=tol)
        np.testing.assert_allclose(b, c, rtol=tol, atol=tol)
    opt = optimize(onnxkit.load(data), "runtime")
    return Counter(n.op_type for n in opt.graph)


def _bottleneck(x, out, c, mid, name, downsample=False, stride=1):
    """A ResNet bottleneck; the projection comes after the main branch in node
    order, as torch exports it."""
    nodes, inits = [], []
    for i, (src, dst, k, cin, cout, s) in enumerate([(x, f"{name}_a", 1, c, mid, 1),
                                                      (f"{name}_ar", f"{name}_b", 3, mid, mid, stride),
                                                      (f"{name}_br", f"{name}_c", 1, mid, 4 * mid, 1)]):
        n, ini = _conv(f"{name}_conv{i}", src, dst, _w(cout, cin, k, k), _w(cout), pads=[k // 2] * 4,
                       strides=[s, s])
        nodes.append(n)
        inits += ini
        if i < 2:
            nodes.append(oh.make_node("Relu", [dst], [dst + "r"]))
    skip = x
    if downsample:
        n, ini = _conv(f"{name}_down", x, f"{name}_d", _w(4 * mid, c, 1, 1), _w(4 * mid), strides=[stride, stride])
        nodes.append(n)
        inits += ini
        skip = f"{name}_d"
    nodes += [oh.make_node("Add", [f"{name}_c", skip], [f"{name}_sum"]),
              oh.make_node("Relu", [f"{name}_sum"], [out])]
    return nodes, inits


@pytest.mark.parametrize("batch", [1, 3])
def test_resnet_like_chain_stays_nhwc(batch):
    stem, inits = _conv("stem", "x", "s", _w(16, 3, 7, 7), _w(16), pads=[3] * 4, strides=[2, 2])
    nodes = [stem, oh.make_node("Relu", ["s"], ["sr"]),
             oh.make_node("MaxPool", ["sr"], ["p"], kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4)]
    for name, src, dst, c, ds, st in [("b1", "p", "o1", 16, True, 1), ("b2", "o1", "o2", 32, False, 1),
                                      ("b3", "o2", "o3", 32, True, 2)]:
        n, i = _bottleneck(src, dst, c, 8, name, downsample=ds, stride=st)
        nodes += n
        inits += i
    nodes += [oh.make_node("GlobalAveragePool", ["o3"], ["g"]), oh.make_node("Flatten", ["g"], ["y"])]
    m = _model(nodes, inits, [batch, 3, 32, 32])
    ops = _check(m, {"x": rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)})
    assert ops["NhwcConv"] == 12 and ops["NhwcMaxPool"] == 1
    assert ops["Transpose"] == 2                      # one entry, one exit
    assert "Relu" not in ops and "Add" not in ops and "Conv" not in ops


def test_mobilenet_like_depthwise_clip_and_linear_residual():
    nodes, inits = [], []
    specs = [("e", "x", "e", _w(24, 8, 1, 1), {}), ("d", "e6", "d", _w(24, 1, 3, 3), dict(group=24, pads=[1] * 4)),
             ("p", "d6", "p", _w(8, 24, 1, 1), {})]
    for name, src, dst, w, attrs in specs:
        n, i = _conv(name, src, dst, w, _w(w.shape[0]), **attrs)
        nodes.append(n)
        inits += i
        if name != "p":
            nodes.append(oh.make_node("Clip", [dst, "lo", "hi"], [dst + "6"]))
    inits += [numpy_helper.from_array(np.array(0, np.float32), "lo"), numpy_helper.from_array(np.array(6, np.float32), "hi")]
    nodes.append(oh.make_node("Add", ["x", "p"], ["y"]))
    m = _model(nodes, inits, [2, 8, 9, 9])
    ops = _check(m, {"x": rng.standard_normal((2, 8, 9, 9)).astype(np.float32)})
    assert ops["NhwcConv"] == 3 and "Clip" not in ops and "Add" not in ops


@pytest.mark.parametrize("act,attrs", [("LeakyRelu", dict(alpha=0.2)), ("Sigmoid", {}), ("HardSwish", {}),
                                       ("HardSigmoid", dict(alpha=0.3, beta=0.4))])
def test_other_activations_fused(act, attrs):
    n, inits = _conv("c", "x", "c", _w(5, 4, 3, 3), _w(5), pads=[1] * 4)
    m = _model([n, oh.make_node(act, ["c"], ["y"], **attrs)], inits, [1, 4, 6, 6], opset=17)
    ops = _check(m, {"x": rng.standard_normal((1, 4, 6, 6)).astype(np.float32)})
    assert ops["NhwcConv"] == 1 and act not in ops


def test_old_clip_attributes_fused():
    n, inits = _conv("c", "x", "c", _w(5, 4, 3, 3), pads=[1] * 4)
    m = _model([n, oh.make_node("Clip", ["c"], ["y"], min=-0.5, max=0.25)], inits, [1, 4, 6, 6], opset=10)
    ops = _check(m, {"x": rng.standard_normal((1, 4, 6, 6)).astype(np.float32)})
    assert ops["NhwcConv"] == 1 and "Clip" not in ops


def test_intermediate_outputs_and_shared_readers_keep_their_values():
    """A conv output that is a graph output, and one read twice, are not fused
    away: their NCHW values stay exactly as written."""
    n1, i1 = _conv("c1", "x", "c1", _w(6, 4, 3, 3), _w(6), pads=[1] * 4)
    n2, i2 = _conv("c2", "c1r", "c2", _w(6, 6, 1, 1))
    nodes = [n1, oh.make_node("Relu", ["c1"], ["c1r"]), n2,
             oh.make_node("Relu", ["c2"], ["y"]), oh.make_node("Sigmoid", ["c2"], ["z"])]
    m = _model(nodes, i1 + i2, [2, 4, 5, 5], outputs=("y", "z", "c1r"))
    ops = _check(m, {"x": rng.standard_normal((2, 4, 5, 5)).astype(np.float32)})
    assert ops["NhwcConv"] == 2 and ops["Relu"] == 1 and ops["Sigmoid"] == 1


def test_float64():
    n, inits = _conv("c", "x", "c", _w(5, 4, 3, 3, dtype=np.float64), _w(5, dtype=np.float64),
                     pads=[1] * 4, strides=[2, 2])
    m = _model([n, oh.make_node("Relu", ["c"], ["y"])], inits, [2, 4, 7, 7], elem=TensorProto.DOUBLE)
    ops = _check(m, {"x": rng.standard_normal((2, 4, 7, 7))}, tol=1e-10, oracle="reference")
    assert ops["NhwcConv"] == 1


def test_left_alone():
    """1-D convs, fed weights, and MaxPool with Indices keep the standard ops."""
    n1, i1 = _conv("c1", "x", "c1", _w(4, 3, 3))
    m = _model([n1, oh.make_node("Relu", ["c1"], ["y"])], i1, [1, 3, 8])
    ops = _check(m, {"x": rng.standard_normal((1, 3, 8)).astype(np.float32)})
    assert "NhwcConv" not in ops

    fed = oh.make_tensor_value_info("w", F, [4, 3, 3, 3])
    m = _model([oh.make_node("Conv", ["x", "w"], ["y"])], [], [1, 3, 6, 6], extra_inputs=[fed])
    ops = _check(m, {"x": rng.standard_normal((1, 3, 6, 6)).astype(np.float32), "w": _w(4, 3, 3, 3)})
    assert "NhwcConv" not in ops

    n1, i1 = _conv("c1", "x", "c1", _w(4, 3, 3, 3))
    m = _model([n1, oh.make_node("MaxPool", ["c1"], ["y", "idx"], kernel_shape=[2, 2])], i1, [1, 3, 8, 8],
               outputs=("y",))
    m.graph.output.append(oh.make_tensor_value_info("idx", TensorProto.INT64, None))
    ops = _check(m, {"x": rng.standard_normal((1, 3, 8, 8)).astype(np.float32)})
    assert ops["NhwcConv"] == 1 and ops["MaxPool"] == 1


def test_idempotent():
    n, inits = _bottleneck("x", "y", 16, 4, "b", downsample=True, stride=2)
    m = onnxkit.load(_model(n, inits, [1, 16, 8, 8]).SerializeToString())
    once = optimize(m, "runtime")
    twice = optimize(once, "runtime")
    assert Counter(n.op_type for n in once.graph) == Counter(n.op_type for n in twice.graph)
