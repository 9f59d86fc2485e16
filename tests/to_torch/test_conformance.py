"""The official ONNX conformance suite (onnx.backend.test, CPU cases) through
``onnxkit.to_torch``: each case's model imported as a torch module, run on its
inputs, compared with the expected outputs by onnx's own runner (rtol 1e-3,
atol 1e-7).  Known failures are listed with reasons in
conformance_exclusions.py.  Runs in parallel: ``pytest tests/to_torch -n 2``."""

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
from .conformance_exclusions import EXCLUDED  # noqa: E402

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
        if _attr in EXCLUDED:
            setattr(_case, _attr, unittest.expectedFailure(getattr(_case, _attr)))
    globals()[_name] = _case
del _name, _case, _attr


def test_exclusions_name_real_cases() -> None:
    stale = sorted(set(EXCLUDED) - _known)
    assert not stale, f"exclusions naming no conformance case: {stale}"
    assert all(isinstance(r, str) and len(r) > 10 for r in EXCLUDED.values())
