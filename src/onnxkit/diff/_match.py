"""Matching the nodes of two graphs, and what differs between matched nodes.

One :class:`Matcher` diffs a pair of models: it keeps the value
correspondence (A value -> B value, both ways) over all their graphs, so a
subgraph's reads of outer values are compared through the enclosing graph's
matches.  For each pair of graphs (:meth:`Matcher.graph`):

1. values: graph inputs by name, then by position; initializers by name;
2. nodes by name: the same name and the same op (``optimize`` names a fused
   node after the last node of what it replaced: a name alone is not enough);
3. nodes by structure, to a fixed point: forward (in B's order) a node whose
   inputs are matched values, or weights/inputs not matched yet, matches an
   unmatched node of A of the same op reading the counterparts at the same
   slots (equal attributes preferred); backward, the unmatched producers at
   the same input slot of a matched pair (or of the same graph output) match
   when their ops agree.  Unmatched weights read at the same slot of a
   matched pair match each other (renamed weights).

Nodes left over are removed (A) or added (B); :mod:`._fusions` groups them.
"""

from __future__ import annotations

from typing import Any, Iterable

from ..errors import OnnxkitError
from ..ir import AttributeType, Graph, Node, TensorBase, Value
from ..ir._domain import normalize_domain
from ._weights import compare, dtype_name

_MAX_ROUNDS = 6
#: attribute types whose schema defaults are compared
_PLAIN = (AttributeType.FLOAT, AttributeType.INT, AttributeType.STRING, AttributeType.FLOATS,
          AttributeType.INTS, AttributeType.STRINGS)
_SHORT = 60


def op_key(n: Node) -> tuple:
    return normalize_domain(n.domain), n.op_type, n.overload


def value_name(v: Value | None) -> str:
    return "(none)" if v is None else repr(v.name or "")


def type_str(v: Value) -> str:
    return "?" if v.type is None else str(v.type)


def short(x: Any) -> str:
    if isinstance(x, TensorBase):
        return f"tensor {dtype_name(x.dtype)}{list(x.shape)}"
    if isinstance(x, list) and x and isinstance(x[0], TensorBase):
        return f"{len(x)} tensors"
    s = repr(x)
    return s if len(s) <= _SHORT else s[:_SHORT - 3] + "..."


class Matcher:
    """The correspondence between two models' nodes and values."""

    def __init__(self, weights: bool = True, opsets: dict[str, int] | None = None) -> None:
        self.weights = weights
        self.opsets = dict(opsets or {})        # the newer model's, for schema defaults
        self.vmap: dict[int, Value] = {}       # id(A value) -> B value
        self.rmap: dict[int, Value] = {}       # id(B value) -> A value
        self.pair: dict[int, Node] = {}        # id(A node) -> B node
        self.rpair: dict[int, Node] = {}       # id(B node) -> A node

    # ------------------------------------------------------------------ recording

    def map_value(self, va: Value, vb: Value) -> bool:
        if id(va) in self.vmap or id(vb) in self.rmap:
            return False
        self.vmap[id(va)] = vb
        self.rmap[id(vb)] = va
        return True

    def match(self, a: Node, b: Node) -> None:
        self.pair[id(a)] = b
        self.rpair[id(b)] = a
        for oa, ob in zip(a.outputs, b.outputs):
            self.map_value(oa, ob)
        for _, va, vb in input_pairs(a, b, self.rmap):   # weights/inputs read at the same slot
            if va is not None and vb is not None and va.producer() is None and vb.producer() is None \
                    and va.is_initializer() == vb.is_initializer():
                self.map_value(va, vb)

    def _is_default(self, n: Node, attr) -> bool:
        """Whether ``attr`` of ``n`` holds its schema's default value."""
        if attr.ref_attr_name or attr.type not in _PLAIN:
            return False
        from ..defs import get_schema
        domain = normalize_domain(n.domain)
        schema = get_schema(n.op_type, self.opsets.get(domain, 1 << 30), domain)   # None: unknown op
        d = schema.attributes.get(attr.name) if schema is not None else None
        if d is None or d.default is None:
            return False
        if attr.type in (AttributeType.FLOAT, AttributeType.FLOATS):
            return _floats_equal(attr.value, d.default)
        dv = list(d.default) if isinstance(d.default, tuple) else d.default
        return attr.value == dv

    def matched(self, n: Node, side: str) -> bool:
        return id(n) in (self.pair if side == "a" else self.rpair)

    # ------------------------------------------------------------------ one graph pair

    def graph(self, ga: Graph, gb: Graph) -> None:
        """Match the nodes of ``ga`` and ``gb`` (not their subgraphs)."""
        _pair_by_name_then_position(self, ga.inputs, gb.inputs)
        for name, va in ga.initializers.items():
            vb = gb.initializers.get(name)
            if vb is not None:
                self.map_value(va, vb)
        a_nodes, b_nodes = list(ga), list(gb)
        self._by_name(a_nodes, b_nodes)
        for _ in range(_MAX_ROUNDS):
            grew = self._forward(ga, a_nodes, b_nodes)
            grew |= self._backward(ga, gb, b_nodes)
            if not grew:
                break

    def _by_name(self, a_nodes: list[Node], b_nodes: list[Node]) -> None:
        by_name: dict[str, list[Node]] = {}
        for b in b_nodes:
            if b.name:
                by_name.setdefault(b.name, []).append(b)
        for a in a_nodes:
            for b in by_name.get(a.name, ()) if a.name else ():
                if id(b) not in self.rpair and op_key(a) == op_key(b):
                    self.match(a, b)
                    break

    def _forward(self, ga: Graph, a_nodes: list[Node], b_nodes: list[Node]) -> bool:
        grew = False
        pool: dict[tuple, list[Node]] | None = None     # A nodes reading no node output, by op
        for b in b_nodes:
            if id(b) in self.rpair:
                continue
            anchors: list[tuple[int, Value]] = []
            ready = True
            for i, vb in enumerate(b.inputs):
                if vb is None:
                    continue
                va = self.rmap.get(id(vb))
                if va is not None:
                    anchors.append((i, va))
                elif vb.producer() is not None:
                    ready = False                        # waits for its producer to match
                    break
            if not ready:
                continue
            if anchors:
                i, va = anchors[0]
                swap = _commutes(b)
                cands = [n for n, j in va.uses() if (j == i or swap) and n.graph is ga
                         and id(n) not in self.pair]
            else:
                if pool is None:                # by op and attributes: Constants are many
                    pool = {}
                    for a in a_nodes:
                        if id(a) not in self.pair and all(v is None or v.producer() is None for v in a.inputs):
                            pool.setdefault((op_key(a), _signature(a)), []).append(a)
                cands = [a for a in pool.get((op_key(b), _signature(b)), ()) if id(a) not in self.pair]
            best = self._choose(b, cands, anchors, need_equal_attrs=not anchors)
            if best is not None:
                self.match(best, b)
                grew = True
        return grew

    def _choose(self, b: Node, cands: list[Node], anchors: list[tuple[int, Value]],
                need_equal_attrs: bool) -> Node | None:
        best, best_score = None, None
        for a in cands:
            if op_key(a) != op_key(b) or len(a.inputs) != len(b.inputs):
                continue
            if any(a.inputs[i] is not va for i, va in anchors):
                if not (_commutes(a) and _swapped(a, b, self.rmap)):
                    continue
            fits = True
            shapes = 0
            for _, va, vb in input_pairs(a, b, self.rmap):
                if (va is None) != (vb is None):
                    fits = False
                    break
                if vb is None or id(vb) in self.rmap:
                    continue
                # an unmatched weight/input of b: a's must be unmatched and of the same kind
                if id(va) in self.vmap or va.producer() is not None \
                        or va.is_initializer() != vb.is_initializer():
                    fits = False
                    break
                shapes += va.type == vb.type if va.type is not None else 0
            if not fits:
                continue
            same_attrs = attributes_equal(a, b, self.weights)
            if not same_attrs and a.name and b.name and a.name != b.name:
                continue            # two named nodes, renamed and changed: not one node
            score = (same_attrs, shapes)
            if best_score is None or score > best_score:
                best, best_score = a, score
        if best is None or need_equal_attrs and not best_score[0]:
            return None
        return best

    def _backward(self, ga: Graph, gb: Graph, b_nodes: list[Node]) -> bool:
        grew = False
        slots: list[tuple[Value | None, Value | None]] = []
        for b in reversed(b_nodes):
            a = self.rpair.get(id(b))
            if a is not None:
                slots.extend((va, vb) for _, va, vb in input_pairs(a, b, self.rmap))
        slots.extend(_pairs_by_name_then_position(ga.outputs, gb.outputs))
        for va, vb in slots:
            if va is None or vb is None or id(va) in self.vmap or id(vb) in self.rmap:
                continue
            pa, pb = va.producer(), vb.producer()
            if pa is None and pb is None:
                if va.is_initializer() == vb.is_initializer():
                    self.map_value(va, vb)
                continue
            if pa is None or pb is None or pa.graph is not ga or pb.graph is not gb \
                    or id(pa) in self.pair or id(pb) in self.rpair:
                continue
            if op_key(pa) == op_key(pb) and va.index == vb.index:
                self.match(pa, pb)
                grew = True
        return grew

    # ------------------------------------------------------------------ what differs

    def node_changes(self, a: Node, b: Node) -> list[str]:
        """The differences of a matched pair, subgraphs aside (the caller adds those)."""
        out = []
        if a.name != b.name:
            out.append(f"renamed {a.name!r} -> {b.name!r}")
        for name in dict.fromkeys([*a.attributes, *b.attributes]):
            x, y = a.attributes.get(name), b.attributes.get(name)
            if (x is None or y is None) and self._is_default(b if x is None else a, x or y):
                continue                # written out or left to its default: one value
            if x is None:
                out.append(f"attribute {name} added: {_attr_text(y)}")
            elif y is None:
                out.append(f"attribute {name} removed (was {_attr_text(x)})")
            elif x.type in (AttributeType.GRAPH, AttributeType.GRAPHS) and x.type == y.type \
                    and x.ref_attr_name is None and y.ref_attr_name is None:
                continue
            else:
                why = _attr_difference(x, y, self.weights)
                if why:
                    out.append(f"attribute {name}: {why}")
        if len(a.inputs) != len(b.inputs):
            out.append(f"inputs: {len(a.inputs)} -> {len(b.inputs)}")
        for i, va, vb in input_pairs(a, b, self.rmap):      # x + y read as y + x: the same
            if va is None and vb is None:
                continue
            if va is None or vb is None or self.vmap.get(id(va)) is not vb:
                if va is not None and vb is not None and va.name == vb.name:
                    out.append(f"input {i}: {value_name(va)} ({_kind(va)}) -> ({_kind(vb)})")
                else:
                    out.append(f"input {i}: {value_name(va)} -> {value_name(vb)}")
        if len(a.outputs) != len(b.outputs):
            out.append(f"outputs: {len(a.outputs)} -> {len(b.outputs)}")
        return out


#: binary ops of the default domain whose two inputs may be read in either order
_COMMUTATIVE = frozenset({"Add", "Mul", "Max", "Min", "Sum", "Mean", "And", "Or", "Xor", "Equal",
                          "BitwiseAnd", "BitwiseOr", "BitwiseXor"})


def _commutes(n: Node) -> bool:
    return n.op_type in _COMMUTATIVE and normalize_domain(n.domain) == "" and len(n.inputs) == 2


def _swapped(a: Node, b: Node, rmap: dict[int, Value]) -> bool:
    """Whether ``b`` reads (the counterparts of) ``a``'s two inputs crosswise:
    every matched input of ``b`` sits in the other slot of ``a``."""
    mx, my = (rmap.get(id(v)) if v is not None else None for v in b.inputs)
    if mx is None and my is None:
        return False
    p, q = a.inputs
    cross = (mx is None or mx is q) and (my is None or my is p)
    straight = (mx is None or mx is p) and (my is None or my is q)
    return cross and not straight


def input_pairs(a: Node, b: Node, rmap: dict[int, Value]) -> list[tuple[int, Value | None, Value | None]]:
    """(B's slot, A's input, B's input) that correspond: slot by slot, or
    crosswise for a commutative op whose operands were swapped."""
    if _commutes(a) and _commutes(b) and _swapped(a, b, rmap):
        return [(0, a.inputs[1], b.inputs[0]), (1, a.inputs[0], b.inputs[1])]
    return [(i, va, vb) for i, (va, vb) in enumerate(zip(a.inputs, b.inputs))]


def _kind(v: Value) -> str:
    p = v.producer()
    if p is not None:
        return f"from {p.op_type}"
    return "initializer" if v.is_initializer() else "input"


def attributes_equal(a: Node, b: Node, weights: bool = True) -> bool:
    if a.attributes.keys() != b.attributes.keys():
        return False
    for name, x in a.attributes.items():
        y = b.attributes[name]
        if x.type in (AttributeType.GRAPH, AttributeType.GRAPHS):
            continue                    # bodies are diffed on their own
        if _attr_difference(x, y, weights):
            return False
    return True


def _signature(n: Node) -> tuple:
    """A hashable digest of a node's attributes: equal attributes give equal
    digests (tensors over 4 KiB only by dtype and shape: compared afterwards)."""
    items = []
    for name in sorted(n.attributes):
        a = n.attributes[name]
        v = a.value
        if a.ref_attr_name:
            key: Any = ("@", a.ref_attr_name)
        elif isinstance(v, TensorBase):
            key = (v.dtype, tuple(v.shape))
            if not _big(v):
                try:
                    key += (bytes(v.raw_view()),)
                except (OnnxkitError, ValueError, TypeError):
                    pass
        elif a.type in (AttributeType.GRAPH, AttributeType.GRAPHS, AttributeType.TENSORS,
                        AttributeType.SPARSE_TENSOR, AttributeType.SPARSE_TENSORS):
            key = a.type
        else:
            key = tuple(v) if isinstance(v, list) else v
            try:
                hash(key)
            except TypeError:
                key = repr(v)
        items.append((name, a.type, key))
    return tuple(items)


#: tensor attributes (Constant values) larger than this count as weights: weights=False skips them
_SMALL = 4096


def _big(t: TensorBase) -> bool:
    try:
        return t.nbytes > _SMALL
    except (OnnxkitError, ValueError, TypeError):     # strings, unknown types: compared
        return False


def _attr_text(x) -> str:
    if x.ref_attr_name:
        return f"@{x.ref_attr_name}"
    if x.type == AttributeType.FLOAT and isinstance(x.value, float):
        return _f32(x.value)
    if x.type == AttributeType.FLOATS and isinstance(x.value, list):
        return short([float(_f32(v)) for v in x.value])
    return short(x.value)


def _f32(v: float) -> str:
    """The shortest text of a float32 (ONNX's attribute floats): 0.1, not 0.10000000149011612."""
    import numpy as np
    return np.format_float_positional(np.float32(v), unique=True, trim="-") if abs(v) >= 1e-4 or v == 0 \
        else np.format_float_scientific(np.float32(v), unique=True, trim="-")


def _attr_difference(x, y, weights: bool) -> str:
    """Why two attributes of one name differ; "" when they do not."""
    if x.ref_attr_name or y.ref_attr_name:
        return "" if x.ref_attr_name == y.ref_attr_name else f"{_attr_text(x)} -> {_attr_text(y)}"
    if x.type != y.type:
        return f"{_attr_text(x)} -> {_attr_text(y)}"
    if x.type == AttributeType.TENSOR and isinstance(x.value, TensorBase) \
            and isinstance(y.value, TensorBase):
        if not weights and _big(x.value) and _big(y.value) and x.value.dtype == y.value.dtype \
                and tuple(x.value.shape) == tuple(y.value.shape):
            return ""                   # not read: weights=False
        r = compare(x.value, y.value)
        if r["status"] == "same":
            return ""
        if r["status"] == "shape":
            return f"{_attr_text(x)} -> {_attr_text(y)}"
        if r["max_abs"] is not None:
            return f"tensor values differ (max abs {r['max_abs']:.4g})"
        return f"tensor values differ ({r['differing']} elements)"
    if x.type == AttributeType.TENSORS:
        xs, ys = x.value or [], y.value or []
        if len(xs) != len(ys) or any(compare(p, q)["status"] != "same" for p, q in zip(xs, ys)):
            return "tensors differ"
        return ""
    if x.type in (AttributeType.SPARSE_TENSOR, AttributeType.SPARSE_TENSORS):
        return "" if x == y else "sparse tensor differs"
    if x.type in (AttributeType.FLOAT, AttributeType.FLOATS):
        return "" if _floats_equal(x.value, y.value) else f"{_attr_text(x)} -> {_attr_text(y)}"
    return "" if x.value == y.value else f"{_attr_text(x)} -> {_attr_text(y)}"


def _floats_equal(x: Any, y: Any) -> bool:
    """As ONNX keeps them: float32 (1e-12 written by one exporter and read back
    from another's file as 9.99999996e-13 are one value); NaN equals NaN."""
    import numpy as np

    xs = np.asarray(x if isinstance(x, (list, tuple)) else [x], dtype=np.float32)
    ys = np.asarray(y if isinstance(y, (list, tuple)) else [y], dtype=np.float32)
    return xs.shape == ys.shape and bool(np.array_equal(xs, ys, equal_nan=True))


def _pairs_by_name_then_position(xs: Iterable[Value], ys: Iterable[Value]) -> list[tuple[Value, Value]]:
    xs, ys = list(xs), list(ys)
    by_name = {}
    for j, y in enumerate(ys):
        if y.name:
            by_name.setdefault(y.name, j)
    used_x, used_y, out = set(), set(), []
    for i, x in enumerate(xs):
        j = by_name.get(x.name) if x.name else None
        if j is not None and j not in used_y:
            out.append((x, ys[j]))
            used_x.add(i)
            used_y.add(j)
    rest_x = [i for i in range(len(xs)) if i not in used_x]
    rest_y = [j for j in range(len(ys)) if j not in used_y]
    out.extend((xs[i], ys[j]) for i, j in zip(rest_x, rest_y) if i == j)
    return out


def _pair_by_name_then_position(m: Matcher, xs: Iterable[Value], ys: Iterable[Value]) -> None:
    for x, y in _pairs_by_name_then_position(xs, ys):
        m.map_value(x, y)
