"""Fusion patterns written as the computation they match.

A pattern is a small function over an op builder and placeholders, the way
the model computes it::

    def softplus(op, x):
        return op.Log(op.Add(op.Exp(x), 1.0))

    SOFTPLUS = Pattern(softplus)
    m = SOFTPLUS.match(graph, node)          # node: a candidate for the last op (Log)
    if m is not None:
        m["x"], m.nodes                      # the value bound to x, the matched nodes

Matching walks use-def links back from the candidate, never names: an op in
the pattern matches a standard-domain node of that type in the same graph
whose inputs match the pattern's inputs in order (either order for the
commutative Add and Mul, unless ``_commute=False``); a placeholder binds any
value from outside the match (one that ``where[name](value)`` accepts, when
given), the same one at each of its uses; a number matches a constant holding that one number
(``near(x)``: within a relative 1e-4 of it, as exporters round constants
differently); :data:`ANY` matches anything, an absent optional input included.  ``_as="name"`` names a
matched node (``m.node("name")``).  Every value computed inside the match
except the last must be read by the matched nodes only and be no graph's
output: the nodes may then be replaced as a whole.
"""

from __future__ import annotations

import inspect
from typing import Callable

from ..ir import Graph, Node, Value
from ._base import is_onnx_op
from ._match import scalar_of

__all__ = ["ANY", "Match", "Pattern", "near"]

_COMMUTATIVE = frozenset({"Add", "Mul"})


class _Any:
    def __repr__(self) -> str:
        return "ANY"


#: matches any value, an absent optional input included
ANY = _Any()


class _Near:
    __slots__ = ("value", "rel")

    def __init__(self, value: float, rel: float) -> None:
        self.value, self.rel = value, rel


def near(value: float, rel: float = 1e-4) -> _Near:
    """Matches a constant holding one number within ``rel`` (relative) of ``value``."""
    return _Near(value, rel)


class _Var:
    __slots__ = ("name", "test")

    def __init__(self, name: str, test: Callable[[Value], bool] | None) -> None:
        self.name, self.test = name, test


class _Op:
    __slots__ = ("op_type", "inputs", "name", "commute")

    def __init__(self, op_type: str, inputs: tuple, name: str | None, commute: bool) -> None:
        self.op_type, self.inputs, self.name = op_type, inputs, name
        self.commute = commute and op_type in _COMMUTATIVE and len(inputs) == 2


class _Builder:
    """``op.Sub(a, b, _as="sub")`` -> a pattern node."""

    def __getattr__(self, op_type: str) -> Callable[..., _Op]:
        return lambda *inputs, _as=None, _commute=True: _Op(op_type, inputs, _as, _commute)


class Match:
    """What a pattern matched: ``m[placeholder]`` values, ``m.node(name)``, ``m.nodes``."""

    __slots__ = ("values", "_named", "_nodes")

    def __init__(self, values: dict, named: dict, nodes: dict) -> None:
        self.values: dict[str, Value] = values
        self._named: dict[str, Node] = named
        self._nodes: dict[Node, _Op] = nodes

    def __getitem__(self, placeholder: str) -> Value:
        return self.values[placeholder]

    def get(self, placeholder: str) -> Value | None:
        """The value bound to ``placeholder``; None when this variant does not use it."""
        return self.values.get(placeholder)

    def node(self, name: str) -> Node:
        return self._named[name]

    @property
    def nodes(self) -> list[Node]:
        """The matched nodes, the last op last."""
        return list(reversed(self._nodes))


class Pattern:
    """A pattern from ``fn(op, *placeholders, **options)`` (see the module's
    docstring); ``options`` choose among variants of one computation."""

    def __init__(self, fn: Callable[..., _Op], *, where: dict[str, Callable[[Value], bool]] | None = None,
                 **options) -> None:
        names = [n for n in list(inspect.signature(fn).parameters)[1:] if n not in options]
        self.placeholders = names
        self.root = fn(_Builder(), *(_Var(n, (where or {}).get(n)) for n in names), **options)

    def match(self, graph: Graph, node: Node) -> Match | None:
        """The match whose last op is ``node``, or None."""
        st = _State(graph, {}, {}, {})
        st = _node(self.root, node, st)
        if st is None or not _self_contained(st, node):
            return None
        return Match(st.values, st.named, st.nodes)


class _State:
    __slots__ = ("graph", "values", "named", "nodes")

    def __init__(self, graph: Graph, values: dict, named: dict, nodes: dict) -> None:
        self.graph, self.values, self.named, self.nodes = graph, values, named, nodes

    def copy(self) -> _State:
        return _State(self.graph, dict(self.values), dict(self.named), dict(self.nodes))


def _value(p, v: Value | None, st: _State) -> _State | None:
    if p is ANY:
        return st
    if isinstance(p, _Var):
        if p.name in st.values:
            return st if st.values[p.name] is v else None
        if v is None or (p.test is not None and not p.test(v)):
            return None
        st.values[p.name] = v
        return st
    if isinstance(p, (int, float)):
        return st if scalar_of(v) == p else None
    if isinstance(p, _Near):
        s = scalar_of(v)
        return st if s is not None and abs(s - p.value) <= p.rel * abs(p.value) else None
    n = v.producer() if v is not None else None
    if n is None or v is not n.outputs[0]:
        return None
    return _node(p, n, st)


def _node(p: _Op, n: Node, st: _State) -> _State | None:
    seen = st.nodes.get(n)
    if seen is not None:
        return st if seen is p else None
    if not is_onnx_op(n, p.op_type) or n.graph is not st.graph or len(n.inputs) > len(p.inputs):
        return None
    st.nodes[n] = p
    if p.name:
        st.named[p.name] = n
    ins = list(n.inputs) + [None] * (len(p.inputs) - len(n.inputs))
    orders = [ins, ins[::-1]] if p.commute else [ins]
    for order in orders:
        trial = st.copy() if len(orders) > 1 else st
        for q, v in zip(p.inputs, order):
            trial = _value(q, v, trial)
            if trial is None:
                break
        if trial is not None:
            return trial
    return None


def _self_contained(st: _State, root: Node) -> bool:
    """Every value made inside the match but the root's is read there only, and
    no placeholder stands for a value made inside it."""
    nodes = st.nodes
    if any(v.producer() in nodes for v in st.values.values()):
        return False
    for n in nodes:
        if n is root:
            continue
        for v in n.outputs:
            if v.is_graph_output() or any(c not in nodes for c in v.consumers()):
                return False
    return True
