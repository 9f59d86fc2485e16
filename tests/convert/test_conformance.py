"""The conformance sweep: every node test of onnx.backend.test (its model and
test_data_set_0) converted to each target opset is either refused with a
clear error, or passes onnxkit's checker at the target and gives the expected
outputs in onnxkit.Session.  Zero wrong results.  Cases whose original model
does not give its expected outputs in onnxkit (inputs the in-memory test
case stores differently, random ops) are left out; see _harness.py (also for
the two cases checked with onnxruntime because of a runtime bug)."""

from __future__ import annotations

import collections
import os
import zlib

import pytest

from onnxkit.defs import max_opset

from . import _harness as h

TARGETS = (11, 13, 17, 21, max_opset())

#: the fewest conversions that must come out right in the full sweep (regressions fail the run)
FLOOR = {11: 1030, 13: 975, 17: 1280, 21: 1655, max_opset(): 1610}

#: CI runs a stable half of the cases per target (a different half for each
#: target, so every case is converted to some targets); ONNXKIT_CONVERT_FULL=1
#: runs them all (about twice the time)
FULL = os.environ.get("ONNXKIT_CONVERT_FULL") == "1"


def _sampled(name: str, target: int) -> bool:
    return FULL or zlib.crc32(f"{name}:{target}".encode()) % 2 == 0


#: the model tests (simple/, pytorch-converted/, pytorch-operator/): every
#: one at every target in the full sweep, the CI targets otherwise (they are small)
MODEL_TARGETS = tuple(range(7, max_opset() + 1)) if FULL else TARGETS


@pytest.mark.parametrize("target", MODEL_TARGETS)
def test_conformance_model_tests_convert_or_refuse(target):
    """The model tests of onnx's test data: at opsets 11 and later every one
    converts right (they are opset 6-12 models of common ops), in onnxkit
    and, where it runs the original, in onnxruntime; below, only ops that do
    not exist yet (sequences, StringNormalizer) or attributes that are new
    (MaxPool's dilations) are refused."""
    counts: collections.Counter = collections.Counter()
    bad = []
    for case in h.model_cases():
        if case.opset == target:
            continue
        result, detail = h.outcome(case, target)
        counts[result] += 1
        if result != "ok" and not (result == "refused" and target < 11):
            bad.append(f"{case.name} (opset {case.opset} -> {target}): {result}: {detail}")
        if result == "ok" and _ort_right(case.data, case) and not _ort_right(h.onnxkit_convert(case.data, target), case):
            bad.append(f"{case.name} (opset {case.opset} -> {target}): onnxruntime differs")
    assert not bad, f"{len(bad)} model tests not converted right:\n" + "\n".join(bad[:30])
    assert counts["ok"] >= 100, dict(counts)


def _ort_right(data: bytes, case) -> bool:
    try:
        return h.run_onnxruntime(data, case)
    except Exception:   # noqa: BLE001 - onnxruntime lacks a kernel or an input type
        return False


@pytest.mark.parametrize("target", TARGETS)
def test_conformance_models_convert_or_refuse(target):
    counts: collections.Counter = collections.Counter()
    bad = []
    for case in h.cases():
        if not _sampled(case.name, target):
            continue
        if case.opset == target:
            counts["same"] += 1
            continue
        result, detail = h.outcome(case, target)
        counts[result] += 1
        if result not in ("ok", "refused", "baseline"):
            bad.append(f"{case.name} (opset {case.opset} -> {target}): {result}: {detail}")
    print(f"\nopset {target}: {dict(counts)}")
    assert not bad, f"{len(bad)} conversions not refused and not right:\n" + "\n".join(bad[:30])
    assert counts["ok"] >= (FLOOR[target] if FULL else FLOOR[target] * 0.45), dict(counts)
