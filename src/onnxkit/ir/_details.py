"""What a file said that the IR's plain values cannot: :class:`WireDetails`.

The IR holds plain values (``name == ""``, ``ir_version == 0``, an attribute's
``type``), but proto2 tells a field written with its default value from one
not written at all, and a file may carry fields this schema does not know,
repeat a name, or list things in an order a dict forgets.  For a file read
and written back to give the same message, presence included, an IR object
(Value, Attribute, Node, Graph, Function, Model, TrainingInfo, SparseTensor)
keeps such details in its ``_extras`` slot: ``None`` (nearly always) or one
:class:`WireDetails`.

:mod:`onnxkit.ir.serde` and the text parser fill them in, serde and the text
printer write them back, the checker reports what they reveal, and
:func:`onnxkit.ir.clone_model` copies them.  Read them with :func:`details`,
change them with :func:`set_details`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._core import Attribute, Graph, Node, Value

__all__ = ["NO_DETAILS", "WireDetails", "add_listed_initializer", "attributes_as_listed",
           "copy_details", "details", "initializers_as_listed", "output_description", "set_details"]


@dataclass(slots=True, eq=False)
class WireDetails:
    """Round-trip details of one IR object.  Every field defaults to "nothing
    to remember"; each one says which objects use it."""

    #: Optional fields written on the wire with their default value (``""``,
    #: ``0``); serialization writes them although the IR value is the default.
    explicit: frozenset[str] = frozenset()
    #: Fields absent on the wire where the IR holds a value anyway: a
    #: ValueInfo's ``name``; an Attribute's ``type``, or its value field
    #: (``"f"``, ``"g"`` ...) when the attribute has a type but no value.
    absent: frozenset[str] = frozenset()
    #: Encoded fields (tag included) of numbers this schema does not know,
    #: written back after the known ones.
    unknown: tuple[bytes, ...] = ()
    #: Attribute: value fields its type does not use ({field: wire value}),
    #: written back as they were (the checker reports them).
    stray: dict[str, Any] | None = None
    #: Node: its attributes in file order when a name repeats (``attributes``,
    #: a dict, keeps the last of each name).  Used while the dict still holds
    #: the same attributes.
    attribute_list: list[Attribute] | None = None
    #: Graph: {output index: a detached Value} describing an output that is a
    #: value of an enclosing graph passed straight through (its ValueInfo
    #: cannot go on the outer value itself).  See :func:`output_description`.
    output_info: dict[int, Value] | None = None
    #: Graph: initializers whose name repeats an earlier one's, each with its
    #: index in the file's initializer list (``initializers`` keeps the first
    #: of each name; nothing reads the repeats).  Written back, and reported
    #: by the checker, while their name is still an initializer's: see
    #: :func:`initializers_as_listed`.
    repeated_initializers: tuple[tuple[int, Value], ...] = ()
    #: Model, Function: the opset_import entries as written, ``(domain or
    #: None, version or None)``, when ``opset_imports`` (a dict) would lose
    #: order, repeats or presence.  Used while the dict still agrees with them.
    opsets: list[tuple[str | None, int | None]] | None = None
    #: Model: the file had no ``graph`` field (written back while the graph is
    #: still empty).
    no_graph: bool = False

    def copy(self) -> WireDetails:
        """A shallow copy (the containers of the object-specific fields too)."""
        return replace(self, stray=None if self.stray is None else dict(self.stray),
                       attribute_list=None if self.attribute_list is None else list(self.attribute_list),
                       output_info=None if self.output_info is None else dict(self.output_info),
                       opsets=None if self.opsets is None else list(self.opsets))


#: The details of an object that has none.  Shared: never change it.
NO_DETAILS = WireDetails()


def details(obj: Any) -> WireDetails:
    """The details of ``obj``: its own, or :data:`NO_DETAILS` (read only)."""
    d = obj._extras
    return NO_DETAILS if d is None else d


def set_details(obj: Any, **fields: Any) -> WireDetails:
    """Set ``fields`` on the details of ``obj`` (created when it has none)."""
    d = obj._extras
    if d is None:
        d = obj._extras = WireDetails(**fields)
    else:
        for name, value in fields.items():
            setattr(d, name, value)
    return d


def copy_details(src: Any, dst: Any) -> None:
    """Give ``dst`` a copy of the details of ``src`` (Values held by the
    object-specific fields stay those of ``src``: a caller copying a graph
    maps them)."""
    d = src._extras
    dst._extras = None if d is None else d.copy()


def add_listed_initializer(graph: Graph, name: str, value: Value) -> None:
    """Add an initializer as a file lists it: a name seen before in this graph
    goes to ``repeated_initializers`` (with its place in the list)."""
    if name in graph.initializers:
        repeated = details(graph).repeated_initializers
        pos = len(graph.initializers) + len(repeated)
        set_details(graph, repeated_initializers=(*repeated, (pos, value)))
    else:
        graph.initializers[name] = value


def initializers_as_listed(graph: Graph) -> list[Value]:
    """The graph's initializer Values in the order the file listed them: those
    of ``graph.initializers`` with the repeated names put back in place.  A
    repeat goes with its name: once no initializer of the graph has that name
    (a pass removed or renamed it), the repeat is gone too."""
    out = list(graph.initializers.values())
    for pos, v in sorted(details(graph).repeated_initializers, key=lambda e: e[0]):
        if v.name in graph.initializers:
            out.insert(min(pos, len(out)), v)
    return out


def attributes_as_listed(node: Node) -> list[Attribute]:
    """The node's attributes in the order (and with the repeats) the file gave,
    while ``node.attributes`` still holds the same ones; else its values."""
    listed = details(node).attribute_list
    if listed is None or {a.name: a for a in listed} != node.attributes:
        return list(node.attributes.values())
    return list(listed)


def output_description(graph: Graph, i: int) -> Value:
    """The Value whose type and doc string describe output ``i`` of ``graph``:
    the output itself, or the description the file gave an outer value passed
    straight through (while output ``i`` still has that name)."""
    v = graph.outputs[i]
    info = details(graph).output_info
    d = None if info is None else info.get(i)
    return d if d is not None and (d.name or "") == (v.name or "") else v
