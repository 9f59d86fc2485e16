"""The official ONNX conformance suite (onnx.backend.test, CPU cases) through
``onnxkit.to_torch``: each case's model imported as a torch module, run on its
inputs, compared with the expected outputs by onnx's own runner (rtol 1e-3,
atol 1e-7).  Known failures are listed with reasons in
tests/backend/conformance_exclusions.py (EXCLUDED_TO_TORCH); cases with degenerate
expected data (DEGENERATE there) run as the replacement test below.  Runs in
parallel: ``pytest tests/to_torch -n 2``."""

from __future__ import annotations

import os
import unittest
import warnings

import pytest

torch = pytest.importorskip("torch")
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)        # one thread per worker: -n 2 on two cores, not four threads

import onnx.backend.test  # noqa: E402

from ._backend import TorchBackend  # noqa: E402
from tests.backend.conformance_exclusions import DEGENERATE  # noqa: E402
from tests.backend.conformance_exclusions import EXCLUDED_TO_TORCH as EXCLUDED  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    _backend_test = onnx.backend.test.BackendTest(TorchBackend, __name__)

_known: set[str] = set()
for _name, _case in _backend_test.test_cases.items():
    for _attr in list(vars(_case)):
        if not _attr.startswith("test_"):
            continue
        if not _attr.endswith("_cpu"):
            delattr(_case, _attr)
            continue
        _known.add(_attr)
        if _attr in DEGENERATE:
            delattr(_case, _attr)           # see test_squeezenet_logits_against_float64 below
        elif _attr in EXCLUDED:
            setattr(_case, _attr, unittest.expectedFailure(getattr(_case, _attr)))
    globals()[_name] = _case
del _name, _case, _attr


def test_exclusions_name_real_cases() -> None:
    stale = sorted(set(EXCLUDED) - _known)
    assert not stale, f"exclusions naming no conformance case: {stale}"
    assert all(isinstance(r, str) and len(r) > 10 for r in EXCLUDED.values())


def test_squeezenet_logits_against_float64() -> None:
    """test_squeezenet_cpu (DEGENERATE: 1000 logits tied at ~9.48e9) through
    to_torch: the logits, the Softmax's input, within float32 rounding of a
    float64 evaluation by onnx.reference."""
    import numpy as np
    import onnx
    import onnx.reference
    from onnx import helper

    from onnxkit.to_torch import to_torch
    from tests.backend.test_conformance import _as_float64

    path = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light",
                        "light_squeezenet.onnx")
    model = onnx.load(path)
    inits = {t.name for t in model.graph.initializer}
    (x_info,) = [v for v in model.graph.input if v.name not in inits]
    x = onnx.backend.test.runner.Runner.generate_dummy_data(x_info)
    (softmax,) = [n for n in model.graph.node if n.op_type == "Softmax"]
    logits = onnx.ModelProto()
    logits.CopyFrom(model)
    logits.graph.node.remove([n for n in logits.graph.node if n.op_type == "Softmax"][0])
    del logits.graph.output[:]
    logits.graph.output.append(helper.make_tensor_value_info(softmax.input[0], onnx.TensorProto.FLOAT, None))
    got = to_torch(logits.SerializeToString())(torch.from_numpy(x)).detach().numpy()
    want = onnx.reference.ReferenceEvaluator(_as_float64(model)).run(
        [softmax.input[0]], {x_info.name: x.astype(np.float64)})[0]
    assert got.shape == want.shape == (1, 1000, 1, 1)
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=0)
