"""GELU written out -> Gelu.

Both forms are patterns (see ``_pattern.py``) matched from their last Mul.
The exact form, ``x * 0.5 * (1 + Erf(x / sqrt(2)))``, with the division by
``sqrt(2)`` written as Div by 1.41421... or Mul by 0.70710..., and the final
products in any order: ``(x * e) * 0.5``, ``(0.5 * e) * x`` or
``(x * 0.5) * e`` (``e = 1 + Erf(...)``, operands of each Mul/Add in either
position).  The tanh approximation,
``0.5 * x * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))`` with ``x^3`` as
``Pow(x, 3)`` or ``x * x * x``, with the same tail.  Constants are compared
with a relative tolerance of 1e-4 (exporters round them differently).

The result is ``Gelu(x, approximate="none" | "tanh")``: a standard op from
opset 20, an ``ai.onnxkit`` op with the same semantics at the "runtime" level
below that, untouched otherwise.  Every value inside the pattern must be read
by the pattern alone.
"""

from __future__ import annotations

import math

from ..ir import Graph, Model, Node, Value
from ._base import (Pass, ensure_runtime_domain_imported, opset_of, remove_nodes, replace_value,
                    require_runtime_domain)
from ._match import FLOAT_TYPES, fused_domain, is_op
from ._pattern import Pattern, near

__all__ = ["FuseGelu"]

_SQRT2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def _half_x_times(op, x, e, tail: str):
    """``x * 0.5 * e`` in the orders exporters write it."""
    if tail == "(x*e)*0.5":
        return op.Mul(op.Mul(x, e), near(0.5))
    if tail == "(e*0.5)*x":
        return op.Mul(op.Mul(e, near(0.5)), x)
    return op.Mul(op.Mul(x, near(0.5)), e)


def _gelu_erf(op, x, scale: str, tail: str):
    scaled = op.Div(x, near(_SQRT2)) if scale == "div" else op.Mul(x, near(1 / _SQRT2))
    return _half_x_times(op, x, op.Add(op.Erf(scaled), near(1.0)), tail)


def _gelu_tanh(op, x, cube: str, tail: str):
    x3 = op.Pow(x, near(3.0)) if cube == "pow" else op.Mul(x, op.Mul(x, x))
    inner = op.Add(x, op.Mul(x3, near(0.044715)))
    return _half_x_times(op, x, op.Add(op.Tanh(op.Mul(inner, near(_SQRT_2_OVER_PI))), near(1.0)), tail)


_TAILS = ("(x*e)*0.5", "(e*0.5)*x", "(x*0.5)*e")
#: (pattern, the Gelu's ``approximate``)
_PATTERNS = [(Pattern(_gelu_erf, scale=sc, tail=t), "none") for sc in ("div", "mul") for t in _TAILS] \
    + [(Pattern(_gelu_tanh, cube=c, tail=t), "tanh") for c in ("pow", "mul") for t in _TAILS]


def _match(graph: Graph, last: Node):
    """(x, the matched nodes, approximate) when ``last`` ends a GELU, else None."""
    for pattern, approximate in _PATTERNS:
        m = pattern.match(graph, last)
        if m is not None:
            return m["x"], m.nodes, approximate
    return None


class FuseGelu(Pass):
    """Rewrite GELU (exact or tanh) into the Gelu op."""

    name = "fuse_gelu"
    #: the spec op it fuses into, and the opset that introduced it
    spec_op = ("Gelu", 20)

    def __init__(self, level: str = "extended") -> None:
        self.level = level

    def requires(self, model: Model) -> None:
        if self.level == "runtime":             # below the spec op's opset it writes the ai.onnxkit op
            require_runtime_domain(model)

    def ensures(self, model: Model) -> None:
        ensure_runtime_domain_imported(model)

    def apply(self, graph: Graph, model: Model, opsets: dict[str, int]) -> bool:
        if opset_of(opsets) < 20 and self.level != "runtime":
            return False
        changed = False
        for node in graph:
            found = _match(graph, node) if is_op(node, "Mul") and node.graph is graph else None
            if found is None:
                continue
            x, nodes, approximate = found
            out = node.outputs[0]
            if x.dtype is not None and x.dtype not in FLOAT_TYPES:
                continue
            domain = fused_domain(graph, model, opsets, self.spec_op[1], self.level)
            if domain is None:
                continue
            gelu = Node("Gelu", [x], [Value(out.name, out.type)], domain=domain,
                        name=node.name or out.name or "gelu",
                        attributes={"approximate": approximate} if approximate != "none" else {})
            graph.insert_before(node, gelu)
            replace_value(graph, out, gelu.outputs[0])
            remove_nodes(graph, nodes)
            changed = True
        return changed

