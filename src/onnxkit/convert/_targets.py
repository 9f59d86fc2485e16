"""What a target names: opset versions by domain, and the IR version to write.

``target`` is an int (ai.onnx), a dict by domain (``{"": 13, "ai.onnx.ml": 3}``)
or ``"onnxruntime"``: the newest IR version and opsets the installed
onnxruntime accepts, from :data:`ONNXRUNTIME_FACTS` (converting down only the
domains that must change); ``"onnxruntime==1.20"`` names another version (a
deployment older than the onnxruntime installed here).
"""

from __future__ import annotations

from typing import Any

from ..ir._domain import normalize_domain
from ._errors import ConversionError

__all__ = ["IR_FOR_OPSET", "ONNXRUNTIME_FACTS", "ir_version_for", "onnxruntime_limits", "resolve_target"]

#: ai.onnx opset -> the IR version of the onnx release that introduced it
#: (onnx.helper.VERSION_TABLE).  Opsets 1..8 came with IR 3 or lower.
IR_FOR_OPSET = {1: 3, 2: 3, 3: 3, 4: 3, 5: 3, 6: 3, 7: 3, 8: 3, 9: 4, 10: 5, 11: 6, 12: 7, 13: 7,
                14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10, 22: 10, 23: 11, 24: 12,
                25: 13, 26: 13, 27: 13, 28: 14}

#: onnxruntime (major, minor) -> (newest IR version, newest ai.onnx opset,
#: newest ai.onnx.ml opset) it loads.  The 1.32 row is measured (a model of
#: each version given to InferenceSession); the older rows are from
#: onnxruntime's docs/Versioning.md.  A version between rows takes the row
#: below it; a newer one the newest row.
ONNXRUNTIME_FACTS: dict[tuple[int, int], tuple[int, int, int]] = {
    (1, 10): (8, 15, 2),
    (1, 11): (8, 15, 2),
    (1, 12): (8, 17, 3),
    (1, 13): (8, 17, 3),
    (1, 14): (8, 18, 3),
    (1, 15): (9, 19, 3),
    (1, 16): (9, 19, 3),
    (1, 17): (9, 20, 4),
    (1, 18): (10, 21, 4),
    (1, 19): (10, 21, 4),
    (1, 20): (10, 21, 4),
    (1, 32): (14, 28, 5),
}


def onnxruntime_limits(version: str | None = None) -> tuple[int, int, int]:
    """(IR version, ai.onnx opset, ai.onnx.ml opset) for an onnxruntime
    version string (the installed one when None)."""
    if version is None:
        try:
            import onnxruntime
        except ImportError:
            raise ConversionError([], message="target 'onnxruntime' needs onnxruntime installed "
                                              "(pip install onnxruntime), or give the opset") from None
        version = onnxruntime.__version__
    try:
        key = tuple(int(p) for p in version.split(".")[:2])
    except ValueError:
        raise ConversionError([], message=f"cannot read onnxruntime version {version!r}") from None
    rows = sorted(ONNXRUNTIME_FACTS)
    below = [r for r in rows if r <= key]
    return ONNXRUNTIME_FACTS[below[-1] if below else rows[0]]


def ir_version_for(opset: int) -> int:
    return IR_FOR_OPSET.get(opset, max(IR_FOR_OPSET.values()))


def resolve_target(target: Any, current: dict[str, int]) -> tuple[dict[str, int], int | None]:
    """``(opsets by domain, IR version cap or None)``: domains absent from the
    dict target keep their current version."""
    out = {normalize_domain(d): v for d, v in current.items()}
    cap = None
    if isinstance(target, str):
        name, eq, version = target.strip().partition("==")
        if name.strip().lower() != "onnxruntime" or (eq and not version.strip()):
            raise ConversionError([], message=f"unknown target {target!r}: give an opset number, "
                                              "a dict by domain, 'onnxruntime' or 'onnxruntime==X.Y'")
        cap, onnx_max, ml_max = onnxruntime_limits(version.strip() or None)
        for d, lim in (("", onnx_max), ("ai.onnx.ml", ml_max)):
            if d in out and out[d] > lim:
                out[d] = lim           # only what must change
        return out, cap
    if isinstance(target, bool) or not isinstance(target, (int, dict)):
        raise ConversionError([], message=f"target must be an int, a dict by domain or 'onnxruntime', "
                                          f"not {type(target).__name__}")
    wanted = {"": target} if isinstance(target, int) else {normalize_domain(d): v for d, v in target.items()}
    from ..defs import domains, max_opset
    for d, v in wanted.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConversionError([], message=f"opset for domain {d or 'ai.onnx'!r} must be a positive int, got {v!r}")
        if d in domains() and v > max_opset(d):
            raise ConversionError([], message=f"opset {v} of {d or 'ai.onnx'} is newer than the newest "
                                              f"onnxkit knows ({max_opset(d)})")
        out[d] = v
    return out, None
