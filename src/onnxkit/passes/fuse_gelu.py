"""GELU written out -> Gelu.

The exact form, ``x * 0.5 * (1 + Erf(x / sqrt(2)))``, is matched from its Erf
with the division by ``sqrt(2)`` written as Div by 1.41421... or Mul by
0.70710..., and the final products in any order: ``(x * e) * 0.5``,
``(0.5 * e) * x`` or ``(x * 0.5) * e`` (``e = 1 + Erf(...)``, operands of each
Mul/Add in either position).  The tanh approximation,
``0.5 * x * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))`` with ``x^3`` as
``Pow(x, 3)`` or ``x * x * x``, is matched from its Tanh and has the same
tail.  Constants are compared with a relative tolerance of 1e-4 (exporters
round them differently).

The result is ``Gelu(x, approximate="none" | "tanh")``: a standard op from
opset 20, an ``ai.onnxkit`` op with the same semantics at the "runtime" level
below that, untouched otherwise.  Every value inside the pattern must be read
by the pattern alone.
"""

from __future__ import annotations

import math

from ..ir import Graph, Model, Node, Value
from ._base import Pass, opset_of, remove_nodes, replace_value
from ._match import FLOAT_TYPES, fused_domain, is_op, other_input, scalar_of, sole_reader

__all__ = ["FuseGelu"]

_SQRT2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def _near(v: Value | None, want: float) -> bool:
    s = scalar_of(v)
    return s is not None and abs(s - want) <= 1e-4 * abs(want)


def _producer_if(graph: Graph, v: Value | None, op: str) -> Node | None:
    """The producer of ``v`` when it is ``op`` and ``v`` is read only by one node."""
    p = v.producer() if v is not None else None
    if not is_op(p, op) or sole_reader(graph, v) is None:
        return None
    return p


def _tail(graph: Graph, e: Value, x: Value) -> tuple[list[Node], Value] | None:
    """The two multiplications by x and 0.5 that follow ``e = 1 + ...``:
    (their nodes, the Gelu value), or None."""
    m1 = sole_reader(graph, e)
    if not is_op(m1, "Mul") or m1.inputs[0] is m1.inputs[1]:
        return None
    o = other_input(m1, e)
    if o is x or _near(o, 0.5):
        m2 = sole_reader(graph, m1.outputs[0])
        if not is_op(m2, "Mul"):
            return None
        o2 = other_input(m2, m1.outputs[0])
        if (o is x and _near(o2, 0.5)) or (o is not x and o2 is x):
            return [m1, m2], m2.outputs[0]
        return None
    h = _producer_if(graph, o, "Mul")
    if h is not None and ((h.inputs[0] is x and _near(h.inputs[1], 0.5))
                          or (h.inputs[1] is x and _near(h.inputs[0], 0.5))):
        return [h, m1], m1.outputs[0]
    return None


def _plus_one(graph: Graph, v: Value) -> Node | None:
    add = sole_reader(graph, v)
    if is_op(add, "Add") and _near(other_input(add, v), 1.0):
        return add
    return None


def _match_erf(graph: Graph, erf: Node) -> tuple[Value, list[Node], Value] | None:
    scaled = erf.inputs[0]
    pre = scaled.producer() if scaled is not None else None
    if sole_reader(graph, scaled) is not erf or pre is None:
        return None
    if is_op(pre, "Div") and _near(pre.inputs[1], _SQRT2):
        x = pre.inputs[0]
    elif is_op(pre, "Mul") and _near(pre.inputs[1], 1 / _SQRT2):
        x = pre.inputs[0]
    elif is_op(pre, "Mul") and _near(pre.inputs[0], 1 / _SQRT2):
        x = pre.inputs[1]
    else:
        return None
    add = _plus_one(graph, erf.outputs[0])
    if add is None:
        return None
    tail = _tail(graph, add.outputs[0], x)
    if tail is None:
        return None
    return x, [pre, erf, add, *tail[0]], tail[1]


def _cube_of(graph: Graph, v: Value) -> tuple[Value, list[Node]] | None:
    """(x, nodes) when ``v`` is ``Pow(x, 3)``, ``x * (x * x)`` or ``(x * x) * x``."""
    p = v.producer()
    if is_op(p, "Pow") and _near(p.inputs[1], 3.0):
        return p.inputs[0], [p]
    if not is_op(p, "Mul"):
        return None
    for sq_in, x in ((p.inputs[0], p.inputs[1]), (p.inputs[1], p.inputs[0])):
        sq = _producer_if(graph, sq_in, "Mul")
        if sq is not None and sq.inputs[0] is x and sq.inputs[1] is x:
            return x, [sq, p]
    return None


def _match_tanh(graph: Graph, tanh: Node) -> tuple[Value, list[Node], Value] | None:
    w = tanh.inputs[0]
    scale = _producer_if(graph, w, "Mul")
    if scale is None:
        return None
    if _near(scale.inputs[1], _SQRT_2_OVER_PI):
        inner_v = scale.inputs[0]
    elif _near(scale.inputs[0], _SQRT_2_OVER_PI):
        inner_v = scale.inputs[1]
    else:
        return None
    inner = _producer_if(graph, inner_v, "Add")
    if inner is None:
        return None
    for x, cubic_v in ((inner.inputs[0], inner.inputs[1]), (inner.inputs[1], inner.inputs[0])):
        cm = _producer_if(graph, cubic_v, "Mul")
        if cm is None:
            continue
        for c, x3 in ((cm.inputs[0], cm.inputs[1]), (cm.inputs[1], cm.inputs[0])):
            if not _near(c, 0.044715) or x3 is None or sole_reader(graph, x3) is not cm:
                continue
            cube = _cube_of(graph, x3)
            if cube is None or cube[0] is not x:
                continue
            add = _plus_one(graph, tanh.outputs[0])
            tail = _tail(graph, add.outputs[0], x) if add is not None else None
            if tail is None:
                return None
            return x, [*cube[1], cm, inner, scale, tanh, add, *tail[0]], tail[1]
    return None


class FuseGelu(Pass):
    """Rewrite GELU (exact or tanh) into the Gelu op."""

    name = "fuse_gelu"

    def __init__(self, level: str = "extended") -> None:
        self.level = level

    def apply(self, graph: Graph, model: Model, opsets: dict[str, int]) -> bool:
        if opset_of(opsets) < 20 and self.level != "runtime":
            return False
        changed = False
        for node in graph:
            if node.graph is not graph:
                continue        # removed by an earlier rewrite in this loop
            if is_op(node, "Erf"):
                found, approximate = _match_erf(graph, node), "none"
            elif is_op(node, "Tanh"):
                found, approximate = _match_tanh(graph, node), "tanh"
            else:
                continue
            if found is None:
                continue
            x, nodes, out = found
            if x.dtype is not None and x.dtype not in FLOAT_TYPES:
                continue
            domain = fused_domain(graph, model, opsets, 20, self.level)
            if domain is None:
                continue
            last = out.producer()
            gelu = Node("Gelu", [x], [Value(out.name, out.type)], domain=domain,
                        name=last.name or out.name or "gelu",
                        attributes={"approximate": approximate} if approximate != "none" else {})
            graph.insert_before(last, gelu)
            replace_value(graph, out, gelu.outputs[0])
            remove_nodes(graph, nodes)
            changed = True
        return changed

