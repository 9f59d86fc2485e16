"""Whether a node's value types are ones its schema at the target allows."""

from __future__ import annotations

import re

from ..defs import get_schema, schema_versions, type_string
from ..ir import Node
from ._context import Refuse

__all__ = ["TypeUniverse", "allowed", "check_node_types", "propagate_types"]


def allowed(schema, param) -> tuple[str, ...] | None:
    """The type strings a formal parameter accepts (None: any)."""
    tc = schema.type_constraints.get(param.type_str)
    if tc is not None:
        return tc.allowed
    return (param.type_str,) if param.type_str else None


def _pairs(formals, actuals):
    for i, v in enumerate(actuals):
        if v is None or not formals:
            continue
        yield i, (formals[i] if i < len(formals) else formals[-1]), v


def check_node_types(node: Node, domain: str, opset: int, source_opset: int | None = None,
                     universe: "TypeUniverse | None" = None) -> None:
    """Refuse when a value of ``node`` has a type the schema at ``opset`` does
    not accept, or an unknown type where that schema accepts fewer types than
    the one at ``source_opset`` and the model may hold one of the dropped
    types (``universe``: the types the model can hold at all)."""
    schema = get_schema(node.op_type, opset, domain)
    if schema is None:
        raise Refuse(f"{node.op_type} does not exist at opset {opset}")
    src = get_schema(node.op_type, source_opset, domain) if source_opset else None
    _check_homogeneous(node, schema)
    for kind, formals, actuals, src_formals in (
            ("input", schema.inputs, node.inputs, src.inputs if src else ()),
            ("output", schema.outputs, node.outputs, src.outputs if src else ())):
        for i, p, v in _pairs(formals, actuals):
            ok = allowed(schema, p)
            if ok is None:
                continue
            t = type_string(v.type)
            if t is None and node.op_type == "Constant" and kind == "output":
                t = _constant_type(node)
            if t is None:
                if src is not None and i < len(src_formals):
                    before = allowed(src, src_formals[i])
                    if before is not None and not set(before) <= set(ok) and (
                            universe is None or universe.may_hold(set(before) - set(ok))):
                        raise Refuse(f"the type of its {kind} {i} ({v.name!r}) is unknown, and "
                                     f"{node.op_type}-{schema.since_version} accepts fewer types "
                                     f"than {node.op_type}-{src.since_version}")
                continue
            if t not in ok:
                newer = [s.since_version for s in schema_versions(node.op_type, domain)
                         if s.since_version > schema.since_version
                         and any(t in (allowed(s, q) or (t,)) for q in (s.inputs if kind == "input" else s.outputs))]
                hint = f" (it does from opset {newer[0]})" if newer else ""
                raise Refuse(f"its {kind} {i} ({v.name!r}) is {t}, which "
                             f"{node.op_type}-{schema.since_version} does not accept{hint}",
                             lowest=newer[0] if newer else None)


_CONSTANT_TYPES = {"value_float": "tensor(float)", "value_floats": "tensor(float)",
                   "value_int": "tensor(int64)", "value_ints": "tensor(int64)",
                   "value_string": "tensor(string)", "value_strings": "tensor(string)"}


def _constant_type(node: Node) -> str | None:
    for name, a in node.attributes.items():
        if name in _CONSTANT_TYPES:
            return _CONSTANT_TYPES[name]
        if name == "value" and a.value is not None and not a.ref_attr_name:
            return f"tensor({a.value.dtype.short_name})"
    return None


def propagate_types(node: Node, domain: str, opset: int) -> None:
    """Give the untyped outputs of a node an adapter made the types its schema
    implies: a fixed type, ``to`` of a Cast, or the type of an input sharing
    the output's type parameter (shapes stay unknown)."""
    from ..defs import parse_type_string
    from ..ir import DataType, TensorType

    schema = get_schema(node.op_type, opset, domain)
    if schema is None:
        return
    for i, (p, v) in enumerate(zip(schema.outputs, node.outputs)):
        if v.type is not None:
            continue
        if node.op_type in ("Cast", "CastLike") and i == 0:
            src = node.attr("to") if node.op_type == "Cast" else \
                (node.inputs[1].dtype if len(node.inputs) > 1 and node.inputs[1] is not None else None)
            if src is not None:
                v.type = TensorType(DataType(src), None)
            continue
        if node.op_type == "Constant":
            t = _constant_type(node)
            v.type = parse_type_string(t) if t else None
            continue
        ok = allowed(schema, p)
        if ok is not None and len(ok) == 1:
            v.type = parse_type_string(ok[0])
            continue
        for _, q, w in _pairs(schema.inputs, node.inputs):
            if w.type is not None and q.type_str == p.type_str:
                v.type = TensorType(w.dtype, None) if isinstance(w.type, TensorType) else w.type
                break


def _check_homogeneous(node: Node, schema) -> None:
    """Values bound to one type parameter must share one type (Pow-7's base
    and exponent, for instance; Pow-12 gave the exponent its own)."""
    seen: dict[str, tuple[str, str]] = {}
    for kind, formals, actuals in (("input", schema.inputs, node.inputs),
                                   ("output", schema.outputs, node.outputs)):
        for i, p, v in _pairs(formals, actuals):
            if p.type_str not in schema.type_constraints or (p.variadic and not p.homogeneous):
                continue
            t = type_string(v.type)
            if t is None:
                continue
            first = seen.setdefault(p.type_str, (t, f"{kind} {i}"))
            if first[0] != t:
                raise Refuse(f"its {kind} {i} ({t}) and {first[1]} ({first[0]}) must have one type "
                             f"in {node.op_type}-{schema.since_version}")


_ELEM = re.compile(r"tensor\((\w+)\)")


class TypeUniverse:
    """The element types and kinds of value a model can hold at all.  Every
    type comes from somewhere: a graph input or initializer, a Constant, an
    attribute naming a type (Cast's ``to``, ``dtype``, ``output_dtype`` ...), or
    a sequence / optional op.  A value of unknown type cannot have a type
    none of these sources has."""

    def __init__(self, model) -> None:
        from ..ir import AttributeType, DataType, TensorType
        elems: set[str] = set()
        kinds = False
        for g in model.all_graphs():
            for v in (*g.inputs, *g.outputs, *g.value_info, *g.initializers.values()):
                t = type_string(v.type)
                if t is None and v.const_value is not None:
                    t = f"tensor({v.const_value.dtype.short_name})"
                if t is None and v.type is not None and not isinstance(v.type, TensorType):
                    kinds = True
                elif t is not None:
                    elems.update(_ELEM.findall(t))
                    kinds |= not t.startswith("tensor(")
            for n in g:
                if n.op_type.startswith(("Sequence", "Optional")) or "Sequence" in n.op_type:
                    kinds = True
                schema = get_schema(n.op_type, _opset_of(model, n.domain), n.domain)
                for p in (schema.outputs if schema is not None else ()):
                    ok = allowed(schema, p)     # an output of one fixed type (Shape: int64)
                    if ok is not None and len(ok) <= 2:
                        for t in ok:
                            elems.update(_ELEM.findall(t))
                            kinds |= not t.startswith("tensor(")
                for name, a in n.attributes.items():
                    if a.ref_attr_name:
                        kinds = True        # a function's attribute: anything
                        elems.add("*")
                    elif a.type == AttributeType.TENSOR and a.value is not None:
                        elems.add(a.value.dtype.short_name)
                    elif a.type == AttributeType.INT and name in ("to", "dtype", "output_dtype") and a.value:
                        try:
                            elems.add(DataType(a.value).short_name)
                        except ValueError:
                            elems.add("*")
                    elif a.type in (AttributeType.TYPE_PROTO, AttributeType.TYPE_PROTOS,
                                    AttributeType.SPARSE_TENSOR):
                        kinds = True
                        elems.add("*")
        self.elems = elems
        self.kinds = kinds

    def may_hold(self, types: set[str]) -> bool:  # noqa: D102
        """Whether a value of the model may have one of ``types``."""
        if "*" in self.elems:
            return True
        for t in types:
            if not t.startswith("tensor("):
                if self.kinds:
                    return True
                continue
            if set(_ELEM.findall(t)) & self.elems:
                return True
        return False


def _opset_of(model, domain: str) -> int:
    from ..ir._domain import normalize_opsets
    return normalize_opsets(model.opset_imports).get("" if domain in ("", "ai.onnx") else domain, 1)
