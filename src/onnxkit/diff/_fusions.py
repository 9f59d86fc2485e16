"""Fusions: which group of removed nodes became which added nodes.

Found by the dataflow, not by names.  Added nodes of B that feed each other
through values A does not have form *units* (usually one fused node).  A
unit stands between values both models have: its outputs are read, at some
input slot of a matched node (or as a graph output), where A read a removed
node's output, or keep the name of the A value they replace; its inputs are
matched values.  Walking A backwards from those end values through removed
nodes, stopping at the unit's inputs and at matched nodes, gives the removed
nodes the unit replaced: a *fusion* (the nine nodes of a layer norm became a
LayerNormalization).  Removed nodes reached from several units (a mask
computed once for twelve attention layers) form one group of their own.

What is left of the removed nodes is grouped into connected regions and
classified by what B reads in their place: a new initializer (*folded*), a
matched node of the same op (*merged*: a common subexpression), one of the
region's own inputs (*bypassed*: an identity or no-op), nothing (*dead*
code).  Other removed or added nodes stay plain removals and additions.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..ir import Graph, Node, Value
from ._match import Matcher, input_pairs, op_key

#: kind -> the label of a group with no added nodes
_LABELS = {"folded": "constant", "merged": "common subexpression", "bypassed": "bypassed",
           "dead": "dead code"}


@dataclass
class Group:
    kind: str                                   # fusion, folded, merged, bypassed, dead
    removed: list[Node] = field(default_factory=list)
    added: list[Node] = field(default_factory=list)
    initializers: list[str] = field(default_factory=list)
    shared_by: int = 0                          # units that share these removed nodes

    @property
    def label(self) -> str:
        if self.kind != "fusion":
            return _LABELS[self.kind]
        ops = [n.op_type for n in self.added if n.op_type != "Constant"] or ["Constant"]
        kinds = Counter(ops)
        if len(kinds) <= 4:
            text = " + ".join(kinds)
        else:                           # a rewrite, not one fused op: say what it is made of
            top = ", ".join(f"{op} {k}" if k > 1 else op for op, k in kinds.most_common(3))
            text = f"{len(ops)} nodes ({top}, ...)"
        return f"{text} (shared by {self.shared_by})" if self.shared_by > 1 else text


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        root = x
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while self.parent.get(x, x) != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, x: int, y: int) -> None:
        rx, ry = self.find(x), self.find(y)
        if rx != ry:
            self.parent[rx] = ry


def find_groups(m: Matcher, ga: Graph, gb: Graph) -> list[Group]:
    removed = [n for n in ga if id(n) not in m.pair]
    added = [n for n in gb if id(n) not in m.rpair]
    if not removed:
        return []
    rem_ids = {id(n) for n in removed}

    # B value -> the A values read in its place (matched consumers, graph outputs, same name)
    a_by_name: dict[str, Value] = {}
    for v in ga.values():
        if v.name and id(v) not in m.vmap:
            a_by_name.setdefault(v.name, v)
    instead: dict[int, list[Value]] = {}
    for va, vb in _slots(m, ga, gb):
        if va is not None and vb is not None and m.vmap.get(id(va)) is not vb:
            instead.setdefault(id(vb), []).append(va)

    def counterparts(vb: Value) -> list[Value]:
        mapped = m.rmap.get(id(vb))
        if mapped is not None:
            return [mapped]
        out = list(instead.get(id(vb), ()))
        named = a_by_name.get(vb.name) if vb.name else None
        if named is not None and named not in out:
            out.append(named)
        return out

    units = _units(m, gb, added, counterparts)
    claims: dict[int, list[int]] = {}           # id(A node) -> units whose cone holds it
    for k, unit in enumerate(units):
        inside = {id(n) for n in unit}
        starts = {id(va) for n in unit for v in n.inputs if v is not None
                  and (v.producer() is None or id(v.producer()) not in inside) for va in counterparts(v)}
        stack = [va.producer() for n in unit for v in n.outputs for va in counterparts(v)]
        seen: set[int] = set()
        while stack:
            p = stack.pop()
            if p is None or id(p) not in rem_ids or id(p) in seen:
                continue
            seen.add(id(p))
            claims.setdefault(id(p), []).append(k)
            for v in p.inputs:
                if v is not None and id(v) not in starts:
                    stack.append(v.producer())

    groups: list[Group] = []
    by_units: dict[tuple[int, ...], Group] = {}
    for n in removed:
        ks = claims.get(id(n))
        if ks:
            key = tuple(ks)
            g = by_units.get(key)
            if g is None:
                g = by_units[key] = Group("fusion", shared_by=len(ks))
                for k in ks:
                    g.added.extend(units[k])
            g.removed.append(n)
    groups += by_units.values()
    groups += _leftovers(m, ga, gb, [n for n in removed if id(n) not in claims])
    return groups


def _slots(m: Matcher, ga: Graph, gb: Graph) -> list[tuple[Value | None, Value | None]]:
    """(A value, B value) read at the same place: matched nodes' input slots, graph outputs."""
    out: list[tuple[Value | None, Value | None]] = []
    for a in ga:
        b = m.pair.get(id(a))
        if b is not None:
            out.extend((va, vb) for _, va, vb in input_pairs(a, b, m.rmap))
    out.extend(zip(ga.outputs, gb.outputs))
    return out


def _units(m: Matcher, gb: Graph, added: list[Node], counterparts) -> list[list[Node]]:
    """Added nodes joined where one feeds another through a value A has no counterpart of."""
    uf = _UnionFind()
    ids = {id(n) for n in added}
    for n in added:
        for v in n.inputs:
            p = v.producer() if v is not None else None
            if p is not None and id(p) in ids and not counterparts(v):
                uf.union(id(n), id(p))
    units: dict[int, list[Node]] = {}
    for n in added:
        units.setdefault(uf.find(id(n)), []).append(n)
    return list(units.values())


def _leftovers(m: Matcher, ga: Graph, gb: Graph, rest: list[Node]) -> list[Group]:
    """Regions of removed nodes no fusion claimed, classified by what B reads in their place."""
    if not rest:
        return []
    ids = {id(n) for n in rest}
    uf = _UnionFind()
    for n in rest:
        for v in n.inputs:
            p = v.producer() if v is not None else None
            if p is not None and id(p) in ids:
                uf.union(id(n), id(p))
    regions: dict[int, list[Node]] = {}
    for n in rest:
        regions.setdefault(uf.find(id(n)), []).append(n)
    reasons: dict[int, Counter] = {r: Counter() for r in regions}
    folded: dict[int, list[str]] = {}
    region_inputs: dict[int, set[int]] = {}
    for r, nodes in regions.items():
        region_inputs[r] = {id(v) for n in nodes for v in n.inputs if v is not None}
    for va, vb in _slots(m, ga, gb):
        p = va.producer() if va is not None else None
        if p is None or id(p) not in ids or vb is None:
            continue
        r = uf.find(id(p))
        u = m.rmap.get(id(vb))
        if vb.is_initializer() and u is None:
            reasons[r]["folded"] += 1
            names = folded.setdefault(r, [])
            if vb.name and vb.name not in names:
                names.append(vb.name)
        elif u is not None and id(u) in region_inputs[r]:
            reasons[r]["bypassed"] += 1
        elif u is not None and u.producer() is not None and op_key(u.producer()) == op_key(p):
            reasons[r]["merged"] += 1
        else:
            reasons[r]["other"] += 1
    out = []
    for r, nodes in regions.items():
        c = reasons[r]
        if not c:
            kind = "dead"
        else:
            order = ("folded", "merged", "bypassed", "other")
            kind = max(order, key=lambda k: (c[k], -order.index(k)))
            if kind == "other":
                continue                        # plain removals
        out.append(Group(kind, removed=nodes, initializers=folded.get(r, []) if kind == "folded" else []))
    return out
