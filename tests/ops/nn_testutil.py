"""Helpers of the neural-network op tests: one-node models, running them in
onnxkit and in an oracle (onnxruntime or onnx.reference), and inferring their
shapes both ways."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import onnx
from onnx import helper

import onnxkit
from onnxkit.infer import infer_shapes
from tests.infer.agreement import _type_text, compare

Spec = Any   # an array (a graph input fed with it), or (elem_type, shape) for shape-only models


def node_model(op: str, inputs: list[tuple[str, Spec]], n_out: int = 1, *, opset: int = 22,
               domain: str = "", initializers: dict[str, np.ndarray] | None = None,
               out_names: list[str] | None = None, **attrs) -> onnx.ModelProto:
    """A model of one ``op`` node; inputs named "" are absent."""
    outs = out_names or [f"y{i}" for i in range(n_out)]
    node = helper.make_node(op, [n for n, _ in inputs], outs, domain=domain or None, **attrs)
    init = initializers or {}
    g_in = []
    for name, spec in inputs:
        if not name or name in init:
            continue
        if isinstance(spec, np.ndarray):
            g_in.append(helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(spec.dtype),
                                                      spec.shape))
        else:
            g_in.append(helper.make_tensor_value_info(name, spec[0], spec[1]))
    g = helper.make_graph([node], "g", g_in, [helper.make_empty_tensor_value_info(o) for o in outs if o],
                          initializer=[onnx.numpy_helper.from_array(v, k) for k, v in init.items()])
    imports = [helper.make_opsetid("", opset)]
    if domain:
        imports.append(helper.make_opsetid(domain, 1))
    return helper.make_model(g, opset_imports=imports, ir_version=10)


def feeds_of(inputs: list[tuple[str, Spec]], initializers: dict | None = None) -> dict[str, np.ndarray]:
    init = initializers or {}
    return {n: v for n, v in inputs if n and n not in init and isinstance(v, np.ndarray)}


def run_onnxkit(model: onnx.ModelProto, feeds: dict) -> list:
    return onnxkit.Session(model.SerializeToString()).run(None, feeds)


def run_oracle(model: onnx.ModelProto, feeds: dict, oracle: str = "ort") -> list:
    if oracle == "ort":
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        return ort.InferenceSession(model.SerializeToString(), so,
                                    providers=["CPUExecutionProvider"]).run(None, feeds)
    from onnx.reference import ReferenceEvaluator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(ReferenceEvaluator(model).run(None, feeds))


def check_op(op: str, inputs: list[tuple[str, Spec]], n_out: int = 1, *, oracle: str = "ort",
             rtol: float = 1e-4, atol: float = 1e-5, opset: int = 22, domain: str = "",
             initializers: dict | None = None, **attrs) -> list:
    """Run one node in onnxkit and the oracle; outputs must agree in dtype, shape and values."""
    m = node_model(op, inputs, n_out, opset=opset, domain=domain, initializers=initializers, **attrs)
    feeds = feeds_of(inputs, initializers)
    got = run_onnxkit(m, feeds)
    want = run_oracle(m, feeds, oracle)
    for i, (g, w) in enumerate(zip(got, want)):
        w = np.asarray(w)
        assert g.dtype == w.dtype, (op, i, g.dtype, w.dtype)
        assert g.shape == w.shape, (op, i, g.shape, w.shape)
        if w.dtype.kind in "OUS" or (w.dtype.kind in "iub" and atol < 1):
            np.testing.assert_array_equal(g, w, err_msg=f"{op} output {i}")
        else:
            wide = np.complex128 if w.dtype.kind == "c" else np.float64
            np.testing.assert_allclose(g.astype(wide), w.astype(wide), rtol=rtol, atol=atol,
                                       err_msg=f"{op} output {i}")
    check_shapes(m)
    return got


def check_shapes(model: onnx.ModelProto) -> list[str]:
    """Inference agrees with onnx.shape_inference (same or more specific);
    returns onnxkit's inferred output types as text (``float[N,3,?]``)."""
    n, gaps = compare("t", model)
    assert not gaps, [f"{g.value}: onnx {g.onnx_type}, onnxkit {g.ours} ({g.kind})" for g in gaps]
    return inferred(model)


def inferred(model: onnx.ModelProto) -> list[str]:
    m = onnxkit.load(model.SerializeToString())
    infer_shapes(m)
    g = onnx.load_from_string(onnxkit.to_bytes(m)).graph
    return [_type_text(o.type) for o in g.output]
