"""Optimizing keeps every conformance model right.

For each model of the ONNX conformance suite (onnx.backend.test's node and
model cases, with their input and expected output data), the model optimized
at "basic", "extended" and "runtime" must still give the expected outputs,
within the case's tolerances, wherever the model as written does; and the
"basic" and "extended" models (standard ONNX) must still pass onnxkit.check
wherever the original does.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest

import onnxkit
from onnxkit.errors import OnnxkitError
from onnxkit.passes import optimize


@functools.cache
def _cases() -> list:
    """(name, model bytes, [(inputs, outputs)], rtol, atol) of every case with data."""
    from onnx.backend.test.case import model, node

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = node.collect_testcases() + model.collect_testcases()
    return [(c.name, c.model.SerializeToString(), c.data_sets, c.rtol, c.atol)
            for c in cases if c.model is not None and c.data_sets]


def _same(got, want, rtol: float, atol: float) -> bool:
    """onnx's runner comparison: tensors within tolerance (exact for strings),
    sequences element by element, optionals by their content."""
    if want is None or got is None:
        return want is None and got is None
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(
            _same(g, w, rtol, atol) for g, w in zip(got, want))
    want = np.asarray(want)
    got = np.asarray(got)
    if got.shape != want.shape:
        return False
    if want.dtype == object or got.dtype == object:
        return bool(np.array_equal(got.astype(object), want.astype(object)))
    if want.dtype.kind in "fc" or got.dtype.kind in "fc":
        try:
            np.testing.assert_allclose(got.astype(np.float64) if got.dtype.kind not in "c" else got,
                                       want.astype(np.float64) if want.dtype.kind not in "c" else want,
                                       rtol=rtol, atol=atol)
        except AssertionError:
            return False
        return True
    return bool(np.array_equal(got, want))


def _passes(model, data_sets, rtol: float, atol: float) -> bool:
    """The model (run as given, no more optimization) gives the expected outputs."""
    try:
        sess = onnxkit.Session(model, seed=0, optimize="none")
        names = [a.name for a in sess.get_inputs()]
        for inputs, outputs in data_sets:
            feeds = dict(zip(names, inputs))
            got = sess.run(None, feeds)
            if len(got) != len(outputs):
                return False
            if not all(_same(g, w, rtol, atol) for g, w in zip(got, outputs)):
                return False
    except (OnnxkitError, ValueError, TypeError):
        return False
    return True


def _checks(model) -> bool:
    try:
        onnxkit.check(model)
    except OnnxkitError:
        return False
    return True


def test_optimized_conformance_models_still_pass():
    cases = _cases()
    assert len(cases) > 1500
    broken: list[str] = []
    baseline = 0
    for name, data, data_sets, rtol, atol in cases:
        original = onnxkit.load(data)
        if not _passes(original, data_sets, rtol, atol):
            continue
        baseline += 1
        checked = _checks(original)
        for level in ("basic", "extended", "runtime"):
            try:
                om = optimize(original, level, fold_limit=1 << 40)
            except Exception as e:   # noqa: BLE001 -- an optimizer crash is a failure to report
                broken.append(f"{name} at {level}: optimize raised {type(e).__name__}: {e}")
                continue
            if not _passes(om, data_sets, rtol, atol):
                broken.append(f"{name} at {level}: outputs differ from the expected ones")
            if checked and level != "runtime" and not _checks(om):
                broken.append(f"{name} at {level}: onnxkit.check refuses the optimized model")
    print(f"\n{baseline} of {len(cases)} conformance models pass unoptimized")
    assert baseline > 1400
    assert not broken, f"{len(broken)} broken:\n" + "\n".join(broken[:40])


@pytest.mark.parametrize("level", ["basic", "runtime"])
def test_optimizing_leaves_the_original_alone(level):
    """optimize() works on a copy: the model given still runs as written."""
    name, data, data_sets, rtol, atol = next(c for c in _cases() if c[0] == "test_reshape_reordered_all_dims")
    original = onnxkit.load(data)
    before = [n.op_type for n in original.graph]
    optimize(original, level)
    assert [n.op_type for n in original.graph] == before
    assert _passes(original, data_sets, rtol, atol)
