"""Small CNNs and transformers, weights as initializers, run by a Session at
the runtime level (the default) against the graph as written
(``optimize="none"``) at float32 precision, at batch 1 and 2, and checked for
the rewrites the runtime level promises: BatchNormalization folded, Conv
chains as NhwcConv with residual Add and activation inside, MaxPool as
NhwcMaxPool, dense layers as FusedMatMul (bias and Gelu inside), the written-out
LayerNormalization, Gelu and attention as single ops (spec ops where the
opset has them, ai.onnxkit ops below).  onnxruntime runs each model as
written too, so the models are what it would run."""

from __future__ import annotations

import math
import warnings
from collections import Counter

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import onnxkit

RNG = np.random.default_rng(21)
F = TensorProto.FLOAT
KIT = "ai.onnxkit"


class Net:
    """A graph being written with onnx.helper: ``op`` adds a node and returns
    its output's (fresh) name; ``const`` adds an initializer."""

    def __init__(self, opset: int) -> None:
        self.opset = opset
        self.nodes: list = []
        self.inits: list = []
        self.inputs: list = []

    def _name(self, hint: str) -> str:
        return f"{hint}_{len(self.nodes) + len(self.inits)}"

    def input(self, name: str, shape, elem=F) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, elem, shape))
        return name

    def const(self, value, dtype=np.float32) -> str:
        name = self._name("c")
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def weight(self, *shape, scale: float = 0.3) -> str:
        return self.const(RNG.standard_normal(shape) * scale)

    def op(self, op_type: str, *inputs: str, **attrs) -> str:
        out = self._name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def model(self, outputs: list[str]):
        g = helper.make_graph(self.nodes, "g", self.inputs,
                              [helper.make_tensor_value_info(o, F, None) for o in outputs], self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", self.opset)])
        m.ir_version = 8            # onnxruntime reads it; onnxkit too
        return m

    # ----------------------------------------------------------- CNN pieces
    def conv_bn(self, x: str, cin: int, cout: int, k: int, group: int = 1, **attrs) -> str:
        """Conv (no bias, as torch exports a Conv followed by BatchNorm) + BatchNormalization."""
        y = self.op("Conv", x, self.weight(cout, cin // group, k, k), group=group, **attrs)
        return self.op("BatchNormalization", y, self.const(RNG.uniform(0.5, 1.5, cout)),
                       self.const(RNG.standard_normal(cout) * 0.1), self.const(RNG.standard_normal(cout) * 0.1),
                       self.const(RNG.uniform(0.5, 1.5, cout)), epsilon=1e-5)

    def relu6(self, x: str) -> str:
        return self.op("Clip", x, self.const(0.0), self.const(6.0))

    def head(self, x: str, c: int, classes: int = 10) -> str:
        """GlobalAveragePool -> Flatten -> Gemm (weights [classes, C], transB=1)."""
        pooled = self.op("Flatten", self.op("GlobalAveragePool", x), axis=1)
        return self.op("Gemm", pooled, self.weight(classes, c), self.weight(classes), transB=1)

    # ----------------------------------------------------------- transformer pieces
    def dense(self, x: str, n_in: int, n_out: int) -> str:
        """MatMul + Add of a bias, as the exporters write a Linear on a 3-D input."""
        return self.op("Add", self.op("MatMul", x, self.weight(n_in, n_out, scale=1 / math.sqrt(n_in))),
                       self.weight(n_out, scale=0.1))

    def reduce_mean_last(self, x: str) -> str:
        if self.opset >= 18:
            return self.op("ReduceMean", x, self.const([-1], np.int64), keepdims=1)
        return self.op("ReduceMean", x, axes=[-1], keepdims=1)

    def layer_norm(self, x: str, d: int) -> str:
        """The chain torch's TorchScript exporter writes below opset 17."""
        mu = self.reduce_mean_last(x)
        diff = self.op("Sub", x, mu)
        var = self.reduce_mean_last(self.op("Pow", diff, self.const(2.0)))
        std = self.op("Sqrt", self.op("Add", var, self.const(1e-5)))
        normed = self.op("Div", diff, std)
        return self.op("Add", self.op("Mul", normed, self.const(RNG.uniform(0.5, 1.5, d))),
                       self.const(RNG.standard_normal(d) * 0.1))

    def gelu_erf(self, x: str) -> str:
        """x * 0.5 * (1 + erf(x / sqrt(2)))"""
        e = self.op("Erf", self.op("Div", x, self.const(math.sqrt(2.0))))
        return self.op("Mul", self.op("Mul", x, self.op("Add", e, self.const(1.0))), self.const(0.5))

    def gelu_tanh(self, x: str) -> str:
        """0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))"""
        inner = self.op("Add", x, self.op("Mul", self.const(0.044715), self.op("Pow", x, self.const(3.0))))
        t = self.op("Tanh", self.op("Mul", inner, self.const(math.sqrt(2 / math.pi))))
        return self.op("Mul", self.op("Mul", self.const(0.5), x), self.op("Add", self.const(1.0), t))

    def attention(self, x: str, d: int, heads: int, mask: str | None) -> str:
        """Self-attention as BERT's export writes it: heads split by Reshape/Transpose,
        K transposed straight to [B, H, dh, S], scores divided by sqrt(dh), the mask
        added, Softmax, P @ V, heads merged, output projection."""
        dh = d // heads
        split = self.const([0, 0, heads, dh], np.int64)
        q = self.op("Transpose", self.op("Reshape", self.dense(x, d, d), split), perm=[0, 2, 1, 3])
        kt = self.op("Transpose", self.op("Reshape", self.dense(x, d, d), split), perm=[0, 2, 3, 1])
        v = self.op("Transpose", self.op("Reshape", self.dense(x, d, d), split), perm=[0, 2, 1, 3])
        scores = self.op("Div", self.op("MatMul", q, kt), self.const(math.sqrt(dh)))
        if mask is not None:
            scores = self.op("Add", scores, mask)
        ctx = self.op("MatMul", self.op("Softmax", scores, axis=-1), v)
        merged = self.op("Reshape", self.op("Transpose", ctx, perm=[0, 2, 1, 3]), self.const([0, 0, d], np.int64))
        return self.dense(merged, d, d)


# ------------------------------------------------------------------ the models
def resnet_like():
    """conv+bn+relu (the row im2col at 32x32), a strided conv (full im2col), max
    pooling, a residual block whose Add and Relu fuse into its second conv, a 1x1
    conv (one GEMM), global average pooling, a Gemm head."""
    n = Net(opset=17)
    x = n.input("x", ["N", 3, 32, 32])
    h = n.op("Relu", n.conv_bn(x, 3, 8, 3, pads=[1, 1, 1, 1]))
    h = n.op("Relu", n.conv_bn(h, 8, 8, 3, pads=[1, 1, 1, 1], strides=[2, 2]))
    h = n.op("MaxPool", h, kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    r = n.op("Relu", n.conv_bn(h, 8, 8, 3, pads=[1, 1, 1, 1]))
    r = n.conv_bn(r, 8, 8, 3, pads=[1, 1, 1, 1], dilations=[1, 1])
    h = n.op("Relu", n.op("Add", r, h))
    h = n.op("Relu", n.conv_bn(h, 8, 16, 1))
    return n.model([n.head(h, 16)]), {
        ("", "BatchNormalization"): 0, ("", "Conv"): 0, ("", "Add"): 0, ("", "Relu"): 0, ("", "MaxPool"): 0,
        ("", "Gemm"): 0, ("", "Transpose"): 2, (KIT, "NhwcConv"): 5, (KIT, "NhwcMaxPool"): 1,
        (KIT, "FusedMatMul"): 1}, {
        ("NhwcConv", "Relu", ""): 4, ("NhwcConv", "Relu", "+residual"): 1, ("FusedMatMul", "", "+bias"): 1}


def mobilenet_like():
    """conv+bn+ReLU6 stem (stride 2), a depthwise conv (+bn, ReLU6), a linear 1x1
    projection with the inverted residual Add, a depthwise conv with multiplier 2 and
    dilation 2 (+HardSwish), a grouped conv (+LeakyRelu), a Gemm head."""
    n = Net(opset=17)
    x = n.input("x", ["N", 4, 20, 20])
    stem = n.relu6(n.conv_bn(x, 4, 8, 3, pads=[1, 1, 1, 1], strides=[2, 2]))
    dw = n.relu6(n.conv_bn(stem, 8, 8, 3, group=8, pads=[1, 1, 1, 1]))
    h = n.op("Add", n.conv_bn(dw, 8, 8, 1), stem)
    h = n.op("HardSwish", n.conv_bn(h, 8, 16, 3, group=8, pads=[2, 2, 2, 2], dilations=[2, 2]))
    h = n.op("LeakyRelu", n.conv_bn(h, 16, 16, 3, group=4, pads=[1, 0, 1, 2]), alpha=0.1)
    return n.model([n.head(h, 16)]), {
        ("", "BatchNormalization"): 0, ("", "Conv"): 0, ("", "Add"): 0, ("", "Clip"): 0, ("", "HardSwish"): 0,
        ("", "LeakyRelu"): 0, ("", "Gemm"): 0, ("", "Transpose"): 2, (KIT, "NhwcConv"): 5, (KIT, "FusedMatMul"): 1}, {
        ("NhwcConv", "Clip", ""): 2, ("NhwcConv", "", "+residual"): 1, ("NhwcConv", "HardSwish", ""): 1,
        ("NhwcConv", "LeakyRelu", ""): 1, ("FusedMatMul", "", "+bias"): 1}


D, HEADS, FF, SEQ = 16, 2, 32, 6


def encoder(opset: int):
    """A BERT layer: attention with a padding mask (Where(mask, 0, -10000) of the
    model's 0/1 input), residual,
    LayerNorm, feed-forward with erf Gelu, residual, LayerNorm."""
    n = Net(opset)
    x = n.input("x", ["B", SEQ, D])
    keep = n.op("Cast", n.input("mask", ["B", SEQ], TensorProto.INT64), to=TensorProto.BOOL)
    keep = n.op("Unsqueeze", keep, n.const([1, 2], np.int64))                   # [B, 1, 1, S]
    mask = n.op("Where", keep, n.const(0.0), n.const(-10000.0))
    h = n.layer_norm(n.op("Add", x, n.attention(x, D, HEADS, mask)), D)
    ff = n.dense(n.gelu_erf(n.dense(h, D, FF)), FF, D)
    y = n.layer_norm(n.op("Add", h, ff), D)
    ln = "" if opset >= 17 else KIT
    # a [B, 1, 1, S] mask: the ai.onnxkit Attention at every opset (the standard one, as
    # onnxruntime runs it, does not broadcast the mask along the queries)
    return n.model([y]), {
        (ln, "LayerNormalization"): 2, (KIT, "Attention"): 1, (KIT, "FusedMatMul"): 6,
        ("", "ReduceMean"): 0, ("", "Softmax"): 0, ("", "Erf"): 0, ("", "MatMul"): 0, (KIT, "Gelu"): 0,
        ("", "Gelu"): 0}, {("FusedMatMul", "", "+bias"): 5, ("FusedMatMul", "Gelu", "+bias"): 1}


def decoder(opset: int):
    """A GPT-2 layer: pre-LayerNorm, causal attention (a constant finite mask),
    residual, pre-LayerNorm, feed-forward with tanh Gelu, residual."""
    n = Net(opset)
    x = n.input("x", ["B", SEQ, D])
    causal = n.const(np.triu(np.full((SEQ, SEQ), -1e4), 1).reshape(1, 1, SEQ, SEQ))
    h = n.op("Add", x, n.attention(n.layer_norm(x, D), D, HEADS, causal))
    ff = n.dense(n.gelu_tanh(n.dense(n.layer_norm(h, D), D, FF)), FF, D)
    y = n.op("Add", h, ff)
    ln = "" if opset >= 17 else KIT
    att = "" if opset >= 23 else KIT
    return n.model([y]), {
        (ln, "LayerNormalization"): 2, (att, "Attention"): 1, (KIT, "FusedMatMul"): 6, ("", "ReduceMean"): 0,
        ("", "Softmax"): 0, ("", "Tanh"): 0, ("", "MatMul"): 0, (KIT, "Gelu"): 0, ("", "Gelu"): 0}, {
        ("FusedMatMul", "", "+bias"): 5, ("FusedMatMul", "Gelu tanh", "+bias"): 1}


MODELS = {
    "resnet-like": resnet_like,
    "mobilenet-like": mobilenet_like,
    "encoder opset 17": lambda: encoder(17),
    "encoder opset 13": lambda: encoder(13),
    "encoder opset 23": lambda: encoder(23),
    "decoder opset 13": lambda: decoder(13),
    "decoder opset 17": lambda: decoder(17),
    "decoder opset 23": lambda: decoder(23),
}


def _feeds(proto, batch: int) -> dict:
    feeds = {}
    for i in proto.graph.input:
        dims = [batch if d.dim_param else d.dim_value for d in i.type.tensor_type.shape.dim]
        if i.name == "mask":
            keep = np.ones(dims, np.int64)
            keep[-1, SEQ // 2:] = 0                       # the last sequence padded
            feeds[i.name] = keep
        else:
            feeds[i.name] = RNG.standard_normal(dims).astype(np.float32)
    return feeds


def _ops(model) -> Counter:
    return Counter((n.domain or "", n.op_type) for n in model.graph.all_nodes())


def _fused(model) -> Counter:
    """What the fused nodes took in: (op, activation, "+residual" for an NhwcConv
    with a Z input / "+bias" for a FusedMatMul with a bias)."""
    out: Counter = Counter()
    for n in model.graph.all_nodes():
        if n.domain != KIT or n.op_type not in ("NhwcConv", "FusedMatMul"):
            continue
        act = n.attr("activation", "")
        if n.attr("approximate", "none") != "none":
            act += " " + n.attr("approximate")
        extra_at, extra = (3, "+residual") if n.op_type == "NhwcConv" else (2, "+bias")
        has_extra = len(n.inputs) > extra_at and n.inputs[extra_at] is not None
        out[(n.op_type, act, extra if has_extra else "")] += 1
    return out


@pytest.mark.parametrize("name", MODELS)
def test_runtime_level_matches_the_graph_as_written(name):
    proto, want_ops, want_fused = MODELS[name]()
    data = proto.SerializeToString()
    with warnings.catch_warnings():     # a pass that fails makes the Session warn and run the graph as written
        warnings.filterwarnings("error", message=".*running the model unoptimized")
        fast = onnxkit.Session(data)
    plain = onnxkit.Session(data, optimize="none")
    ops = _ops(fast.model)              # the model the Session runs
    assert {k: ops[k] for k in want_ops} == want_ops, f"runtime-level graph: {dict(ops)}"
    assert _fused(fast.model) == want_fused
    for batch in (1, 2):
        feeds = _feeds(proto, batch)
        got = fast.run(None, feeds)
        want = plain.run(None, feeds)
        for g, w in zip(got, want):
            assert g.dtype == w.dtype == np.float32 and g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5 * float(np.abs(w).max()))


@pytest.mark.parametrize("name", [n for n in MODELS if "23" not in n])
def test_onnxruntime_agrees_with_the_graph_as_written(name):
    ort = pytest.importorskip("onnxruntime")
    proto, _, _ = MODELS[name]()
    feeds = _feeds(proto, 2)
    want = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    got = onnxkit.Session(proto.SerializeToString(), optimize="none").run(None, feeds)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4 * float(np.abs(w).max()))
