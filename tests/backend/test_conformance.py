"""The official ONNX conformance suite (onnx.backend.test of onnx 1.23.2, CPU
cases) run against onnxkit.backend.  The cases onnxkit does not pass are listed,
each with its reason, in conformance_exclusions.py; they are expected to fail
(strictly: one that starts passing fails the run until it leaves the list)."""

from __future__ import annotations

import unittest

import onnx.backend.test

import onnxkit.backend

from .conformance_exclusions import EXCLUDED

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
        if _attr in EXCLUDED:
            setattr(_case, _attr, unittest.expectedFailure(getattr(_case, _attr)))
    globals()[_name] = _case
del _name, _case, _attr


def test_exclusions_name_real_cases() -> None:
    stale = sorted(set(EXCLUDED) - _known)
    assert not stale, f"exclusions naming no conformance case: {stale}"


def test_every_exclusion_has_a_reason() -> None:
    assert all(isinstance(r, str) and len(r) > 10 for r in EXCLUDED.values())
