"""Version steps onnxkit does not convert, each with the reason (both
directions): one table, so that every step of the schemas is either adapted
(the family modules) or explained here."""

from __future__ import annotations

from ._registry import Adapter

__all__ = ["ADAPTERS", "ML_ADAPTERS", "REASONS"]

#: (domain, op, since) -> why the step between the version before and ``since`` is refused
REASONS: dict[tuple[str, str, int], str] = {
    ("", "GRU", 3): "GRU-1 has no linear_before_reset and a different direction attribute; "
                    "opset 1 models are out of scope",
    ("", "GlobalLpPool", 2): "p changed from a float to an int at opset 2",
    ("", "LpPool", 2): "p changed from a float to an int at opset 2",
    ("", "GroupNormalization", 21): "scale and bias are per group at opset 18 and per channel at "
                                    "opset 21 (different meaning, same names)",
    ("", "Scan", 9): "Scan-8 has a batch axis and sequence_lens; Scan-9 has neither",
    ("", "Split", 2): "Split-1 took split sizes as an input or an attribute; opset 1 is out of scope",
    ("", "Tile", 6): "Tile-1 repeated along one axis given as inputs; Tile-6 takes repeats per axis",
    ("ai.onnx.ml", "LabelEncoder", 2): "LabelEncoder-1's classes_strings/default_* became typed "
                                       "keys_*/values_* at opset 2",
    ("ai.onnx.ml", "LabelEncoder", 4): "opset 4 keys/values as tensors; not converted yet",
    ("ai.onnx.ml", "TreeEnsembleClassifier", 5): "deprecated at ai.onnx.ml 5 for TreeEnsemble, "
                                                 "which has a different encoding",
    ("ai.onnx.ml", "TreeEnsembleRegressor", 5): "deprecated at ai.onnx.ml 5 for TreeEnsemble, "
                                                "which has a different encoding",
}

ADAPTERS = {(op, v): Adapter(why, why) for (d, op, v), why in REASONS.items() if d == ""}
ML_ADAPTERS = {(op, v): Adapter(why, why) for (d, op, v), why in REASONS.items() if d == "ai.onnx.ml"}
