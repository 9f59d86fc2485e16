"""Conformance cases onnxkit does not pass, each with its reason.

The one list of known exclusions (see tests/backend/test_conformance.py: they
run as expected failures, so a case that starts passing must leave the list).
"""

EXCLUDED: dict[str, str] = {
}
