"""The official ONNX conformance suite (onnx.backend.test of onnx 1.23.2, CPU
cases) run against onnxkit.backend.  The cases onnxkit does not pass are listed,
each with its reason, in conformance_exclusions.py; they are expected to fail
(strictly: one that starts passing fails the run until it leaves the list).
Cases whose expected data is degenerate run as the replacement tests below."""

from __future__ import annotations

import os
import unittest

import numpy as np
import onnx
import onnx.backend.test
import onnx.reference
from onnx import TensorProto, numpy_helper

import onnxkit
import onnxkit.backend

from .conformance_exclusions import DEGENERATE, EXCLUDED

_backend_test = onnx.backend.test.BackendTest(onnxkit.backend, __name__)

_known: set[str] = set()
for _name, _case in _backend_test.test_cases.items():
    for _attr in list(vars(_case)):
        if not _attr.startswith("test_"):
            continue
        if not _attr.endswith("_cpu"):
            delattr(_case, _attr)           # CUDA variants: not run on this CPU-only backend
            continue
        _known.add(_attr)
        if _attr in DEGENERATE:
            delattr(_case, _attr)           # runs as its replacement test (REPLACEMENTS)
        elif _attr in EXCLUDED:
            setattr(_case, _attr, unittest.expectedFailure(getattr(_case, _attr)))
    globals()[_name] = _case
del _name, _case, _attr


def test_exclusions_name_real_cases() -> None:
    stale = sorted((set(EXCLUDED) | set(DEGENERATE)) - _known)
    assert not stale, f"exclusions naming no conformance case: {stale}"
    assert not set(EXCLUDED) & set(DEGENERATE)


def _as_float64(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with every float32 weight and declared type widened to float64."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for i, t in enumerate(m.graph.initializer):
        if t.data_type == TensorProto.FLOAT:
            m.graph.initializer[i].CopyFrom(numpy_helper.from_array(
                numpy_helper.to_array(t).astype(np.float64), t.name))
    for vi in (*m.graph.input, *m.graph.output, *m.graph.value_info):
        if vi.type.tensor_type.elem_type == TensorProto.FLOAT:
            vi.type.tensor_type.elem_type = TensorProto.DOUBLE
    return m


def test_squeezenet_logits_against_float64() -> None:
    """test_squeezenet_cpu's model and input, checked up to the degenerate Softmax."""
    path = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light",
                        "light_squeezenet.onnx")
    model = onnx.load(path)
    expected = numpy_helper.to_array(onnx.load_tensor(path.replace(".onnx", "_output_0.pb")))
    inits = {t.name for t in model.graph.initializer}
    (x_info,) = [v for v in model.graph.input if v.name not in inits]
    x = onnx.backend.test.runner.Runner.generate_dummy_data(x_info)   # the input the case feeds
    (softmax,) = [n for n in model.graph.node if n.op_type == "Softmax"]
    logits_name = softmax.input[0]

    got = onnxkit.Session(model.SerializeToString()).run_intermediate({x_info.name: x})
    want = onnx.reference.ReferenceEvaluator(_as_float64(model)).run(
        [logits_name], {x_info.name: x.astype(np.float64)})[0]
    logits = got[logits_name]
    assert logits.shape == want.shape == (1, 1000, 1, 1) and logits.dtype == np.float32
    # within float32 rounding of the exact logits (the graph is 26 convolutions deep)
    np.testing.assert_allclose(logits, want, rtol=2e-6, atol=0)
    # the float64 logits' Softmax (opset 9: over all but the batch axis) is the expected data
    flat = want.reshape(1, -1)
    e = np.exp(flat - flat.max())
    np.testing.assert_allclose((e / e.sum()).reshape(expected.shape), expected, rtol=1e-6)
    # and onnxkit's Softmax is the Softmax of onnxkit's own float32 logits
    out = got[softmax.output[0]].reshape(1, -1)
    np.testing.assert_allclose(out.sum(), 1.0, rtol=1e-5)
    top = logits.reshape(1, -1) == logits.max()
    np.testing.assert_allclose(out[top], 1.0 / top.sum(), rtol=1e-5)


REPLACEMENTS = {"test_squeezenet_cpu": test_squeezenet_logits_against_float64}


def test_every_degenerate_case_has_a_replacement() -> None:
    assert set(REPLACEMENTS) == set(DEGENERATE)


def test_every_exclusion_has_a_reason() -> None:
    assert all(isinstance(r, str) and len(r) > 10 for r in (*EXCLUDED.values(), *DEGENERATE.values()))
