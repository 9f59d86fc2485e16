"""Opset version conversion: :func:`convert_version` steps every node of a
model, one schema version at a time, to the target opsets, up or down, with
an adapter per version step (one module per operator family, tables of data
where a step is a rename or a moved attribute).  What cannot be expressed at
the target without changing results is refused: one
:class:`ConversionError` listing every such node.

>>> import onnxkit
>>> from onnxkit.convert import convert_version
>>> m = onnxkit.parse('''<ir_version: 8, opset_import: ["" : 17]>
... g (float[2, 3] x) => (y) { y = ReduceSum <keepdims = 0> (x, axes) axes = Constant <value_ints = [1]> () }''')  # doctest: +SKIP
>>> convert_version(m, 11).opset                                                                       # doctest: +SKIP
11

Module map: ``_driver`` (walking and stepping), ``_registry`` (the Adapter
class, the step tables), ``_same`` (steps that changed no semantics),
``_ops_*`` (one family each), ``_functions`` (ops expanded through their
function body), ``_reasons`` (steps refused, with the reason), ``_types``
(the node's types against the target schema), ``_targets`` (target and IR
version, onnxruntime's limits).
"""

from __future__ import annotations

from typing import Any

from ..ir import Model, clone_model
from ..ir._domain import normalize_opsets
from ._errors import ConversionError, Refusal
from ._targets import ONNXRUNTIME_FACTS, ir_version_for, onnxruntime_limits, resolve_target

__all__ = ["ConversionError", "ONNXRUNTIME_FACTS", "Refusal", "convert_version", "onnxruntime_limits"]


def convert_version(model: Model, target: Any, *, inplace: bool = False,
                    ir_version: int | None = None) -> Model:
    """``model`` converted to ``target``: an ai.onnx opset (int), opsets by
    domain (``{"": 13, "ai.onnx.ml": 3}``), or ``"onnxruntime"`` (the newest
    IR version and opsets the installed onnxruntime loads; only what is newer
    is converted down).

    Returns a copy sharing the weights (``inplace=True``: the model itself,
    changed).  The IR version is raised to what the target opset needs, or
    lowered to the target opset's when converting down (``ir_version``
    overrides).  Raises :class:`ConversionError` listing every node that
    cannot be expressed at the target; the model is then left as it was.
    """
    from ._driver import Converter
    from ._typing import inferred_types

    src = normalize_opsets(model.opset_imports)
    dst, ir_cap = resolve_target(target, src)
    work = clone_model(model)
    conv = Converter(work, src, dst)
    with inferred_types(work):
        refusals = conv.run()
    conv.settle_moved()
    if refusals:
        raise ConversionError(refusals, dst)
    work.opset_imports = {d: dst.get(d if d != "ai.onnx" else "", v) for d, v in work.opset_imports.items()}
    work.ir_version = _ir_version(work, src, dst, ir_cap, ir_version)
    if not inplace:
        return work
    for slot in ("graph", "opset_imports", "ir_version", "functions", "training_info"):
        setattr(model, slot, getattr(work, slot))
    return model


def _ir_version(m: Model, src: dict[str, int], dst: dict[str, int], cap: int | None,
                explicit: int | None) -> int:
    if explicit is not None:
        return explicit
    ir = m.ir_version
    s, d = src.get(""), dst.get("")
    if s is not None and d is not None and d != s:
        need, floor = ir_version_for(d), _ir_floor(m)
        # down: no newer than the target opset's IR, yet what the converted
        # structure needs (an adapter may have made initializers: IR 4)
        ir = max(ir, need) if d > s else max(min(ir, max(need, floor)), floor)
    if cap is not None:
        ir = min(ir, cap)
    return ir


def _ir_floor(m: Model) -> int:
    """The lowest IR version the model's structure needs."""
    floor = 3
    if any(name not in {v.name for v in g.inputs} for g in m.all_graphs() for name in g.initializers):
        floor = 4               # initializers that are not graph inputs
    if m.functions:
        floor = 8               # model-local functions
    return floor
