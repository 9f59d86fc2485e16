"""Types for the adapters: shape inference run on the working copy, undone after."""

from __future__ import annotations

import contextlib
from typing import Iterator

from ..ir import Function, Model

__all__ = ["inferred_types"]


@contextlib.contextmanager
def inferred_types(model: Model) -> Iterator[None]:
    """Fill in value types (best effort) while converting; afterwards put
    back the types the model declared (inferred ones do not leak into it)."""
    from ..infer import infer, types_restored

    with types_restored(model):
        try:
            infer(model, strict=False)
            for f in model.functions:
                _infer_body(model, f, infer)
        except Exception:   # noqa: BLE001 - inference is a help here; adapters refuse without types
            pass
        yield


def _infer_body(model: Model, f: Function, infer) -> None:
    """Type a function's body from its call sites, when they all agree on the
    input types (a body alone is untyped: its types are its callers')."""
    calls = [n for g in model.all_graphs() for n in g
             if n.op_type == f.name and n.domain == f.domain and n.overload == f.overload]
    if not calls:
        return
    for i, formal in enumerate(f.graph.inputs):
        seen = {str(c.inputs[i].type) if i < len(c.inputs) and c.inputs[i] is not None else None
                for c in calls}
        if len(seen) != 1 or None in seen or "None" in seen:
            return
        formal.type = calls[0].inputs[i].type
    from ..ir import TensorType, DataType
    for n in f.graph:       # Constants whose value is the function's attribute: typed by its kind
        if n.op_type == "Constant" and n.outputs[0].type is None:
            for name, kind in (("value_float", DataType.FLOAT), ("value_int", DataType.INT64),
                               ("value_floats", DataType.FLOAT), ("value_ints", DataType.INT64)):
                if name in n.attributes:
                    n.outputs[0].type = TensorType(kind, [] if not name.endswith("s") else None)
    opsets = dict(f.opset_imports or model.opset_imports)
    body = Model(f.graph, ir_version=model.ir_version, opset_imports=opsets, functions=model.functions)
    try:
        infer(body, strict=False)
    except Exception:   # noqa: BLE001
        pass
