"""Shared fixtures: the models of the ONNX conformance suite, as (name, bytes)."""

from __future__ import annotations

import glob
import os
import warnings

import pytest


def _data_dir() -> str:
    import onnx.backend.test

    return os.path.join(os.path.dirname(onnx.backend.test.__file__), "data")


def conformance_files(kinds=("light", "simple", "pytorch-converted", "pytorch-operator", "real")):
    """Paths of the model files shipped inside the onnx package."""
    out = []
    for kind in kinds:
        out += sorted(glob.glob(os.path.join(_data_dir(), kind, "**", "*.onnx"), recursive=True))
    return out


_CASES = None


def conformance_cases():
    """(name, ModelProto) for every node and model test case of onnx.backend.test.case."""
    global _CASES
    if _CASES is None:
        from onnx.backend.test.case import model, node

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cases = node.collect_testcases() + model.collect_testcases()
        _CASES = [(c.name, c.model) for c in cases if c.model is not None]
    return _CASES


@pytest.fixture(scope="session")
def cases():
    return conformance_cases()


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """get(model, exporter) -> path of a small real model exported from PyTorch
    (see tests/_real_models.py); each is exported once per session."""
    from ._real_models import make_exporter
    return make_exporter(tmp_path_factory)
