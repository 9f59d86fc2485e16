"""Every case where onnxkit's checker (``onnxkit.check``, full) and
``onnx.checker.check_model(full_check=True)`` (onnx 1.23.2) disagree on
valid/invalid, each with its reason.  The agreement tests are strict both
ways: a disagreement not listed here fails them, and so does an entry here
that no longer disagrees (remove it then).

Where onnxkit is stricter on purpose, the rule and its reason are given once
under ``POLICY`` and the cases point to it.
"""

from __future__ import annotations

POLICY = {
    "conflicting-opsets": (
        "a model that imports one domain twice at different versions is refused: onnx silently "
        "uses the last entry, onnxkit's reader the first, so the file means different things to "
        "different tools (the same domain twice at the same version is accepted)"),
    "ref-outside-function": (
        "an attribute reference (ref_attr_name) outside a function body is refused: there is no "
        "function attribute for it to refer to (the ONNX IR allows references only in function "
        "bodies); onnx's checker does not look"),
    "future-opset": (
        "a standard domain imported at an opset newer than the schemas onnxkit has (onnx 1.23.2's) "
        "is refused: its operators may mean something else there, so nothing can be checked "
        "against them; onnx applies its newest schemas instead"),
}

#: conformance-suite models (onnx.backend.test node/model cases and data files), by name
CONFORMANCE: dict[str, str] = {
    "test_mvn": (
        "onnx refuses the model because its own function body of MeanVarianceNormalization-13 "
        "fails onnx's inference (a Constant in the body whose value comes from an unbound "
        "attribute reference); the model itself is valid and onnxkit accepts it"),
}

#: mutants of tests/check/mutants.py, by id (mutation:base)
MUTANTS: dict[str, str] = {
    "conflicting_opset_domain:if": POLICY["conflicting-opsets"],
    "ref_attribute_in_graph:if": POLICY["ref-outside-function"],
    "opset_from_the_future:if": POLICY["future-opset"],
}
