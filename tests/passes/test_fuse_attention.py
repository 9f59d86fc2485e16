"""FuseAttention: scaled dot-product attention as the exporters write it ->
Attention (standard from opset 23, ai.onnxkit at the runtime level below),
equal to the unoptimized run, fully masked rows included; left alone where
Attention would mean something else."""

from __future__ import annotations

import math

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import onnxkit
from onnxkit.passes import optimize

from ._helpers import assert_same_as_unoptimized, count, make, model_bytes, ort_run, vi

RNG = np.random.default_rng(4)
B, NH, S, D = 2, 3, 5, 4


def _c(name, value, dtype=np.float32):
    return numpy_helper.from_array(np.array(value, dtype), name)


def _attention(scale_style="split", k_layout="bshd", mask="where", guard="isnan", opset=23,
               axis=-1, extra=None, mask_shape=(B, 1, 1, S)):
    """Q [B,H,S,D]; K as [B,S,H,D] (transposed by perm 0,2,3,1) or [B,H,S,D]
    (perm 0,1,3,2); V [B,H,S,D]."""
    inits, nodes = [], []
    inputs = [vi("q", [B, NH, S, D]), vi("k", [B, S, NH, D] if k_layout == "bshd" else [B, NH, S, D]),
              vi("v", [B, NH, S, D])]
    nodes.append(helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 3, 1] if k_layout == "bshd" else [0, 1, 3, 2]))
    if scale_style == "split":
        inits.append(_c("rs", 1 / math.sqrt(math.sqrt(D))))
        nodes += [helper.make_node("Mul", ["q", "rs"], ["qs"]), helper.make_node("Mul", ["kt", "rs"], ["kts"]),
                  helper.make_node("MatMul", ["qs", "kts"], ["scores"])]
    else:
        inits.append(_c("c", math.sqrt(D)))
        nodes += [helper.make_node("MatMul", ["q", "kt"], ["raw"]),
                  helper.make_node("Div", ["raw", "c"], ["scores"])]
    s_in = "scores"
    if mask == "where":
        inputs.append(vi("keep", list(mask_shape), TensorProto.BOOL))
        inits += [_c("zero", 0.0), _c("ninf", -np.inf)]
        nodes += [helper.make_node("Where", ["keep", "zero", "ninf"], ["m"]),
                  helper.make_node("Add", ["scores", "m"], ["masked"])]
        s_in = "masked"
    elif mask == "finite":
        inits.append(_c("mconst", RNG.uniform(-2, 0, mask_shape).astype(np.float32)))
        nodes.append(helper.make_node("Add", ["mconst", "scores"], ["masked"]))
        s_in = "masked"
    nodes.append(helper.make_node("Softmax", [s_in], ["p"], axis=axis))
    probs = "p"
    if guard == "isnan":
        inits.append(_c("z", 0.0))
        nodes += [helper.make_node("IsNaN", ["p"], ["nan"]), helper.make_node("Where", ["nan", "z", "p"], ["pg"])]
        probs = "pg"
    elif guard == "reducemax":
        inits += [_c("z", 0.0), _c("ninf2", -np.inf), _c("ax", [-1], np.int64)]
        nodes += [helper.make_node("ReduceMax", [s_in, "ax"], ["mx"], keepdims=1),
                  helper.make_node("Equal", ["mx", "ninf2"], ["dead"]),
                  helper.make_node("Where", ["dead", "z", "p"], ["pg"])]
        probs = "pg"
    nodes.append(helper.make_node("MatMul", [probs, "v"], ["y"]))
    outputs = [vi("y", None)] + ([vi(extra, None)] if extra else [])
    return make(nodes, inputs, outputs, inits, opset=opset)


def _feeds(proto):
    feeds = {}
    for i in proto.graph.input:
        shape = [d.dim_value for d in i.type.tensor_type.shape.dim]
        if i.type.tensor_type.elem_type == TensorProto.BOOL:
            keep = RNG.random(shape) > 0.3
            keep[0, ..., -1] = True
            keep[1] = False                 # a fully masked batch: rows of -inf
            feeds[i.name] = keep
        else:
            feeds[i.name] = RNG.standard_normal(shape).astype(np.float32)
    return feeds


def _fused(proto, domain="", level="extended"):
    m = onnxkit.load(proto.SerializeToString())
    opt = optimize(m, level)
    assert count(opt, "Attention", domain) == 1, [n.op_type for n in opt.graph]
    assert count(opt, "Softmax") == 0 and count(opt, "MatMul") == 0
    feeds = _feeds(proto)
    assert_same_as_unoptimized(m, opt, feeds, rtol=1e-5, atol=1e-5)
    att = next(n for n in opt.graph if n.op_type == "Attention")
    assert att.attr("scale") == pytest.approx(1 / math.sqrt(D), rel=1e-6)
    return opt, feeds


@pytest.mark.parametrize("kw", [
    dict(),                                              # TorchScript export of BERT
    dict(k_layout="bhsd"),                               # onnxkit's export of GPT-2
    dict(guard="reducemax"),                             # ... and its guard
    dict(scale_style="div"),
    dict(mask=None, guard=None),                         # ViT
    dict(mask="finite", guard=None),
    dict(mask_shape=(B, 1, S, S)),
    dict(mask_shape=(B, 1, S, S), guard="reducemax"),
    dict(mask_shape=(B, 1, S, S), mask="finite", guard=None),
], ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "bert")
def test_fused(kw):
    proto = _attention(**kw)
    mask = kw.get("mask", "where")
    if mask is not None and kw.get("mask_shape", (B, 1, 1, S))[-2] != S:
        # a mask broadcast along the queries: onnxruntime's Attention-23 refuses
        # it, so only the runtime level fuses it (into the ai.onnxkit op)
        m = onnxkit.load(proto.SerializeToString())
        assert count(optimize(m, "extended"), "Attention") == 0
        _fused(proto, domain="ai.onnxkit", level="runtime")
        return
    opt, feeds = _fused(proto)
    onnx.checker.check_model(onnx.load_from_string(model_bytes(opt)), full_check=True)
    for g, w in zip(ort_run(model_bytes(opt), feeds), ort_run(proto, feeds)):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def test_old_opset_runtime_domain():
    proto = _attention(opset=17)
    m = onnxkit.load(proto.SerializeToString())
    assert count(optimize(m, "extended"), "Attention") == 0        # Attention is opset 23
    opt, _ = _fused(proto, domain="ai.onnxkit", level="runtime")
    assert opt.opset_imports["ai.onnxkit"] == 1


@pytest.mark.parametrize("kw", [
    dict(mask="where", guard=None),          # a -inf row gives NaN there, zeros in Attention
    dict(axis=2),
    dict(extra="scores"),
    dict(extra="p"),
    dict(mask_shape=(B, 1, 1, 1), mask="finite", guard=None),  # Attention pads, Add broadcasts
], ids=["unguarded-inf-mask", "softmax-axis-2", "scores-is-output", "probs-is-output", "mask-last-dim-1"])
def test_left_alone(kw):
    proto = _attention(**kw)
    m = onnxkit.load(proto.SerializeToString())
    opt = optimize(m, "extended")
    assert count(opt, "Attention") == 0 and count(opt, "Softmax") == 1
    with np.errstate(all="ignore"):
        want = onnxkit.Session(m, optimize="none").run(None, feeds := _feeds(proto))
        got = onnxkit.Session(opt, optimize="none").run(None, feeds)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)      # NaN rows stay NaN


def test_extra_reader_of_scaled_query_keeps_it():
    """A scaled Q read elsewhere stays; the attention still fuses and agrees."""
    proto = _attention(mask_shape=(B, 1, S, S))
    proto.graph.node.append(helper.make_node("Relu", ["qs"], ["r"]))
    proto.graph.output.append(vi("r", None))
    m = onnxkit.load(proto.SerializeToString())
    opt = optimize(m, "extended")
    assert count(opt, "Attention") == 1
    assert_same_as_unoptimized(m, opt, _feeds(proto), rtol=1e-5, atol=1e-5)
