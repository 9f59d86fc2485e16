"""Rename values and nodes.

A node reads a :class:`~onnxkit.ir.Value` object, not a name, so renaming the
value renames it for every reader at once, in every subgraph (If branches,
Loop and Scan bodies read outer values directly).  What is keyed by name is
updated here: the initializer table, detached value_info descriptions and
quantization annotations.
"""

from __future__ import annotations

from typing import Mapping

from ..errors import EditError
from ..ir import Graph, Model, Node, Value
from ._common import finish, start, unknown

__all__ = ["rename", "apply_renames", "names_in"]


def rename(model: Model, mapping: Mapping[str, str], *, inplace: bool = False,
           check: bool = True) -> Model:
    """``model`` with values and nodes renamed by ``mapping`` (old name -> new).

    A name is looked up among the values (graph inputs and outputs,
    initializers, node outputs) and node names of the main graph and of every
    subgraph; when it names both a value and a node, both are renamed.
    Swaps (``{"a": "b", "b": "a"}``) work.  Raises
    :class:`~onnxkit.errors.EditError` for an unknown name, an empty new name,
    or a new name that is taken by a value (or node) that keeps its name.
    """
    m = start(model, inplace)
    values: dict[str, list[Value]] = {}
    nodes: dict[str, list[Node]] = {}
    for g in m.graph.all_graphs():
        for v in g.values():
            if v.name:
                lst = values.setdefault(v.name, [])
                if not any(x is v for x in lst):
                    lst.append(v)
        for n in g:
            if n.name:
                nodes.setdefault(n.name, []).append(n)
    vmap: dict[Value, str] = {}
    nmap: dict[Node, str] = {}
    for old, new in mapping.items():
        if not isinstance(new, str) or not new:
            raise EditError(f"cannot rename {old!r} to {new!r}: a new name must be a non-empty string")
        if old not in values and old not in nodes:
            raise unknown("value or node", old, [*values, *nodes])
        for v in values.get(old, ()):
            vmap[v] = new
        for n in nodes.get(old, ()):
            nmap[n] = new
    _refuse_collisions(values, vmap, "value")
    _refuse_collisions(nodes, nmap, "node")
    apply_renames(m.graph, vmap, nmap)
    return finish(m, check)


def _refuse_collisions(existing: dict[str, list], renamed: dict, kind: str) -> None:
    final: dict[str, tuple] = {}
    for name, objs in existing.items():
        for o in objs:
            new = renamed.get(o, name)
            other = final.get(new)
            if other is not None and other[0] is not o and (o in renamed or other[0] in renamed):
                raise EditError(f"renaming would give two {kind}s the name {new!r} (now "
                                f"{other[1]!r} and {name!r}); choose another name")
            final[new] = (o, name)


def apply_renames(graph: Graph, vmap: Mapping[Value, str], nmap: Mapping[Node, str]) -> None:
    """Rename the values and nodes of ``graph`` and its subgraphs (no checks)."""
    if not vmap and not nmap:
        return
    by_old = {v.name: new for v, new in vmap.items()}
    for g in graph.all_graphs():
        if any(v in vmap for v in g.initializers.values()):
            g.initializers = {vmap.get(v, k): v for k, v in g.initializers.items()}
        for v in g.value_info:   # detached descriptions carry the name of what they describe
            if v not in vmap and v.producer() is None and v.name in by_old \
                    and not v.is_graph_input() and v.const_value is None:
                v.name = by_old[v.name]
        if g.quantization_annotation:
            g.quantization_annotation = [(by_old.get(name, name), entries)
                                         for name, entries in g.quantization_annotation]
        for n in g:
            if n in nmap:
                n.name = nmap[n]
    for v, new in vmap.items():
        v.name = new     # (a shared tensor keeps its own name: saving writes the value's)


def names_in(graph: Graph) -> tuple[set[str], set[str]]:
    """(value names, node names) of ``graph`` and its subgraphs."""
    values: set[str] = set()
    nodes: set[str] = set()
    for g in graph.all_graphs():
        values.update(v.name for v in g.values() if v.name)
        values.update(v.name for v in g.outputs if v.name)
        nodes.update(n.name for n in g if n.name)
    return values, nodes
