"""The values where onnxkit's inferred type may say less than (or otherwise
than) onnx.shape_inference's, each with its reason.

Keys are ``(model, value)`` as ``tests/infer/agreement.py`` names them: the
conformance case name (or ``folder/model`` for the model files), and the value
name, prefixed with ``node-index.attribute/`` per subgraph level.  The test
allows at most 0.5% of the values onnx types to be listed here.
"""

from __future__ import annotations

EXCLUSIONS: dict[tuple[str, str], str] = {
}
