"""Operator schemas of the standard ONNX domains, as data.

The tables in ``_generated/`` are written by ``tools/gen_defs.py`` from the
installed ``onnx`` package at development time; onnxkit never imports ``onnx``
at run time.  Each schema is stored once, at the opset version that introduced
it; :func:`get_schema` returns the one in force at a given opset.

>>> from onnxkit.defs import get_schema
>>> s = get_schema("Conv", 18)
>>> s.since_version, [p.name for p in s.inputs], s.attributes["group"].default
(11, ['X', 'W', 'B'], 1)
"""

from __future__ import annotations

import bisect
import functools
import importlib
from dataclasses import dataclass, field
from typing import Any, Iterator

from ..ir._domain import normalize_domain
from ._typestr import parse_type_string, type_string

__all__ = ["AttributeDef", "FormalParameter", "OpSchema", "TypeConstraint", "all_schemas", "domains",
           "get_schema", "has_schema", "max_opset", "parse_type_string", "schema_versions", "type_string"]

SINGLE, OPTIONAL, VARIADIC = 0, 1, 2


@dataclass(frozen=True, slots=True)
class FormalParameter:
    """One formal input or output: ``option`` is 0 single, 1 optional, 2 variadic."""
    name: str
    type_str: str
    option: int
    homogeneous: bool
    min_arity: int

    @property
    def optional(self) -> bool:
        return self.option == OPTIONAL

    @property
    def variadic(self) -> bool:
        return self.option == VARIADIC


@dataclass(frozen=True, slots=True)
class AttributeDef:
    name: str
    type: int  # AttributeType number
    required: bool
    default: Any  # a Python value (int, float, str, tuple) or None when the spec gives none


@dataclass(frozen=True, slots=True)
class TypeConstraint:
    name: str
    allowed: tuple[str, ...]  # type strings as the spec writes them: "tensor(float)", "seq(tensor(int64))"


@dataclass(frozen=True, slots=True)
class OpSchema:
    domain: str
    name: str
    since_version: int
    deprecated: bool
    inputs: tuple[FormalParameter, ...]
    outputs: tuple[FormalParameter, ...]
    attributes: dict[str, AttributeDef]
    type_constraints: dict[str, TypeConstraint]
    min_input: int
    max_input: int
    min_output: int
    max_output: int
    #: {opset version: function body in the ONNX text syntax}
    function_texts: dict[int, str] = field(default_factory=dict)
    #: opset versions at which onnx builds a body from the node's types (not stored)
    context_function_versions: tuple[int, ...] = ()

    def __repr__(self) -> str:
        d = f"{self.domain}::" if self.domain else ""
        return f"<OpSchema {d}{self.name}-{self.since_version}>"

    @property
    def has_function(self) -> bool:
        return bool(self.function_texts)

    def function_text(self, opset: int) -> str | None:
        """The body in force at ``opset`` (the latest body version <= opset)."""
        best = None
        for v, text in self.function_texts.items():
            if v <= opset and (best is None or v > best[0]):
                best = (v, text)
        return None if best is None else best[1]

    def function(self, opset: int):
        """The body in force at ``opset`` as an :class:`onnxkit.ir.Function`, or None."""
        text = self.function_text(opset)
        if text is None:
            return None
        from ..text import parse_function
        return parse_function(text)


def _make(domain: str, row: tuple) -> OpSchema:
    name, since, deprecated, ins, outs, attrs, tcs, (mi, xi, mo, xo), bodies, ctx = row
    return OpSchema(
        domain, name, since, deprecated, tuple(FormalParameter(*p) for p in ins),
        tuple(FormalParameter(*p) for p in outs),
        {a[0]: AttributeDef(a[0], a[1], a[2], a[3]) for a in attrs},
        {t[0]: TypeConstraint(t[0], t[1]) for t in tcs}, mi, xi, mo, xo, dict(bodies), ctx)


@functools.cache
def _domain_table(domain: str) -> dict[str, tuple[list[int], list[OpSchema]]]:
    from ._generated import MODULES
    module = MODULES.get(domain)
    if module is None:
        return {}
    rows = importlib.import_module(f"._generated.{module}", __name__).SCHEMAS
    table: dict[str, tuple[list[int], list[OpSchema]]] = {}
    for row in rows:  # sorted by (name, since_version)
        versions, schemas = table.setdefault(row[0], ([], []))
        versions.append(row[1])
        schemas.append(_make(domain, row))
    return table


def domains() -> list[str]:
    from ._generated import MODULES
    return list(MODULES)


def get_schema(op_type: str, opset: int, domain: str = "") -> OpSchema | None:
    """The schema of ``op_type`` in force at ``opset`` of ``domain``: the one with
    the highest ``since_version`` <= ``opset``.  None when the op is unknown
    there (or was introduced later)."""
    entry = _domain_table(normalize_domain(domain)).get(op_type)
    if entry is None:
        return None
    i = bisect.bisect_right(entry[0], opset)
    return entry[1][i - 1] if i else None


def has_schema(op_type: str, domain: str = "") -> bool:
    return op_type in _domain_table(normalize_domain(domain))


def schema_versions(op_type: str, domain: str = "") -> list[OpSchema]:
    """Every version of ``op_type``, oldest first."""
    entry = _domain_table(normalize_domain(domain)).get(op_type)
    return list(entry[1]) if entry else []


def all_schemas(domain: str | None = None) -> Iterator[OpSchema]:
    """Every schema of one domain (or of all), every version."""
    for d in ([domain] if domain is not None else domains()):
        for _, schemas in _domain_table(d).values():
            yield from schemas


@functools.cache
def max_opset(domain: str = "") -> int:
    """The highest since_version in the tables: the newest opset known."""
    return max((s.since_version for s in all_schemas(normalize_domain(domain))), default=1)
