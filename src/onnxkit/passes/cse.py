"""Common subexpression elimination: compute each distinct thing once.

Two nodes of one graph with the same domain, op, overload, attributes and
input values compute the same outputs, so the later one's readers can read
the earlier one's outputs and the later node goes.  One forward sweep merges
whole chains (once two nodes merge, their readers have the same inputs).

First, identical small initializers (up to :data:`SMALL` bytes, same element
type, shape and bytes; not graph inputs) merge into the first of them, so
nodes reading two copies of one constant become equal too; Constant nodes
merge as ordinary nodes (their tensor attribute compared by bytes).  Large
weights are never read: a tensor over :data:`SMALL` bytes makes a node or
initializer distinct.

Not merged: random ops (two draws are not one), nodes with subgraphs, nodes
without outputs, and a node whose outputs the graph outputs when the earlier
node's are graph outputs too (both names must stay).
"""

from __future__ import annotations

from typing import Any

from ..ir import Graph, Node, Value
from ..ir._tensor import TensorBase
from ._base import Pass, output_elsewhere, replace_value
from .constant_folding import RANDOM_OPS

__all__ = ["CommonSubexpressions", "SMALL"]

#: the largest tensor, in bytes, whose contents are compared
SMALL = 4096


class _Distinct(Exception):
    """A node that can equal no other (an attribute too large to compare)."""


class CommonSubexpressions(Pass):
    """Merge equal nodes and equal small initializers."""

    name = "cse"

    def apply(self, graph: Graph, model, opsets: dict[str, int]) -> bool:
        changed = self._merge_initializers(graph)
        seen: dict[tuple, Node] = {}
        for node in graph:
            key = _node_key(node)
            if key is None:
                continue
            first = seen.get(key)
            if first is None:
                seen[key] = node
                continue
            if self._merge(graph, first, node):
                changed = True
        return changed

    @staticmethod
    def _merge(graph: Graph, first: Node, dup: Node) -> bool:
        for a, b in zip(first.outputs, dup.outputs):
            if output_elsewhere(graph, b) or (b.is_graph_output(graph) and a.is_graph_output(graph)):
                return False
            if b.is_graph_output(graph) and not a.name:
                return False
        for a, b in zip(first.outputs, dup.outputs):
            replace_value(graph, b, a)
        graph.remove(dup, safe=False)
        return True

    @staticmethod
    def _merge_initializers(graph: Graph) -> bool:
        seen: dict[tuple, Value] = {}
        changed = False
        for v in list(graph.initializers.values()):
            t = v.const_value
            if t is None or v.is_graph_input(graph) or _nbytes(t) > SMALL:
                continue
            key = _tensor_key(t)
            first = seen.get(key)
            if first is None:
                seen[key] = v
                continue
            if not v.uses() or v.is_graph_output():
                continue
            v.replace_all_uses_with(first)
            changed = True
        return changed


def _node_key(node: Node) -> tuple | None:
    if not node.outputs or node.op_type in RANDOM_OPS:
        return None
    try:
        attrs = tuple(sorted((name, a.type, a.ref_attr_name, _freeze(a.value))
                             for name, a in node.attributes.items()))
    except _Distinct:
        return None
    return (node.domain or "", node.op_type, node.overload or "", len(node.outputs),
            tuple(id(v) if v is not None else None for v in node.inputs), attrs)


def _freeze(x: Any) -> Any:
    """A hashable stand-in for an attribute value that compares like it."""
    if isinstance(x, Graph):
        raise _Distinct
    if isinstance(x, TensorBase):
        if _nbytes(x) > SMALL:
            raise _Distinct
        return _tensor_key(x)
    if isinstance(x, list):
        return tuple(_freeze(y) for y in x)
    if isinstance(x, float):
        return ("f", x)          # 1.0 and 1 are different attributes
    try:
        hash(x)
    except TypeError:
        raise _Distinct from None
    return x


def _nbytes(t: TensorBase) -> int:
    """The tensor's size in bytes, without reading it (strings: 8 per element)."""
    try:
        return t.nbytes
    except Exception:
        return 8 * t.size


def _tensor_key(t: TensorBase) -> tuple:
    a = t.numpy()
    return (int(t.dtype), tuple(a.shape), a.dtype.str, a.tobytes() if a.dtype.kind != "O"
            else tuple(map(repr, a.reshape(-1))))
