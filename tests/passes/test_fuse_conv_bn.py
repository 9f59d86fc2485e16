"""FuseConvBatchNorm: Conv + inference BatchNormalization -> one Conv, proven
against the unoptimized run and onnxruntime on odd cases (groups, depthwise,
no bias, 1-D and 3-D, epsilons, shared filters), and left alone where the
BatchNormalization is not a fixed affine map of the Conv alone."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import onnxkit
from onnxkit.passes import optimize

from ._helpers import assert_same_as_unoptimized, count, model_bytes, ort_run

RNG = np.random.default_rng(0)


def _model(spatial=(6, 6), cin=4, cout=6, group=1, bias=True, eps=1e-5, kernel=3, shared=False,
           bn_const=True, extra_reader=False, training_outputs=False, dtype=np.float32, opset=17):
    k = (kernel,) * len(spatial)
    w = RNG.standard_normal((cout, cin // group) + k).astype(dtype)
    inits = [numpy_helper.from_array(w, "W")]
    conv_in = ["X", "W"]
    if bias:
        inits.append(numpy_helper.from_array(RNG.standard_normal(cout).astype(dtype), "B"))
        conv_in.append("B")
    params = {"scale": RNG.uniform(0.5, 1.5, cout), "bias": RNG.uniform(-0.3, 0.3, cout),
              "mean": RNG.uniform(-0.5, 0.5, cout), "var": RNG.uniform(0.1, 2.0, cout)}
    inputs = [helper.make_tensor_value_info("X", _tt(dtype), [2, cin, *spatial])]
    for name, a in params.items():
        if bn_const or name != "mean":
            inits.append(numpy_helper.from_array(a.astype(dtype), name))
        else:
            inputs.append(helper.make_tensor_value_info(name, _tt(dtype), [cout]))
    pads = [1 if kernel == 3 else 0] * (2 * len(spatial))
    nodes = [helper.make_node("Conv", conv_in, ["c"], group=group, pads=pads, name="conv"),
             helper.make_node("BatchNormalization", ["c", "scale", "bias", "mean", "var"],
                              ["y"] + (["rm", "rv"] if training_outputs else []), epsilon=eps, name="bn")]
    outputs = [helper.make_tensor_value_info("y", _tt(dtype), None)]
    if shared:      # a second Conv reads the same filter (and no BatchNormalization)
        nodes.append(helper.make_node("Conv", conv_in, ["c2"], group=group, name="conv2"))
        outputs.append(helper.make_tensor_value_info("c2", _tt(dtype), None))
    if extra_reader:
        nodes.append(helper.make_node("Relu", ["c"], ["r"]))
        outputs.append(helper.make_tensor_value_info("r", _tt(dtype), None))
    if training_outputs:
        outputs += [helper.make_tensor_value_info("rm", _tt(dtype), None),
                    helper.make_tensor_value_info("rv", _tt(dtype), None)]
    g = helper.make_graph(nodes, "g", inputs, outputs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def _tt(dtype):
    return {np.float32: TensorProto.FLOAT, np.float64: TensorProto.DOUBLE,
            np.float16: TensorProto.FLOAT16}[dtype]


def _feeds(m):
    t = m.graph.input[0].type.tensor_type
    shape = [d.dim_value for d in t.shape.dim]
    dt = {TensorProto.FLOAT: np.float32, TensorProto.DOUBLE: np.float64, TensorProto.FLOAT16: np.float16}[t.elem_type]
    return {"X": RNG.standard_normal(shape).astype(dt)}


@pytest.mark.parametrize("kw", [
    dict(),
    dict(bias=False),
    dict(group=2),
    dict(cin=6, cout=6, group=6),                        # depthwise
    dict(cin=4, cout=8, group=4),                        # depthwise with a multiplier
    dict(spatial=(9,)),                                  # 1-D
    dict(spatial=(4, 5, 3), kernel=1),                   # 3-D, 1x1x1
    dict(eps=1e-3),
    dict(eps=0.5),
    dict(eps=1e-12, bias=False),
    dict(dtype=np.float64),
    dict(opset=9),
    dict(opset=15),
], ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "plain")
def test_fused_and_equal(kw):
    proto = _model(**kw)
    m = onnxkit.load(proto.SerializeToString())
    opt = optimize(m, "extended")
    assert count(opt, "BatchNormalization") == 0 and count(opt, "Conv") == 1
    feeds = _feeds(proto)
    assert_same_as_unoptimized(m, opt, feeds, rtol=1e-5, atol=1e-5)
    if kw.get("dtype") is np.float64:
        return              # onnxruntime has no double Conv
    # onnxruntime agrees on the saved optimized model
    want = ort_run(proto, feeds)
    got = ort_run(model_bytes(opt), feeds)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def test_float16_weights_rounded_once():
    proto = _model(dtype=np.float16)
    m = onnxkit.load(proto.SerializeToString())
    opt = optimize(m, "extended")
    assert count(opt, "BatchNormalization") == 0
    conv = next(n for n in opt.graph if n.op_type == "Conv")
    assert conv.inputs[1].const_value.numpy().dtype == np.float16
    assert_same_as_unoptimized(m, opt, _feeds(proto), rtol=2e-2, atol=2e-2)


def test_shared_filter_not_changed_in_place():
    proto = _model(shared=True)
    m = onnxkit.load(proto.SerializeToString())
    w_before = m.graph.initializers["W"].const_value.numpy().copy()
    opt = optimize(m, "extended")
    assert count(opt, "BatchNormalization") == 0
    convs = {n.name: n for n in opt.graph if n.op_type == "Conv"}
    assert convs["conv2"].inputs[1].name == "W"                 # the other reader keeps W
    assert convs["conv"].inputs[1].name != "W"                  # the fused one has its own
    np.testing.assert_array_equal(opt.graph.initializers["W"].const_value.numpy(), w_before)
    np.testing.assert_array_equal(m.graph.initializers["W"].const_value.numpy(), w_before)
    assert_same_as_unoptimized(m, opt, _feeds(proto), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kw", [dict(bn_const=False), dict(extra_reader=True)],
                         ids=["bn-param-is-input", "conv-output-read-elsewhere"])
def test_left_alone(kw):
    proto = _model(**kw)
    m = onnxkit.load(proto.SerializeToString())
    opt = optimize(m, "extended")
    assert count(opt, "BatchNormalization") == 1
    feeds = _feeds(proto)
    if not kw.get("bn_const", True):
        feeds["mean"] = RNG.uniform(-0.5, 0.5, 6).astype(np.float32)
    assert_same_as_unoptimized(m, opt, feeds)


def test_training_mode_left_alone():
    proto = _model()
    bn = proto.graph.node[1]
    bn.attribute.append(helper.make_attribute("training_mode", 1))
    m = onnxkit.load(proto.SerializeToString())
    opt = optimize(m, "extended")
    assert count(opt, "BatchNormalization") == 1


def test_overridable_weight_left_alone():
    """A W that is also a graph input (an initializer that can be fed) is not a constant."""
    proto = _model()
    proto.graph.input.append(helper.make_tensor_value_info("W", TensorProto.FLOAT, [6, 4, 3, 3]))
    m = onnxkit.load(proto.SerializeToString())
    assert count(optimize(m, "extended"), "BatchNormalization") == 1


def test_graph_output_conv_left_alone():
    proto = _model()
    proto.graph.output.append(helper.make_tensor_value_info("c", TensorProto.FLOAT, None))
    m = onnxkit.load(proto.SerializeToString())
    opt = optimize(m, "extended")
    assert count(opt, "BatchNormalization") == 1
    assert_same_as_unoptimized(m, opt, _feeds(proto))


def test_bn_output_is_graph_output_keeps_name():
    proto = _model()
    m = onnxkit.load(proto.SerializeToString())
    opt = optimize(m, "extended")
    assert [v.name for v in opt.graph.outputs] == ["y"]
    onnxkit.infer_shapes(opt)      # the model declares 'y' without a shape, which full_check refuses
    onnx.checker.check_model(onnx.load_from_string(model_bytes(opt)), full_check=True)
