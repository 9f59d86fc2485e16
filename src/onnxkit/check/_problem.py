"""A problem the checker found, and where: the graph, the node, the value."""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Node

__all__ = ["Problem", "Where"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One rule a model breaks.

    ``message`` says what is wrong and what to do; ``where`` names the graph
    (``graph 'main'``, a subgraph by its path, or a function), ``node_index``,
    ``node_name`` and ``op_type`` the node (None for graph-level problems) and
    ``value`` the value concerned, if any.  ``code`` is a short stable
    category (``undefined-input``, ``unknown-attribute`` ...) for programs.
    """

    code: str
    message: str
    where: str = ""
    node_index: int | None = None
    node_name: str | None = None
    op_type: str | None = None
    value: str | None = None

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message

    @property
    def location(self) -> str:
        parts = [self.where] if self.where else []
        if self.node_index is not None:
            name = f" {self.node_name!r}" if self.node_name else ""
            parts.append(f"node {self.node_index}{name} ({self.op_type or '?'})")
        return ", ".join(parts)


class Where:
    """A place in the model problems are reported against: a graph (by path)
    and optionally one node of it."""

    __slots__ = ("graph", "index", "node")

    def __init__(self, graph: str, index: int | None = None, node: Node | None = None) -> None:
        self.graph = graph
        self.index = index
        self.node = node

    def at(self, index: int, node: Node) -> Where:
        return Where(self.graph, index, node)

    def sub(self, attr: str, graph_name: str) -> str:
        """The path of a subgraph held by attribute ``attr`` of this node."""
        n = self.node
        label = f"node {self.index}" + (f" {n.name!r}" if n is not None and n.name else "")
        op = n.op_type if n is not None else "?"
        return f"{self.graph} > {label} ({op}).{attr} graph {graph_name!r}"

    def problem(self, code: str, message: str, value: str | None = None) -> Problem:
        n = self.node
        if n is None:
            return Problem(code, message, self.graph, value=value)
        return Problem(code, message, self.graph, self.index, n.name or None, n.op_type, value)
