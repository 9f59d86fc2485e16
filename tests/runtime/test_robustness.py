"""Broken models (the checker's mutation corpus) never crash onnxkit: loading,
inference, session creation and running raise onnxkit's own errors or work."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import onnxkit
from onnxkit.errors import OnnxkitError
from onnxkit.infer import infer
from onnxkit.runtime._debug import random_inputs

from ..check.mutants import mutants
from ..conftest import conformance_cases


@pytest.fixture(scope="module")
def corpus():
    return mutants(conformance_cases())


def test_broken_models_raise_only_onnxkit_errors(corpus):
    crashes = []
    outcomes = {"ran": 0, "refused": 0}
    for mid, data in corpus:
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                m = onnxkit.load(data)
                infer(m)
                sess = onnxkit.Session(onnxkit.load(data))
                sess.run(None, random_inputs(sess.model))
            outcomes["ran"] += 1
        except OnnxkitError:
            outcomes["refused"] += 1
        except Exception as e:  # anything else is a crash: onnxkit's bug
            crashes.append(f"{mid}: {type(e).__name__}: {e}")
    assert not crashes, "\n".join(crashes[:20])
    assert outcomes["ran"] > 100 and outcomes["refused"] > 100, outcomes
