"""Cut a model down to the part that computes some values from others.

The walk goes backwards from the wanted outputs and stops at the given
inputs; initializers it reaches are kept, a graph input it reaches that is
not among the given ones is the error (named, with the path that led to it).
Nodes that own subgraphs count the outer values their bodies read as inputs,
so an If or Loop is kept with everything its branches need.  Nothing is
computed and no tensor is read: the result is the same model with fewer
nodes, its weights shared.
"""

from __future__ import annotations

from typing import Sequence

from ..errors import EditError
from ..ir import Model, Node, Value
from ..ir._core import _node_reads
from ._common import finish, fully_typed, lookup, start

__all__ = ["extract"]


def extract(model: Model, inputs: Sequence[str], outputs: Sequence[str], *,
            inplace: bool = False, check: bool = True) -> Model:
    """The part of ``model`` that computes ``outputs`` from ``inputs`` (value
    names of the main graph: graph inputs, initializers or node outputs).

    The result's inputs are ``inputs`` (in that order), its outputs
    ``outputs``; it keeps the nodes, initializers and functions they need and
    shares the weights with ``model`` (``inplace=True``: ``model`` itself is
    cut).  Raises :class:`~onnxkit.errors.EditError` for an unknown name, or
    naming the first value that cannot be computed from ``inputs`` and the
    chain of values that needs it.  Types of the new inputs and outputs come
    from the model's value_info, else from shape inference.
    """
    if isinstance(inputs, str) or isinstance(outputs, str):
        raise EditError("inputs and outputs are lists of value names, not one string")
    if not outputs:
        raise EditError("extract needs at least one output")
    for what, names in (("input", inputs), ("output", outputs)):
        dup = next((n for i, n in enumerate(names) if n in names[:i]), None)
        if dup is not None:
            raise EditError(f"{what} {dup!r} is named twice")
    m = start(model, inplace)
    g = m.graph
    ins = lookup(g, inputs, "input")
    outs = lookup(g, outputs, "output")
    if any(not fully_typed(v) for v in (*ins, *outs)):
        _type_boundary(m, [*ins, *outs])

    needed = _needed_nodes(g, ins, outs)
    # a new input that some node produced becomes a plain graph input
    stand_ins: dict[int, Value] = {}
    for v in ins:
        if v.producer() is not None or v.is_initializer():
            new = Value(v.name, v.type, doc_string=v.doc_string)
            stand_ins[id(v)] = new
            v.replace_all_uses_with(new)
            if v.producer() is not None and id(v.producer()) in needed:
                v.name = _free_name(g, f"{v.name}__cut")   # its node stays for another output
    new_ins = [stand_ins.get(id(v), v) for v in ins]
    new_outs = [stand_ins.get(id(v), v) for v in outs]

    for n in reversed(g.nodes):
        if id(n) not in needed:
            g.remove(n, safe=False)
    g.inputs = new_ins
    g.outputs = new_outs
    _prune_initializers(g, {id(v) for v in new_ins})
    kept = {id(v) for v in g.values()}
    names = {v.name for v in g.values()}
    g.value_info = [v for v in g.value_info
                    if id(v) in kept or (v.producer() is None and v.name in names)]
    _prune_functions(m)
    return finish(m, check)


def _type_boundary(m: Model, values: list[Value]) -> None:
    """Give the new interface values the types inference finds (on the whole
    model: the values feeding them are about to go)."""
    from ..infer import infer_shapes, types_restored

    with types_restored(m):
        infer_shapes(m)
        found = {id(v): v.type for v in values}
    for v in values:
        if not fully_typed(v) and found[id(v)] is not None:
            v.type = found[id(v)]
    for v in values:
        if not fully_typed(v):
            raise EditError(f"value {v.name!r} has no type in the model and shape inference "
                            "could not tell it; add it to value_info (onnxkit infer) first")


def _needed_nodes(g, ins: list[Value], outs: list[Value]) -> dict[int, Node]:
    stop = {id(v) for v in ins}
    needed: dict[int, Node] = {}
    # (value, the value that needed it) to say why, when it cannot be computed
    why: dict[int, Value | None] = {}
    stack = [(v, None) for v in reversed(outs)]
    while stack:
        v, by = stack.pop()
        if id(v) in why:
            continue
        why[id(v)] = by
        if id(v) in stop:
            continue
        p = v.producer()
        if p is None:
            if v.is_initializer() and v.name in g.initializers and g.initializers[v.name] is v:
                continue
            chain = [v.name]
            u = by
            while u is not None:
                chain.append(u.name)
                u = why[id(u)]
            kind = "a graph input" if v.is_graph_input(g) else "a value without a producer"
            given = ", ".join(repr(i.name) for i in ins) or "none"
            raise EditError(
                f"{chain[-1]!r} cannot be computed from the given inputs ({given}): it needs "
                f"{v.name!r}, {kind} not among them (through {' <- '.join(repr(c) for c in chain)}); "
                f"add {v.name!r} to the inputs")
        if id(p) in needed:
            continue
        needed[id(p)] = p
        stack.extend((u, v) for u in _node_reads(p))
    return needed


def _prune_initializers(g, inputs: set[int]) -> None:
    read = {id(v) for n in g for v in _node_reads(n)}
    read |= {id(v) for v in g.outputs}
    for name, v in list(g.initializers.items()):
        if id(v) not in read and id(v) not in inputs:
            del g.initializers[name]


def _prune_functions(m: Model) -> None:
    """Keep the model-local functions still called (directly or by another kept one)."""
    if not m.functions:
        return
    by_id = {f.identifier: f for f in m.functions}
    used: set = set()
    todo = [m.graph]
    while todo:
        graph = todo.pop()
        for n in graph.all_nodes():
            key = (n.domain, n.op_type, n.overload)
            f = by_id.get(key)
            if f is not None and key not in used:
                used.add(key)
                todo.append(f.graph)
    m.functions = [f for f in m.functions if f.identifier in used]


def _free_name(g, base: str) -> str:
    names = {v.name for sub in g.all_graphs() for v in sub.values()}
    name, i = base, 1
    while name in names:
        name, i = f"{base}{i}", i + 1
    return name
