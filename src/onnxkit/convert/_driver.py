"""The conversion driver: every node of every graph stepped, one schema
version at a time, from the model's opset to the target.

Going up, a node at version ``v`` takes each step ``s`` (a ``since_version``
of its op with ``v < s <= target``) through the adapter registered for
``(domain, op, s)``.  Going down, it takes the step of the schema in force
back to the version before it, until the schema in force is no newer than the
target.  An op that did not exist yet at the target is expanded through its
function body (where the schema gives one) or an adapter of its first
version, else refused.  Nodes an adapter adds are stepped the same way from
the version they were made at.  Finally every node that moved down is checked
against the target schema's types (a node that only moves, selects or
compares values runs in an exact wider type between Casts where its own type
is not allowed there).
"""

from __future__ import annotations

import itertools

import numpy as np

from ..defs import get_schema, schema_versions
from ..ir import AttributeType, Graph, Model, Node, Value
from ..ir._domain import normalize_domain
from ._context import Refuse, Step
from ._errors import Refusal
from ._registry import lookup
from ._types import TypeUniverse, check_node_types, propagate_types

__all__ = ["Converter"]

CONVERTED_DOMAINS = ("", "ai.onnx.ml")


class Converter:
    def __init__(self, model: Model, src: dict[str, int], dst: dict[str, int]) -> None:
        self.model = model
        self.src = src
        self.dst = dst
        self.refusals: list[Refusal] = []
        #: (old, new): values an adapter displaced and those that took their place
        self.moved: list[tuple[Value, Value]] = []
        self._names = {v.name for g in model.all_graphs() for v in g.values() if v.name}
        self._names |= {n.name for g in model.all_graphs() for n in g if n.name}
        self._counter = itertools.count()
        self.universe = TypeUniverse(model)

    # ------------------------------------------------------------ helpers for adapters
    def fresh_name(self, base: str) -> str:
        while True:
            name = f"{base}_cv{next(self._counter)}"
            if name not in self._names:
                self._names.add(name)
                return name

    def const_value(self, v: Value | None) -> np.ndarray | None:
        if v is None:
            return None
        p = v.producer()
        if p is None:
            if v.const_value is not None and not v.is_graph_input():
                return v.const_value.numpy()
            return None
        if p.op_type != "Constant" or normalize_domain(p.domain) != "":
            return None
        for name, a in p.attributes.items():
            if a.ref_attr_name:
                return None
            if name == "value":
                return a.value.numpy()
            if name in ("value_float", "value_floats"):
                return np.asarray(a.value, np.float32)
            if name in ("value_int", "value_ints"):
                return np.asarray(a.value, np.int64)
        return None

    def drop_if_unused(self, graph: Graph, v: Value) -> None:
        """Remove a Constant node or initializer nothing reads any more."""
        if v.uses() or v.is_graph_output() or v.is_graph_input():
            return
        p = v.producer()
        if p is not None and p.op_type == "Constant" and p.graph is not None:
            p.graph.remove(p)
        elif p is None and v.name in graph.initializers and graph.initializers[v.name] is v:
            del graph.initializers[v.name]

    def settle_moved(self) -> None:
        """After the types are restored: a displaced value's declared type and
        value_info entry go to the value that took its place; its own type,
        which no longer holds, is cleared."""
        new_for = {id(old): new for old, new in self.moved}

        def final(v: Value) -> Value:
            while id(v) in new_for:      # replaced more than once
                v = new_for[id(v)]
            return v
        listed: set[int] = set()
        for g in self.model.all_graphs():
            if any(id(v) in new_for for v in g.value_info):
                for v in g.value_info:
                    if id(v) in new_for:
                        new = final(v)
                        if v.type is not None:
                            new.type = v.type
                        listed.add(id(new))
                g.value_info = [final(v) for v in g.value_info]
        for old, _ in self.moved:
            if id(old) not in listed:
                old.type = None

    # ------------------------------------------------------------ walking
    def run(self) -> list[Refusal]:
        m = self.model
        self._graph(m.graph, "main graph", self.src, self.dst)
        for k, t in enumerate(m.training_info):
            for label, g in (("initialization", t.initialization), ("algorithm", t.algorithm)):
                if g is not None:
                    self._graph(g, f"training_info[{k}] {label}", self.src, self.dst)
        for f in m.functions:
            fsrc = {normalize_domain(d): v for d, v in (f.opset_imports or self.src).items()}
            fdst = {d: self.dst.get(d, v) for d, v in fsrc.items()}
            self._graph(f.graph, f"function {f.domain}.{f.name}", fsrc, fdst)
            f.opset_imports = {d: fdst.get(normalize_domain(d), v) for d, v in f.opset_imports.items()}
        return self.refusals

    def _graph(self, g: Graph, where: str, src: dict[str, int], dst: dict[str, int]) -> None:
        nodes = list(enumerate(g))
        # Constants last: an adapter may take one's value as an attribute and drop it
        nodes = [p for p in nodes if p[1].op_type != "Constant"] + \
                [p for p in nodes if p[1].op_type == "Constant"]
        for index, node in nodes:
            if node.graph is not g:
                continue
            for a in node.attributes.values():
                for k, sub in enumerate(a.subgraphs()):
                    label = f"{a.name}[{k}]" if a.type == AttributeType.GRAPHS else a.name
                    self._graph(sub, f"{where} > node {index} ({node.op_type}) {label}", src, dst)
            dom = normalize_domain(node.domain)
            if dom not in CONVERTED_DOMAINS or dom not in src or src[dom] == dst.get(dom, src[dom]):
                continue
            try:
                self.convert_node(g, node, src[dom], dst[dom])
            except Refuse as r:
                self.refusals.append(Refusal(where, index, node.name, node.op_type, r.reason,
                                             r.lowest, r.highest))

    def convert_node(self, g: Graph, node: Node, at: int, to: int) -> None:
        """Step ``node`` (at opset ``at`` of its domain) to opset ``to``; nodes
        added on the way are stepped too.  Raises Refuse."""
        work = [(node, at)]
        while work:
            n, v = work.pop(0)
            n, added = self._step(g, n, v, to)
            work.extend(added)

    def _step(self, g: Graph, n: Node, v: int, to: int) -> tuple[Node, list]:
        dom = normalize_domain(n.domain)
        added: list = []
        start, stepped, first_op = v, False, n.op_type
        while v != to:
            op = n.op_type
            if v < to:
                nxt = [s.since_version for s in schema_versions(op, dom) if v < s.since_version <= to]
                if not nxt:
                    v = to
                    break
                s = nxt[0]
                ctx = Step(self, g, n, s, "up")
                ctx.at = v
                try:
                    self._apply(ctx, dom, op, s, "up")
                except Refuse as r:
                    r.highest = s - 1 if r.highest is None else r.highest
                    raise
                v = s
            else:
                sch = get_schema(op, v, dom)
                if sch is None:
                    raise Refuse(f"{dom or 'ai.onnx'} has no operator {op} at opset {v}")
                if sch.since_version <= to:
                    v = to
                    break
                s = sch.since_version
                ctx = Step(self, g, n, s - 1, "down")
                ctx.at = v
                try:
                    self._apply(ctx, dom, op, s, "down")
                except Refuse as r:
                    r.lowest = s if r.lowest is None else r.lowest
                    raise
                v = s - 1
            stepped = True
            for a in ctx.added:
                propagate_types(a, normalize_domain(a.domain), ctx.added_at or ctx.version)
            added.extend((a, ctx.added_at or ctx.version) for a in ctx.added)
            n = ctx.node
            if n.graph is None:      # expanded away: its nodes are in ``added``
                return n, added
        if stepped:
            try:
                check_node_types(n, dom, to, start if n.op_type == first_op else None, self.universe)
            except Refuse:
                from ._ops_cast import widen_through_casts
                if not widen_through_casts(self, g, n, dom, to):
                    raise
                check_node_types(n, dom, to, None, self.universe)
        return n, added

    def _apply(self, ctx: Step, dom: str, op: str, s: int, direction: str) -> None:
        adapter = lookup(dom, op, s)
        if adapter is None:
            prev = get_schema(op, s - 1, dom)
            if direction == "down" and prev is None:
                from ._functions import expand_or_refuse
                expand_or_refuse(ctx, dom, op, s)
                return
            a, b = (s - 1, s) if direction == "up" else (s, s - 1)
            raise Refuse(f"no adapter for {op} from opset {a} to {b}")
        adapter.apply(ctx, direction)
