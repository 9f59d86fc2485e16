"""Type constraints of a node, checked where the types of its values are known.

Types are known from declarations (graph inputs, ``value_info``, graph
outputs), from initializers, and from what earlier nodes were found to give:
an output whose formal type is one fixed type (``tensor(int64)``), or a type
variable bound by the node's inputs (``T`` of ``Add``), gets that type.
Map types are not compared (the schemas write them in a short form of
their own); values of unknown type are not checked.
"""

from __future__ import annotations

from typing import Callable

from ..defs import OpSchema, parse_type_string, type_string
from ..ir import Node, Type, Value

__all__ = ["check_node_types", "type_string"]


def check_node_types(node: Node, schema: OpSchema, type_of: Callable[[Value], Type | None],
                     report: Callable[[str, str, str | None], None]) -> list[Type | None]:
    """Check the known input types of ``node`` against ``schema``'s type
    constraints; returns the types its outputs get from them (None: unknown).
    ``report(code, message, value_name)`` records a problem."""
    bound: dict[str, str] = {}
    formal = schema.inputs
    for i, v in enumerate(node.inputs):
        if v is None or not formal:
            continue
        p = formal[i] if i < len(formal) else formal[-1]
        actual = type_string(type_of(v))
        if actual is None:
            continue
        allowed = _allowed(schema, p.type_str)
        if allowed is not None and actual not in allowed:
            report("type-constraint",
                   f"input {i} ({p.name}) is {actual}, which {_op(schema)} does not accept for "
                   f"{p.type_str}; allowed: {_short(allowed)}", v.name)
            continue
        if p.homogeneous:
            have = bound.setdefault(p.type_str, actual)
            if have != actual:
                report("type-mismatch",
                       f"input {i} ({p.name}) is {actual} but an earlier input bound {p.type_str} "
                       f"to {have}; {_op(schema)} needs them to have the same type "
                       f"(insert a Cast)", v.name)
    out_types: list[Type | None] = []
    formal = schema.outputs
    for i, v in enumerate(node.outputs):
        if not formal:
            out_types.append(None)
            continue
        p = formal[i] if i < len(formal) else formal[-1]
        allowed = _allowed(schema, p.type_str)
        given: str | None = None
        if allowed is not None and len(allowed) == 1:
            given = next(iter(allowed))
        elif p.homogeneous and p.type_str in bound:
            given = bound[p.type_str]
        declared = type_string(v.type)
        if given is not None and declared is not None and declared != given:
            report("type-mismatch",
                   f"output {i} ({p.name}) is declared {declared}, but {_op(schema)} gives "
                   f"{given} here; fix the declared type (value_info or graph output)", v.name)
        out_types.append(parse_type_string(given) if given is not None else None)
    return out_types


def _allowed(schema: OpSchema, type_str: str) -> frozenset[str] | None:
    tc = schema.type_constraints.get(type_str)
    allowed = tc.allowed if tc is not None else (type_str,)
    if any(a.startswith(("map(", "seq(map(")) for a in allowed):
        return None  # maps are written in a short form: not compared
    return frozenset(allowed)


def _op(schema: OpSchema) -> str:
    d = f"{schema.domain}." if schema.domain else ""
    return f"{d}{schema.name}-{schema.since_version}"


def _short(allowed: frozenset[str], limit: int = 8) -> str:
    names = sorted(allowed)
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more
