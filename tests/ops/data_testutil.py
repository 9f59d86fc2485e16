"""Helpers of the data-type / quantization / string / random / signal op
tests: one-node models, and onnxkit checked against an oracle (onnxruntime or
onnx.reference) and against onnx.shape_inference on the same model."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import onnxkit
from tests.infer.agreement import compare


def _elem(v: np.ndarray) -> int:
    return TensorProto.STRING if v.dtype == object else helper.np_dtype_to_tensor_dtype(v.dtype)


def node_model(op: str, feeds: dict, consts: dict | None = None, *, opset: int, n_out: int = 1,
               order: list[str] | None = None, ir_version: int = 10, **attrs) -> onnx.ModelProto:
    """One ``op`` node reading ``feeds`` (graph inputs) and ``consts``
    (initializers), in ``order`` when given ("" for an absent input); its
    outputs ``y0, y1, ...`` are declared without a type."""
    consts = consts or {}
    node = helper.make_node(op, order or list(feeds) + list(consts), [f"y{i}" for i in range(n_out)],
                            **attrs)
    ins = [helper.make_tensor_value_info(k, _elem(v), v.shape) for k, v in feeds.items()]
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items()]
    outs = [helper.make_empty_tensor_value_info(f"y{i}") for i in range(n_out)]
    g = helper.make_graph([node], "g", ins, outs, inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=ir_version)


def oracle_run(m: onnx.ModelProto, feeds: dict, oracle: str = "ort") -> list:
    if oracle == "ort":
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        return sess.run(None, feeds)
    return ReferenceEvaluator(m).run(None, feeds)


def assert_agrees(m: onnx.ModelProto) -> None:
    """onnxkit's shape inference says at least what onnx's says, never otherwise."""
    n, gaps = compare(m.graph.node[0].op_type, m)
    assert n and not gaps, gaps


def check_model(m: onnx.ModelProto, feeds: dict, oracle: str = "ort", rtol: float = 0.0,
                atol: float = 0.0, values: bool = True) -> list:
    """Run ``m`` in onnxkit and the oracle: same dtypes and shapes, and (with
    ``values``) the same values, exactly unless a tolerance is given; then the
    shape rules against onnx's.  Returns onnxkit's outputs."""
    want = oracle_run(m, feeds, oracle)
    got = onnxkit.Session(m.SerializeToString()).run(None, feeds)
    for w, g in zip(want, got):
        w = np.asarray(w)
        assert g.shape == w.shape, (g.shape, w.shape)
        if w.dtype.kind in "OUS":
            assert g.dtype == object and g.tolist() == w.tolist()
            continue
        assert g.dtype == w.dtype, (g.dtype, w.dtype)
        if values:
            np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), rtol=rtol, atol=atol)
    assert_agrees(m)
    return got
