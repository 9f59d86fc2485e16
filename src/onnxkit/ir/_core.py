"""The model in memory: Value, Node, Attribute, Graph, Function, Model.

Use-def links are kept by the methods: a :class:`Value` knows the node that
produces it and every ``(node, input_index)`` that uses it, and a node's
inputs change only through :meth:`Node.set_input` / :meth:`Node.replace_input`
and friends, so the links never go stale.  A graph's ``inputs`` and
``outputs`` are lists that tell each Value where it is listed
(:meth:`Value.is_graph_input`, :meth:`Value.is_graph_output`).  A graph's nodes
form a linked list that may be changed while it is being iterated: removed
nodes are skipped, nodes inserted ahead of the cursor are visited, and a node
removed and inserted again elsewhere (even the one the iterator stands on)
neither derails the iteration nor is visited twice from its old place.

Nothing here knows bytes; :mod:`onnxkit.ir.serde` converts to and from the
wire messages.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Sequence

from ..errors import IRError
from ._domain import normalize_opsets
from ._dtypes import DataType
from ._tensor import SparseTensor, Tensor, TensorBase
from ._types import Shape, TensorType, Type


class AttributeType:
    """AttributeProto.AttributeType: the spec's names and numbers."""

    UNDEFINED, FLOAT, INT, STRING, TENSOR, GRAPH = 0, 1, 2, 3, 4, 5
    FLOATS, INTS, STRINGS, TENSORS, GRAPHS = 6, 7, 8, 9, 10
    SPARSE_TENSOR, SPARSE_TENSORS, TYPE_PROTO, TYPE_PROTOS = 11, 12, 13, 14

    NAMES = {0: "UNDEFINED", 1: "FLOAT", 2: "INT", 3: "STRING", 4: "TENSOR", 5: "GRAPH",
             6: "FLOATS", 7: "INTS", 8: "STRINGS", 9: "TENSORS", 10: "GRAPHS",
             11: "SPARSE_TENSOR", 12: "SPARSE_TENSORS", 13: "TYPE_PROTO", 14: "TYPE_PROTOS"}


# ------------------------------------------------------------------ values


class Value:
    """A named value: a graph input, an initializer, or a node output.

    ``type`` is its full type (e.g. :class:`TensorType` with a shape) or None;
    ``dtype`` and ``shape`` read and write the tensor parts of it.
    ``const_value`` is the tensor of an initializer.
    """

    __slots__ = ("name", "type", "doc_string", "metadata_props", "const_value",
                 "_producer", "_index", "_uses", "_input_of", "_output_of", "_extras")

    def __init__(self, name: str | None = None, type: Type | None = None, *,
                 dtype: int | DataType | None = None, shape: Any = None,
                 const_value: TensorBase | None = None, doc_string: str = "") -> None:
        if type is None and (dtype is not None or shape is not None):
            type = TensorType(dtype, shape)
        self.name = name
        self.type = type
        self.doc_string = doc_string
        self.metadata_props: dict[str, str] = {}
        self.const_value = const_value
        self._producer: Node | None = None
        self._index: int | None = None
        self._uses: dict[tuple[Node, int], None] = {}
        # {graph: how many times it lists this value}, None while none does (see _GraphValues)
        self._input_of: dict[Graph, int] | None = None
        self._output_of: dict[Graph, int] | None = None
        self._extras = None

    # producer / consumers
    def producer(self) -> Node | None:
        """The node whose output this is, or None (graph input, initializer, outer value)."""
        return self._producer

    @property
    def index(self) -> int | None:
        """Position among the producer's outputs."""
        return self._index

    def uses(self) -> list[tuple[Node, int]]:
        """Every ``(node, input_index)`` that reads this value, subgraph nodes included."""
        return list(self._uses)

    def consumers(self) -> list[Node]:
        """The nodes that read this value (each once)."""
        return list(dict.fromkeys(n for n, _ in self._uses))

    def replace_all_uses_with(self, other: Value, *, replace_graph_outputs: bool = False) -> None:
        """Make every node that reads this value read ``other`` instead.

        With ``replace_graph_outputs``, ``other`` also takes this value's place
        in the outputs of every graph that lists it (names are left as they
        are: keeping the graph's interface names is the caller's choice).
        """
        if other is self:
            return
        for node, i in list(self._uses):
            node.set_input(i, other)
        if replace_graph_outputs and self._output_of:
            for g in list(self._output_of):
                outs = g.outputs
                for i, o in enumerate(outs):
                    if o is self:
                        outs[i] = other

    # where the value is listed
    def is_graph_input(self, graph: Graph | None = None) -> bool:
        """Whether ``graph`` (any graph when None) lists this value among its inputs."""
        d = self._input_of
        return bool(d) if graph is None else bool(d) and graph in d

    def is_graph_output(self, graph: Graph | None = None) -> bool:
        """Whether ``graph`` (any graph when None: a subgraph may output a value
        of an enclosing scope) lists this value among its outputs."""
        d = self._output_of
        return bool(d) if graph is None else bool(d) and graph in d

    def output_of(self) -> list[Graph]:
        """The graphs that list this value among their outputs."""
        return list(self._output_of or ())

    # tensor conveniences
    @property
    def dtype(self) -> DataType | None:
        t = self.type
        return t.elem_type if isinstance(t, TensorType) else None

    @dtype.setter
    def dtype(self, dtype: int | DataType | None) -> None:
        shape = self.type.shape if isinstance(self.type, TensorType) else None
        self.type = TensorType(dtype, shape)

    @property
    def shape(self) -> Shape | None:
        t = self.type
        return t.shape if isinstance(t, TensorType) else None

    @shape.setter
    def shape(self, shape: Any) -> None:
        dtype = self.type.elem_type if isinstance(self.type, TensorType) else None
        self.type = TensorType(dtype, shape)

    def is_initializer(self) -> bool:
        return self.const_value is not None and self._producer is None

    def __repr__(self) -> str:
        t = f": {self.type}" if self.type is not None else ""
        return f"Value({self.name!r}{t})"


# ------------------------------------------------------------------ attributes


class Attribute:
    """A named attribute value.  ``type`` is an :class:`AttributeType` number.

    Values: FLOAT float, INT int, STRING str, TENSOR Tensor, GRAPH Graph,
    SPARSE_TENSOR SparseTensor, TYPE_PROTO Type, and lists of those for the
    plural types.  ``ref_attr_name`` makes it a reference to an attribute of the
    enclosing function (then ``value`` is None).
    """

    __slots__ = ("name", "type", "value", "doc_string", "ref_attr_name", "_extras")

    def __init__(self, name: str, type: int, value: Any, *, doc_string: str = "",
                 ref_attr_name: str | None = None) -> None:
        self.name = name
        self.type = type
        self.value = value
        self.doc_string = doc_string
        self.ref_attr_name = ref_attr_name
        self._extras = None

    @classmethod
    def infer(cls, name: str, value: Any) -> Attribute:
        """Make an attribute, choosing its type from the Python value."""
        return cls(name, _infer_attr_type(name, value), _normalize_attr_value(value))

    def subgraphs(self) -> list[Graph]:
        if self.type == AttributeType.GRAPH and self.value is not None:
            return [self.value]
        if self.type == AttributeType.GRAPHS:
            return list(self.value or ())
        return []

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Attribute):
            return NotImplemented
        return (self.name, self.type, self.ref_attr_name) == (other.name, other.type, other.ref_attr_name) \
            and _attr_value_eq(self.value, other.value)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        if self.ref_attr_name:
            return f"Attribute({self.name!r} = @{self.ref_attr_name})"
        return f"Attribute({self.name!r}, {AttributeType.NAMES.get(self.type, self.type)}, {self.value!r})"


def _attr_value_eq(a: Any, b: Any) -> bool:
    if isinstance(a, TensorBase) or isinstance(b, TensorBase):
        import numpy as np
        return isinstance(a, TensorBase) and isinstance(b, TensorBase) and a.dtype == b.dtype \
            and a.shape == b.shape and np.array_equal(a.numpy(), b.numpy())
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_attr_value_eq(x, y) for x, y in zip(a, b))
    return a is b or a == b


def _infer_attr_type(name: str, value: Any) -> int:
    import numpy as np

    if isinstance(value, bool) or isinstance(value, (int, np.integer)):
        return AttributeType.INT
    if isinstance(value, (float, np.floating)):
        return AttributeType.FLOAT
    if isinstance(value, (str, bytes)):
        return AttributeType.STRING
    if isinstance(value, (TensorBase, np.ndarray)):
        return AttributeType.TENSOR
    if isinstance(value, Graph):
        return AttributeType.GRAPH
    if isinstance(value, SparseTensor):
        return AttributeType.SPARSE_TENSOR
    if isinstance(value, Type):
        return AttributeType.TYPE_PROTO
    if isinstance(value, (list, tuple)):
        if not value:
            raise IRError(f"attribute {name!r}: cannot tell the type of an empty list; "
                          "give the type explicitly (Attribute(name, AttributeType.INTS, []))")
        kinds = {_infer_attr_type(name, v) for v in value}
        if kinds == {AttributeType.INT, AttributeType.FLOAT}:
            return AttributeType.FLOATS
        if len(kinds) != 1:
            raise IRError(f"attribute {name!r}: list mixes value kinds")
        single = kinds.pop()
        plural = {AttributeType.INT: AttributeType.INTS, AttributeType.FLOAT: AttributeType.FLOATS,
                  AttributeType.STRING: AttributeType.STRINGS, AttributeType.TENSOR: AttributeType.TENSORS,
                  AttributeType.GRAPH: AttributeType.GRAPHS,
                  AttributeType.SPARSE_TENSOR: AttributeType.SPARSE_TENSORS,
                  AttributeType.TYPE_PROTO: AttributeType.TYPE_PROTOS}.get(single)
        if plural is None:
            raise IRError(f"attribute {name!r}: lists of lists are not attributes")
        return plural
    raise IRError(f"attribute {name!r}: cannot make an attribute of a {type(value).__name__}")


def _normalize_attr_value(value: Any) -> Any:
    import numpy as np

    if isinstance(value, bool) or isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    if isinstance(value, np.ndarray):
        return Tensor(value)
    if isinstance(value, (list, tuple)):
        vals = [_normalize_attr_value(v) for v in value]
        if any(isinstance(v, float) for v in vals):
            vals = [float(v) if isinstance(v, int) else v for v in vals]
        return vals
    return value


# ------------------------------------------------------------------ nodes


class Node:
    """One operator call.  Inputs are Values (None for a missing optional input);
    outputs are Values this node produces."""

    __slots__ = ("op_type", "domain", "overload", "name", "doc_string", "attributes",
                 "metadata_props", "device_configurations", "_inputs", "_outputs", "_graph",
                 "_link", "_extras")

    def __init__(self, op_type: str, inputs: Sequence[Value | None] = (),
                 outputs: Sequence[Value] | int = 1, *, domain: str = "", name: str = "",
                 attributes: Iterable[Attribute] | dict[str, Any] = (), overload: str = "",
                 doc_string: str = "") -> None:
        self.op_type = op_type
        self.domain = domain
        self.overload = overload
        self.name = name
        self.doc_string = doc_string
        if isinstance(attributes, dict):
            attributes = [a if isinstance(a, Attribute) else Attribute.infer(k, a)
                          for k, a in attributes.items()]
        self.attributes: dict[str, Attribute] = {a.name: a for a in attributes}
        self.metadata_props: dict[str, str] = {}
        self.device_configurations: list = []  # proto NodeDeviceConfigurationProto objects
        self._graph: Graph | None = None
        self._link: _Link | None = None
        self._extras = None
        self._inputs: list[Value | None] = []
        for v in inputs:
            self._add_input(v)
        if isinstance(outputs, int):
            outputs = [Value() for _ in range(outputs)]
        self._outputs: list[Value] = []
        for v in outputs:
            self._add_output(v)

    # inputs
    @property
    def inputs(self) -> tuple[Value | None, ...]:
        return tuple(self._inputs)

    def _add_input(self, v: Value | None) -> None:
        i = len(self._inputs)
        self._inputs.append(v)
        if v is not None:
            v._uses[(self, i)] = None

    def set_input(self, i: int, v: Value | None) -> None:
        """Make input ``i`` read ``v`` (None: the optional input is absent)."""
        old = self._inputs[i]
        if old is v:
            return
        if old is not None:
            old._uses.pop((self, i), None)
        self._inputs[i] = v
        if v is not None:
            v._uses[(self, i)] = None

    def replace_input(self, old: Value, new: Value | None) -> None:
        """Every input slot that reads ``old`` reads ``new`` instead."""
        for i, v in enumerate(self._inputs):
            if v is old:
                self.set_input(i, new)

    def append_input(self, v: Value | None) -> None:
        self._add_input(v)

    def set_inputs(self, inputs: Sequence[Value | None]) -> None:
        """Replace the whole input list."""
        self._drop_inputs()
        for v in inputs:
            self._add_input(v)

    def _drop_inputs(self) -> None:
        for i, v in enumerate(self._inputs):
            if v is not None:
                v._uses.pop((self, i), None)
        self._inputs = []

    # outputs
    @property
    def outputs(self) -> tuple[Value, ...]:
        return tuple(self._outputs)

    def _add_output(self, v: Value) -> None:
        if v._producer is not None and v._producer is not self:
            raise IRError(f"value {v.name!r} is already produced by node {v._producer.op_type} "
                          f"{v._producer.name!r}")
        v._producer = self
        v._index = len(self._outputs)
        self._outputs.append(v)

    def append_output(self, v: Value | None = None) -> Value:
        v = v if v is not None else Value()
        self._add_output(v)
        return v

    @property
    def graph(self) -> Graph | None:
        return self._graph

    # attributes
    def attr(self, name: str, default: Any = None) -> Any:
        """The value of attribute ``name``, or ``default`` when it is absent."""
        a = self.attributes.get(name)
        return default if a is None else a.value

    def set_attr(self, name: str, value: Any, type: int | None = None) -> None:
        self.attributes[name] = Attribute(name, type, _normalize_attr_value(value)) if type is not None \
            else Attribute.infer(name, value)

    def subgraphs(self) -> list[Graph]:
        out: list[Graph] = []
        for a in self.attributes.values():
            if a.type == AttributeType.GRAPH or a.type == AttributeType.GRAPHS:   # (hot: every pass walks it)
                out.extend(a.subgraphs())
        return out

    def __repr__(self) -> str:
        ins = ", ".join("" if v is None else str(v.name) for v in self._inputs)
        outs = ", ".join(str(v.name) for v in self._outputs)
        dom = f"{self.domain}." if self.domain else ""
        return f"Node({outs} = {dom}{self.op_type}({ins}){' ' + repr(self.name) if self.name else ''})"


# ------------------------------------------------------------------ graphs


class _GraphValues(list):
    """A graph's ``inputs`` or ``outputs``: a plain list to read, that tells
    each Value it holds where it is listed (``Value._input_of`` /
    ``Value._output_of``), however it is changed."""

    __slots__ = ("_graph", "_slot")

    def __init__(self, graph: Graph, slot: str, values: Iterable[Value] = ()) -> None:
        super().__init__()
        self._graph = graph
        self._slot = slot
        self.extend(values)

    def _add(self, v: Value) -> Value:
        if not isinstance(v, Value):
            raise IRError(f"graph {self._graph.name!r}: {self._slot[1:-3]}s are Values, not "
                          f"{type(v).__name__}")
        d = getattr(v, self._slot)
        if d is None:
            d = {}
            setattr(v, self._slot, d)
        d[self._graph] = d.get(self._graph, 0) + 1
        return v

    def _drop(self, v: Value) -> None:
        d = getattr(v, self._slot)
        k = d[self._graph] - 1
        if k:
            d[self._graph] = k
        else:
            del d[self._graph]

    def append(self, v: Value) -> None:
        super().append(self._add(v))

    def extend(self, values: Iterable[Value]) -> None:
        super().extend([self._add(v) for v in values])

    def insert(self, i: Any, v: Value) -> None:
        super().insert(i, self._add(v))

    def remove(self, v: Value) -> None:
        for i, x in enumerate(self):
            if x is v or x == v:
                del self[i]
                return
        raise ValueError(f"{v!r} is not listed")

    def pop(self, i: Any = -1) -> Value:
        v = super().pop(i)
        self._drop(v)
        return v

    def clear(self) -> None:
        for v in self:
            self._drop(v)
        super().clear()

    def __setitem__(self, i: Any, v: Any) -> None:
        if isinstance(i, slice):
            new = [self._add(x) for x in v]
            for x in self[i]:
                self._drop(x)
            super().__setitem__(i, new)
        else:
            self._add(v)
            self._drop(self[i])
            super().__setitem__(i, v)

    def __delitem__(self, i: Any) -> None:
        for x in (self[i] if isinstance(i, slice) else [self[i]]):
            self._drop(x)
        super().__delitem__(i)

    def __iadd__(self, values: Iterable[Value]) -> _GraphValues:  # type: ignore[override]
        self.extend(values)
        return self

    def __imul__(self, n: Any) -> _GraphValues:  # type: ignore[override]
        self.extend(list(self) * (n - 1) if n > 0 else [])
        if n <= 0:
            self.clear()
        return self

    def __reduce__(self):
        return (list, (list(self),))


class _Link:
    """A node's place in a graph's node list.  Removing a node marks its link
    erased (an iterator standing on it goes on from where it was); inserting
    it again makes a new link."""

    __slots__ = ("node", "prev", "next", "erased")

    def __init__(self, node: Node) -> None:
        self.node = node
        self.prev: _Link | None = None
        self.next: _Link | None = None
        self.erased = False


class Graph:
    """A graph: inputs, outputs, initializers and an ordered list of nodes.

    ``initializers`` maps names to Values whose ``const_value`` holds the tensor
    (an initializer may also be listed in ``inputs``, as IR < 4 requires).
    Iterating yields the nodes in order, safely while the graph changes.
    """

    __slots__ = ("name", "doc_string", "_inputs", "_outputs", "initializers",
                 "sparse_initializers", "value_info", "quantization_annotation",
                 "metadata_props", "_head", "_tail", "_count", "_extras", "__weakref__")

    def __init__(self, inputs: Sequence[Value] = (), outputs: Sequence[Value] = (),
                 nodes: Iterable[Node] = (), *, initializers: Iterable[Value] = (),
                 name: str = "", doc_string: str = "") -> None:
        self.name = name
        self.doc_string = doc_string
        self._inputs = _GraphValues(self, "_input_of", inputs)
        self._outputs = _GraphValues(self, "_output_of", outputs)
        self.initializers: dict[str, Value] = {}
        for v in initializers:
            self.add_initializer(v)
        self.sparse_initializers: list[SparseTensor] = []
        # Values listed in the file's value_info, in file order (extra type
        # information for intermediate values); kept so files round-trip.
        self.value_info: list[Value] = []
        self.quantization_annotation: list[tuple[str, dict[str, str]]] = []
        self.metadata_props: dict[str, str] = {}
        self._head: _Link | None = None
        self._tail: _Link | None = None
        self._count = 0
        self._extras = None
        for n in nodes:
            self.append(n)

    # interface ------------------------------------------------------------
    @property
    def inputs(self) -> list[Value]:
        """The graph's inputs (a list; changing it keeps ``Value.is_graph_input`` right)."""
        return self._inputs

    @inputs.setter
    def inputs(self, values: Iterable[Value]) -> None:
        self._inputs[:] = list(values)

    @property
    def outputs(self) -> list[Value]:
        """The graph's outputs (a list; changing it keeps ``Value.is_graph_output`` right)."""
        return self._outputs

    @outputs.setter
    def outputs(self, values: Iterable[Value]) -> None:
        self._outputs[:] = list(values)

    # node list ------------------------------------------------------------
    def __iter__(self) -> Iterator[Node]:
        link = self._head
        while link is not None:
            if not link.erased:
                yield link.node
            link = link.next

    def __len__(self) -> int:
        return self._count

    def all_graphs(self) -> list[Graph]:
        """This graph and every subgraph nested in its nodes, depth first."""
        out: list[Graph] = [self]
        for n in self:
            for sub in n.subgraphs():
                out.extend(sub.all_graphs())
        return out

    @property
    def nodes(self) -> list[Node]:
        return list(self)

    def _link_in(self, node: Node) -> _Link:
        if node._graph is not None:
            raise IRError(f"node {node!r} already belongs to a graph; remove it first")
        node._graph = self
        node._link = link = _Link(node)
        self._count += 1
        return link

    def append(self, node: Node) -> Node:
        """Add ``node`` at the end; returns it."""
        self._splice(self._tail, None, [node])
        return node

    def extend(self, nodes: Iterable[Node]) -> None:
        for n in nodes:
            self.append(n)

    def insert_after(self, anchor: Node, node: Node | Sequence[Node]) -> None:
        """Insert one node or several (in order) right after ``anchor``."""
        self._check_member(anchor)
        self._splice(anchor._link, anchor._link.next, [node] if isinstance(node, Node) else list(node))

    def insert_before(self, anchor: Node, node: Node | Sequence[Node]) -> None:
        """Insert one node or several (in order) right before ``anchor``."""
        self._check_member(anchor)
        self._splice(anchor._link.prev, anchor._link, [node] if isinstance(node, Node) else list(node))

    def _splice(self, prev: _Link | None, nxt: _Link | None, nodes: list[Node]) -> None:
        """Link ``nodes`` in, in order, between the neighbours ``prev`` and ``nxt``."""
        for n in nodes:
            link = self._link_in(n)
            link.prev, link.next = prev, nxt
            if prev is None:
                self._head = link
            else:
                prev.next = link
            prev = link
        if nxt is None:
            self._tail = prev
        else:
            nxt.prev = prev

    def remove(self, node: Node, *, safe: bool = True) -> None:
        """Take ``node`` out of the graph and drop its input links.

        With ``safe`` (the default), refuse when one of its outputs is still read
        by a node or is a graph output.  The node may be inserted again (here or
        elsewhere), also while the graph is being iterated.
        """
        self._check_member(node)
        if safe:
            for v in node._outputs:
                users = [n for n, _ in v._uses if n is not node]
                if users or v.is_graph_output():
                    where = "a graph output" if v.is_graph_output() else f"read by {users[0]!r}"
                    raise IRError(f"cannot remove {node!r}: its output {v.name!r} is {where}")
        node._drop_inputs()
        link = node._link
        prev, nxt = link.prev, link.next
        if prev is None:
            self._head = nxt
        else:
            prev.next = nxt
        if nxt is None:
            self._tail = prev
        else:
            nxt.prev = prev
        # keep link.next so an iterator standing on this node can go on
        link.erased = True
        node._link = None
        node._graph = None
        self._count -= 1

    def _check_member(self, node: Node) -> None:
        if node._graph is not self:
            raise IRError(f"node {node!r} is not in graph {self.name!r}")

    # values ---------------------------------------------------------------
    def add_initializer(self, value: Value) -> Value:
        if value.name is None or value.name == "":
            raise IRError("an initializer needs a name")
        if value.const_value is None:
            raise IRError(f"initializer {value.name!r} has no const_value")
        self.initializers[value.name] = value
        return value

    def values(self) -> Iterator[Value]:
        """Every value defined in this graph (inputs, initializers, node outputs)."""
        seen: set[int] = set()
        for v in (*self.inputs, *self.initializers.values()):
            if id(v) not in seen:
                seen.add(id(v))
                yield v
        for n in self:
            yield from n._outputs

    def all_nodes(self) -> Iterator[Node]:
        """The nodes of this graph and, depth first, of every subgraph."""
        for n in self:
            yield n
            for g in n.subgraphs():
                yield from g.all_nodes()

    def sort(self) -> None:
        """Put the nodes in a topological order (stable: keeps the current order
        where it is already valid).  Uses inside subgraphs count as uses by the
        node that owns the subgraph.  Raises IRError on a cycle."""
        nodes = list(self)
        index = {id(n): i for i, n in enumerate(nodes)}
        deps: list[set[int]] = []
        for n in nodes:
            d = set()
            for v in _node_reads(n):
                p = v._producer  # values of enclosing scopes have producers not in index
                if p is not None and id(p) in index and p is not n:
                    d.add(index[id(p)])
            deps.append(d)
        users: list[list[int]] = [[] for _ in nodes]
        missing = [len(d) for d in deps]
        for i, d in enumerate(deps):
            for j in d:
                users[j].append(i)
        import heapq
        ready = [i for i, m in enumerate(missing) if m == 0]
        heapq.heapify(ready)
        order = []
        while ready:
            i = heapq.heappop(ready)
            order.append(i)
            for u in users[i]:
                missing[u] -= 1
                if missing[u] == 0:
                    heapq.heappush(ready, u)
        if len(order) != len(nodes):
            stuck = [nodes[i] for i, m in enumerate(missing) if m > 0]
            raise IRError(f"graph {self.name!r} has a cycle through {len(stuck)} nodes, "
                          f"e.g. {stuck[0]!r}")
        self._head = self._tail = None
        for i in order:
            link = nodes[i]._link
            link.prev, link.next = self._tail, None
            if self._tail is None:
                self._head = link
            else:
                self._tail.next = link
            self._tail = link

    def __repr__(self) -> str:
        return f"Graph({self.name!r}, {len(self.inputs)} inputs, {len(self.outputs)} outputs, " \
               f"{self._count} nodes)"


def _node_reads(node: Node) -> Iterator[Value]:
    """Values a node reads: its inputs and the outer-scope values its subgraphs read."""
    for v in node._inputs:
        if v is not None:
            yield v
    for g in node.subgraphs():
        inner = set(map(id, g.values()))
        for sub in g.all_nodes():
            for v in sub._inputs:
                if v is not None and id(v) not in inner:
                    yield v


# ------------------------------------------------------------------ functions, models


class Function:
    """A model-local function: a named body graph with attribute parameters.

    ``attributes`` lists the names of attributes without defaults and
    ``attribute_defaults`` those with defaults (AttributeProto.attribute_proto).
    """

    __slots__ = ("domain", "name", "overload", "graph", "attributes", "attribute_defaults",
                 "opset_imports", "doc_string", "metadata_props", "_extras")

    def __init__(self, domain: str, name: str, graph: Graph, *, overload: str = "",
                 attributes: Sequence[str] = (), attribute_defaults: Sequence[Attribute] = (),
                 opset_imports: dict[str, int] | None = None, doc_string: str = "") -> None:
        self.domain = domain
        self.name = name
        self.overload = overload
        self.graph = graph
        self.attributes = list(attributes)
        self.attribute_defaults = list(attribute_defaults)
        self.opset_imports: dict[str, int] = dict(opset_imports or {})
        self.doc_string = doc_string
        self.metadata_props: dict[str, str] = {}
        self._extras = None

    @property
    def identifier(self) -> tuple[str, str, str]:
        return (self.domain, self.name, self.overload)

    @property
    def inputs(self) -> list[Value]:
        return self.graph.inputs

    @property
    def outputs(self) -> list[Value]:
        return self.graph.outputs

    def __iter__(self) -> Iterator[Node]:
        return iter(self.graph)

    def __repr__(self) -> str:
        return f"Function({self.domain}.{self.name}, {len(self.graph)} nodes)"


class TrainingInfo:
    """TrainingInfoProto: an initialization graph, an algorithm graph and bindings."""

    __slots__ = ("initialization", "algorithm", "initialization_binding", "update_binding", "_extras")

    def __init__(self, initialization: Graph | None = None, algorithm: Graph | None = None,
                 initialization_binding: Sequence[tuple[str, str]] = (),
                 update_binding: Sequence[tuple[str, str]] = ()) -> None:
        self.initialization = initialization
        self.algorithm = algorithm
        self.initialization_binding = list(initialization_binding)
        self.update_binding = list(update_binding)
        self._extras = None


class Model:
    """A model: a main graph, the opsets it uses, functions and metadata."""

    __slots__ = ("graph", "ir_version", "opset_imports", "producer_name", "producer_version",
                 "domain", "model_version", "doc_string", "metadata_props", "functions",
                 "training_info", "configuration", "_extras", "_keepalive")

    def __init__(self, graph: Graph, *, ir_version: int = 10,
                 opset_imports: dict[str, int] | None = None, producer_name: str = "onnxkit",
                 producer_version: str = "", domain: str = "", model_version: int = 0,
                 doc_string: str = "", functions: Iterable[Function] = ()) -> None:
        self.graph = graph
        self.ir_version = ir_version
        self.opset_imports: dict[str, int] = dict(opset_imports if opset_imports is not None else {"": 21})
        self.producer_name = producer_name
        self.producer_version = producer_version
        self.domain = domain
        self.model_version = model_version
        self.doc_string = doc_string
        self.metadata_props: dict[str, str] = {}
        self.functions: list[Function] = list(functions)
        self.training_info: list[TrainingInfo] = []
        self.configuration: list = []  # proto DeviceConfigurationProto objects
        self._extras = None
        self._keepalive = None

    @property
    def opset(self) -> int | None:
        """The version of the default domain (ai.onnx), if imported."""
        return normalize_opsets(self.opset_imports).get("")

    def all_graphs(self) -> list[Graph]:
        """Every graph of the model with its nested subgraphs: the main graph,
        the function bodies, then the training-info graphs."""
        tops = [self.graph, *(f.graph for f in self.functions)]
        tops += [g for t in self.training_info for g in (t.initialization, t.algorithm) if g is not None]
        return [g for top in tops for g in top.all_graphs()]

    def get_function(self, domain: str, name: str, overload: str = "") -> Function | None:
        for f in self.functions:
            if f.identifier == (domain, name, overload):
                return f
        return None

    def __repr__(self) -> str:
        return f"Model(ir_version={self.ir_version}, opsets={self.opset_imports}, {self.graph!r})"
