"""Helpers the pass tests share: running one pass against the model as
written, counting ops, the unoptimized-run oracle, onnxruntime on a model, and
onnx.helper shorthands."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

import onnxkit

#: the header of the text-syntax models the basic passes' tests write
H = '<ir_version: 10, opset_import: ["" : 21]>\n'


def ops(model) -> list[str]:
    """The main graph's op types, in order."""
    return [n.op_type for n in model.graph]


def check_pass(pass_, text: str, feeds_list, *, infer: bool = False, seed: int | None = None):
    """Parse ``text``, run ``pass_`` on it (after shape inference when
    ``infer``), and assert that for every feeds dict the result gives exactly
    what the model as written gives (dtype, shape, values) and that the graph
    outputs keep their names.  Returns (the rewritten model, what the pass returned)."""
    m = onnxkit.parse(text)
    if infer:
        onnxkit.infer_shapes(m)
    changed = pass_(m)
    for feeds in feeds_list:
        want = onnxkit.Session(onnxkit.parse(text), optimize="none", seed=seed).run(None, feeds)
        got = onnxkit.Session(m, optimize="none", seed=seed).run(None, feeds)
        assert len(got) == len(want)
        for a, b in zip(got, want):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)
    assert [o.name for o in m.graph.outputs] == [o.name for o in onnxkit.parse(text).graph.outputs]
    return m, changed


def count(model, op_type: str, domain: str | None = None) -> int:
    return sum(1 for n in model.graph.all_nodes()
               if n.op_type == op_type and (domain is None or (n.domain or "") == domain))


def model_bytes(model) -> bytes:
    return onnxkit.to_bytes(model)


def assert_same_as_unoptimized(original, optimized, feeds, rtol=1e-6, atol=1e-6):
    """The optimized model's outputs equal the original's run as written."""
    want = onnxkit.Session(original, optimize="none").run(None, feeds)
    got = onnxkit.Session(optimized, optimize="none").run(None, feeds)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def ort_run(model, feeds):
    ort = pytest.importorskip("onnxruntime")
    data = model if isinstance(model, bytes) else model.SerializeToString()
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(data, so, providers=["CPUExecutionProvider"]).run(None, feeds)


def make(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def vi(name, shape, t=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, t, shape)
