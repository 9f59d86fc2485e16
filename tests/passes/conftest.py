"""The pass tests run the pass manager in check mode: after every pass that
changes a model, the checker still accepts it and a small model still computes
what it computed before (see onnxkit/passes/_check.py)."""

import pytest

from onnxkit.passes._check import ENV


@pytest.fixture(autouse=True)
def _check_every_pass(monkeypatch):
    monkeypatch.setenv(ENV, "1")
