"""The typed op constructors (onnxkit._generated_ops): generated from the
schemas without drift, real signatures, build-time checks of arity, attribute
names and types, domain namespaces, and models that onnx accepts."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

import onnxkit
from onnxkit import _generated_ops as G
from onnxkit.builder import AttrRef, FunctionBuilder, GraphBuilder, Ops
from onnxkit.check import check_model
from onnxkit.defs import all_schemas
from onnxkit.errors import IRError
from onnxkit.ir import AttributeType, DataType, Value

ROOT = Path(__file__).resolve().parents[2]


def test_generated_module_is_up_to_date():
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_builder.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_one_method_per_current_op_of_every_domain():
    latest = {}
    for s in all_schemas():
        cur = latest.get((s.domain, s.name))
        if cur is None or s.since_version > cur.since_version:
            latest[s.domain, s.name] = s
    for (domain, op), s in latest.items():
        cls = G.OPS_BY_DOMAIN[domain]
        assert (op in vars(cls)) == (not s.deprecated), (domain, op)


def test_signatures_an_ide_can_read():
    sig = inspect.signature(G.AiOnnxOps.Conv)
    p = sig.parameters
    assert list(p)[:4] == ["self", "X", "W", "B"]
    assert p["B"].default is None and p["X"].default is inspect.Parameter.empty
    assert p["group"].kind is inspect.Parameter.KEYWORD_ONLY and p["group"].default == 1
    assert p["group"].annotation == "int" and p["kernel_shape"].annotation == "Sequence[int] | None"
    assert p["auto_pad"].default == "NOTSET"
    assert inspect.signature(G.AiOnnxOps.Concat).parameters["inputs"].kind is \
        inspect.Parameter.VAR_POSITIONAL
    assert inspect.signature(G.AiOnnxOps.Constant).parameters["value"].annotation == \
        "TensorLike | None"
    assert inspect.signature(G.AiOnnxOps.LayerNormalization).parameters["epsilon"].default == 1e-05
    assert inspect.signature(G.AiOnnxOps.Softmax).parameters["axis"].default is None  # 1 then -1
    assert "version 22" in G.AiOnnxOps.Conv.__doc__
    assert inspect.signature(G.AiOnnxOps.Relu).return_annotation == "Value"
    assert inspect.signature(G.AiOnnxOps.TopK).return_annotation == "tuple[Value, Value]"


def test_builds_models_onnx_accepts():
    rng = np.random.default_rng(0)
    b = GraphBuilder("main")
    x = b.input("x", "float", [1, 3, 8, 8])
    w = b.initializer(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    h = b.op.Conv(x, w, kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=1, name="conv")
    h = b.op.LeakyRelu(h, alpha=0.1)
    h = b.op.MaxPool(h, kernel_shape=(2, 2), strides=[2, 2])
    vals, idx = b.op.TopK(b.op.Flatten(h), np.array([3], np.int64))
    parts = b.op.Split(vals, num_outputs=3, axis=1)
    cat = b.op.Concat(*parts, axis=1)
    b.output(cat, "y", dtype="float", shape=[1, 3])
    b.output(b.op.Cast(idx, to=DataType.FLOAT), "i", dtype="float", shape=[1, 3])
    m = b.model(opset=21)
    conv = m.graph.nodes[0]
    assert conv.name == "conv" and "group" not in conv.attributes   # left at its default
    assert conv.attributes["kernel_shape"].type == AttributeType.INTS
    assert m.graph.nodes[1].attributes["alpha"].type == AttributeType.FLOAT
    check_model(m)
    onnx.checker.check_model(onnxkit.to_bytes(m), full_check=True)


def test_float_attribute_from_int_and_defaults_compared_in_float32():
    b = GraphBuilder()
    x = b.input("x", "float", [2])
    y = b.op.LeakyRelu(x, alpha=1)
    n = y.producer()
    assert n.attributes["alpha"].type == AttributeType.FLOAT and n.attributes["alpha"].value == 1.0
    z = b.op.LayerNormalization(x, x, epsilon=1e-5)
    assert "epsilon" not in z.producer().attributes
    s = b.op.Softmax(x, axis=-1)      # -1 is the default since opset 13 only: kept
    assert s.producer().attributes["axis"].value == -1
    assert "axis" not in b.op.Softmax(x).producer().attributes


@pytest.mark.parametrize("build, words", [
    (lambda b, x: b.op.Relu(x, x), ["Relu", "positional"]),
    (lambda b, x: b.op.Add(x), ["Add", "'B'"]),
    (lambda b, x: b.op.Conv(x, x, kernal_shape=[3]), ["Conv", "'kernal_shape'", "kernel_shape"]),
    (lambda b, x: b.op.Conv(x, x, group="2"), ["Conv", "'group'", "an int", "str"]),
    (lambda b, x: b.op.Conv(x, x, kernel_shape=3), ["'kernel_shape'", "sequence of ints"]),
    (lambda b, x: b.op.Conv(x, x, strides=[1.5]), ["'strides'", "sequence of ints"]),
    (lambda b, x: b.op.LeakyRelu(x, alpha="big"), ["'alpha'", "a float"]),
    (lambda b, x: b.op.Cast(x), ["Cast", "'to'"]),
    (lambda b, x: b.op.Cast(x, to=None), ["Cast", "'to'", "required"]),
    (lambda b, x: b.op.Conv(None, x), ["Conv", "'X'", "required"]),
    (lambda b, x: b.op.Concat(axis=0), ["Concat", "at least 1"]),
    (lambda b, x: b.op.Relu(x, outputs=2), ["Relu", "2 outputs"]),
    (lambda b, x: b.op.Split(x, axis=0), ["Split", "outputs="]),
    (lambda b, x: b.op.If(x, then_branch=x, else_branch=x), ["'else_branch'", "graph"]),
    (lambda b, x: b.op.Constant(value=[1, 2]), ["'value'", "tensor"]),
])
def test_mistakes_raise_irerror_naming_op_and_problem(build, words):
    b = GraphBuilder()
    x = b.input("x", "float", [2])
    with pytest.raises(IRError) as e:
        build(b, x)
    for w in words:
        assert w in str(e.value)


def test_domain_namespaces():
    b = GraphBuilder()
    x = b.input("x", "float", [3, 2])
    ml = b.op("ai.onnx.ml")
    assert isinstance(ml, G.AiOnnxMlOps) and isinstance(b.op("ai.onnx"), G.AiOnnxOps)
    y = ml.Normalizer(x, norm="L2")
    assert (y.producer().domain, y.producer().op_type) == ("ai.onnx.ml", "Normalizer")
    with pytest.raises(IRError, match="Normalizer has no attribute 'nrm'"):
        ml.Normalizer(x, nrm="L2")
    tr = b.op("ai.onnx.preview.training")
    assert isinstance(tr, G.AiOnnxPreviewTrainingOps)
    custom = b.op("com.example")
    assert type(custom) is Ops
    z = custom.Anything(x, k=1)
    assert z.producer().domain == "com.example"
    b.output(y, "y", dtype="float", shape=[3, 2])
    check_model(b.model(opset=21, opset_imports={"ai.onnx.ml": 5}))


def test_variadic_outputs_from_graph_attributes():
    b = GraphBuilder()
    x = b.input("x", "float", [2])
    c = b.input("c", "bool", [])
    then, els = b.subgraph("then"), b.subgraph("else")
    then.output(then.op.Neg(x), "t1")
    then.output(then.op.Abs(x), "t2")
    els.output(els.op.Exp(x), "e1")
    els.output(els.op.Sin(x), "e2")
    r1, r2 = b.op.If(c, then_branch=then, else_branch=els)
    b.output(b.op.Add(r1, r2), "y", dtype="float", shape=[2])
    check_model(b.model(opset=21))


def test_function_bodies_take_attribute_references():
    fb = FunctionBuilder("local", "Leaky", ["X"], attributes=["alpha"])
    fb.output(fb.op.LeakyRelu(fb.inputs[0], alpha=fb.attr_ref("alpha", "float")), "Y")
    with pytest.raises(IRError, match="FLOAT"):
        fb.op.LeakyRelu(fb.inputs[0], alpha=AttrRef("alpha", "int"))
    b = GraphBuilder()
    x = b.input("x", "float", [2])
    b.output(b.call(fb, x, alpha=0.2), "y", dtype="float", shape=[2])
    m = b.model(opset=21)
    check_model(m)
    onnx.checker.check_model(onnxkit.to_bytes(m), full_check=True)


def test_optional_inputs_in_the_middle_and_outputs_by_name():
    b = GraphBuilder()
    x = b.input("x", "float", [4])
    y = b.op.Clip(x, None, np.float32(1.0), outputs=["clipped"])
    assert isinstance(y, Value) and y.name == "clipped"
    assert y.producer().inputs[1] is None and len(y.producer().inputs) == 3
    d = b.op.Dropout(x)
    assert isinstance(d, Value)                       # the optional mask is left out
    d2, mask = b.op.Dropout(x, outputs=2)
    assert mask.producer() is d2.producer()
