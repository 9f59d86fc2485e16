"""Agreement with onnx.checker.check_model(full_check=True): on every model of
the conformance suite, and on a corpus of mutants of valid models
(tests/check/mutants.py).  Disagreements are listed, with reasons, in
tests/check/disagreements.py; the rate must stay at or above 99%."""

from __future__ import annotations

import functools
import os

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

import onnxkit
from onnxkit.check import Problem, check, find_problems, load_for_check
from onnxkit.errors import CheckError

from ..conftest import conformance_cases, conformance_files
from .disagreements import CONFORMANCE, MUTANTS
from .mutants import mutants

#: a mutation -> the problem code onnxkit must report for it, or a tuple of codes any of
#: which will do (checked on every mutant of that kind that onnx refuses too)
EXPECTED_CODE = {
    "undefined_input": "undefined-input", "duplicate_output": "duplicate-name",
    "reverse_order": "undefined-input", "cycle": "undefined-input", "unknown_op": "unknown-op",
    "unknown_attribute": "unknown-attribute", "wrong_attribute_type": "attribute-type",
    "attribute_without_type": "attribute-type", "missing_required_attribute": "missing-attribute",
    "extra_input": "arity", "too_few_inputs": "arity", "empty_required_input": "missing-input",
    "extra_output": "arity", "type_constraint_violation": "type-constraint",
    "remove_default_opset": "opset-import", "opset_too_old": "unknown-op",
    "opset_zero": "unknown-op", "ir_zero": "ir-version", "ir_future": "ir-version",
    "ir2_with_opsets": "opset-import", "graph_without_name": "missing-name",
    "input_without_type": "missing-type", "input_without_shape": "missing-type",
    "output_not_produced": "undefined-output", "duplicate_input": "duplicate-name",
    "empty_op_type": "missing-op-type", "missing_domain_import": "opset-import",
    "duplicate_initializer": "duplicate-initializer", "initializer_data_too_short": "tensor-data",
    "initializer_dims_too_big": "tensor-data", "ir3_initializer_not_input": "initializer-not-input",
    "initializer_input_type_differs": "type-mismatch", "initializer_wrong_field": "tensor-data",
    "subgraph_reads_later_value": "undefined-input", "subgraph_reads_value_of_next_node":
    "undefined-input", "subgraph_output_is_outer_value": "undefined-output",
    "if_branches_differ_in_outputs": "subgraph-arity", "subgraph_reassigns_outer_name":
    "duplicate-name", "loop_body_reads_later_value": "undefined-input",
    "loop_body_too_few_inputs": "subgraph-arity", "function_without_opset_import": "opset-import",
    "function_opset_incompatible": "opset-import", "function_recursive": "function-cycle",
    "function_defined_twice": "duplicate-function", "function_nodes_out_of_order": "undefined-input",
    "sparse_indices_unsorted": "sparse-tensor", "sparse_index_out_of_range": "sparse-tensor",
    "output_type_mismatch": ("type-mismatch", "inference"), "opset_from_the_future": "opset-import",
}


def _onnx_ok(data) -> bool:
    try:
        onnx.checker.check_model(data, full_check=True)
    except Exception:
        return False
    return True


def _onnxkit_problems(data) -> list[Problem]:
    try:
        return find_problems(load_for_check(data))
    except CheckError as e:
        return list(e.problems)


@functools.cache
def _mutant_verdicts() -> list[tuple[str, bool, tuple[Problem, ...]]]:
    return [(mid, _onnx_ok(data), tuple(_onnxkit_problems(data)))
            for mid, data in mutants(conformance_cases())]


def _disagreements(verdicts) -> dict[str, str]:
    return {name: ("onnx accepts, onnxkit finds: " + "; ".join(map(str, ps[:2]))) if ok
            else "onnx refuses, onnxkit accepts"
            for name, ok, ps in verdicts if ok == bool(ps)}


def test_conformance_models_agree():
    items = [(n, m.SerializeToString()) for n, m in conformance_cases()]
    items += [(os.path.relpath(p, os.path.dirname(onnx.__file__)), p) for p in conformance_files()]
    verdicts = [(name, _onnx_ok(x), tuple(_onnxkit_problems(x))) for name, x in items]
    found = _disagreements(verdicts)
    accepted = sum(ok for _, ok, _ in verdicts)
    print(f"\nconformance: {len(verdicts)} models, onnx accepts {accepted}, "
          f"disagreements {len(found)}")
    assert set(found) - set(CONFORMANCE) == set(), f"new disagreements: {found}"
    assert set(CONFORMANCE) - set(found) == set(), "listed but agreeing now: remove them"


def test_mutants_agree():
    verdicts = _mutant_verdicts()
    found = _disagreements(verdicts)
    invalid = sum(not ok for _, ok, _ in verdicts)
    rate = 1 - len(found) / len(verdicts)
    print(f"\nmutants: {len(verdicts)} ({invalid} refused by onnx), disagreements {len(found)}, "
          f"agreement {100 * rate:.2f}%")
    assert len(verdicts) >= 300
    assert rate >= 0.99
    assert set(found) - set(MUTANTS) == set(), f"new disagreements: {found}"
    assert set(MUTANTS) - set(found) == set(), "listed but agreeing now: remove them"


def test_mutants_report_the_mutation():
    """Agreeing on 'invalid' is not enough: onnxkit must name the problem the
    mutation made (besides whatever else follows from it)."""
    wrong = []
    for mid, ok, problems in _mutant_verdicts():
        want = EXPECTED_CODE.get(mid.split(":")[0])
        wants = (want,) if isinstance(want, str) else want
        if want is not None and not ok and not set(wants) & {p.code for p in problems}:
            wrong.append((mid, want, [str(p) for p in problems[:2]]))
    assert not wrong


def test_every_mutation_kind_is_tried():
    kinds = {mid.split(":")[0] for mid, _, _ in _mutant_verdicts()}
    assert set(EXPECTED_CODE) <= kinds


def test_every_listed_disagreement_has_a_reason():
    assert all(isinstance(r, str) and len(r) > 20 for r in [*CONFORMANCE.values(), *MUTANTS.values()])


# ------------------------------------------------------------------ external data


def _external_model(folder, location: str = "weights.bin") -> str:
    w = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "w")
    g = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", 1, [2, 3])],
                          [helper.make_tensor_value_info("y", 1, [2, 3])], [w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)
    onnx.external_data_helper.convert_model_to_external_data(
        m, all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    path = os.path.join(folder, "model.onnx")
    onnx.save(m, path)
    if location != "weights.bin":
        m = onnx.load(path, load_external_data=False)
        for e in m.graph.initializer[0].external_data:
            if e.key == "location":
                e.value = location
        onnx.save(m, path)
    return path


@pytest.mark.parametrize("case", ["present", "missing", "outside", "absolute"])
def test_external_data_files(tmp_path, case):
    location = {"present": "weights.bin", "missing": "gone.bin", "outside": "../weights.bin",
                "absolute": "/etc/hostname"}[case]
    path = _external_model(str(tmp_path), location)
    ok = _onnx_ok(path)
    assert ok == (case == "present")
    if ok:
        check(path)
    else:
        with pytest.raises(CheckError) as e:
            check(path)
        assert [p.code for p in e.value.problems] == ["external-data"]
        assert location in str(e.value)


def test_external_data_checked_beside_the_model(tmp_path):
    path = _external_model(str(tmp_path))
    model = onnxkit.load(path)
    assert find_problems(model) == []
    os.remove(os.path.join(str(tmp_path), "weights.bin"))
    codes = [p.code for p in find_problems(model, full=False)]
    assert codes == ["external-data"]
