"""The pass contract, and the small graph helpers passes share."""

from __future__ import annotations

import functools
import inspect
import weakref
from typing import Any, Iterator

import numpy as np

from ..ir import DataType, Graph, Model, Node, Tensor, TensorType, Value
from ..runtime._plan import normalize_opsets

__all__ = ["Pass", "RUNTIME_DOMAIN", "const_array", "is_constant", "is_output", "make_constant", "opset_of",
           "replace_value", "remove_nodes", "unique_name", "use_runtime_domain"]

#: the domain of the ops only onnxkit's runtime knows (fused kernels, newer
#: spec ops under an older opset)
RUNTIME_DOMAIN = "ai.onnxkit"


class Pass:
    """One rewrite.  Subclasses set ``name`` and implement
    :meth:`apply` (one graph) or override ``__call__`` (the whole model).

    Contract: a pass keeps every graph output's value (same results, same
    names), never changes a tensor in place, never reads weights it does not
    need, and returns whether it changed anything.
    """

    name = "pass"
    #: also apply to subgraphs (If/Loop/Scan bodies) and function bodies
    subgraphs = True

    @classmethod
    def create(cls, **options: Any) -> Pass:
        """Construct with the options this pass's ``__init__`` takes."""
        params = _init_params(cls)
        return cls(**{k: v for k, v in options.items() if k in params})

    def __call__(self, model: Model) -> bool:
        changed = False
        for g, opsets in self.graphs(model):
            changed |= bool(self.apply(g, model, opsets))
        return changed

    def graphs(self, model: Model) -> Iterator[tuple[Graph, dict[str, int]]]:
        """(graph, opsets in force) for the main graph, its subgraphs and the
        function bodies."""
        base = normalize_opsets(model.opset_imports)
        tops = [(model.graph, base)]
        for f in model.functions:
            tops.append((f.graph, {**base, **normalize_opsets(f.opset_imports)}))
        for top, opsets in tops:
            for g in (top.all_graphs() if self.subgraphs else [top]):
                yield g, opsets

    def apply(self, graph: Graph, model: Model, opsets: dict[str, int]) -> bool:
        raise NotImplementedError


@functools.lru_cache(maxsize=None)
def _init_params(cls: type) -> frozenset:
    """The keyword names a pass class's ``__init__`` takes (inspect is slow:
    once per class, not per Session)."""
    if cls.__init__ is object.__init__:
        return frozenset()
    return frozenset(inspect.signature(cls.__init__).parameters)


def opset_of(opsets: dict[str, int], domain: str = "") -> int:
    return opsets.get(domain, 0)


def use_runtime_domain(model: Model) -> None:
    """Import the ``ai.onnxkit`` domain (version 1) into ``model``."""
    model.opset_imports.setdefault(RUNTIME_DOMAIN, 1)


def is_constant(v: Value | None) -> bool:
    """Whether :func:`const_array` would give an array, without reading (or
    mapping) the tensor's bytes."""
    if v is None:
        return False
    p = v.producer()
    if p is None:
        if v.const_value is None:
            return False
        g = _graph_of_initializer(v)
        return g is None or not any(x is v for x in g.inputs)
    return (p.op_type == "Constant" and p.domain in ("", "ai.onnx") and "value" in p.attributes
            and hasattr(p.attributes["value"].value, "numpy"))


def const_array(v: Value | None) -> np.ndarray | None:
    """The value's array when it is a constant: an initializer that is not
    also a graph input (those can be fed), or a Constant node's output with a
    tensor ``value``.  None otherwise."""
    if not is_constant(v):
        return None
    p = v.producer()
    if p is None:
        return v.const_value.numpy()
    return p.attributes["value"].value.numpy()


def _graph_of_initializer(v: Value) -> Graph | None:
    for node, _ in v._uses:
        g = node.graph
        if g is not None and g.initializers.get(v.name) is v:
            return g
    return None


def is_output(graph: Graph, v: Value) -> bool:
    return any(o is v for o in graph.outputs)


def make_constant(graph: Graph, array: np.ndarray, hint: str = "const") -> Value:
    """A new initializer of ``graph`` holding ``array`` (a fresh unique name)."""
    array = np.asarray(array)
    name = unique_name(graph, hint)
    v = Value(name, TensorType(DataType.from_numpy(array.dtype), array.shape),
              const_value=Tensor(array, name=name))
    graph.add_initializer(v)
    return v


_NAMES: "weakref.WeakKeyDictionary[Graph, set[str]]" = weakref.WeakKeyDictionary()


def unique_name(graph: Graph, hint: str) -> str:
    """A value name not used in ``graph`` yet (``hint``, ``hint_1``, ...)."""
    names = _NAMES.get(graph)
    if names is None:
        names = _NAMES[graph] = {v.name for g in graph.all_graphs() for v in g.values() if v.name}
    i, name = 0, hint
    while name in names:
        i += 1
        name = f"{hint}_{i}"
    names.add(name)
    return name


def replace_value(graph: Graph, old: Value, new: Value) -> None:
    """Make every reader of ``old`` read ``new``.  When ``old`` is a graph
    output, ``new`` takes its place and its name (and type, if it has none), so
    the graph's interface does not change."""
    old.replace_all_uses_with(new)
    for i, o in enumerate(graph.outputs):
        if o is old:
            graph.outputs[i] = new
            if new.producer() is None and new.name and new.name != old.name:
                # an input or initializer cannot be renamed: route it through Identity
                ident = Node("Identity", [new], [Value(old.name, old.type)])
                graph.append(ident)
                graph.outputs[i] = ident.outputs[0]
            else:
                new.name = old.name
                if new.type is None or (old.shape is not None and new.shape is None):
                    new.type = old.type         # the graph's declared interface stays as it was


def remove_nodes(graph: Graph, nodes: list[Node]) -> None:
    """Remove ``nodes`` (readers first), none of whose outputs may be read
    any more by nodes outside the list."""
    for n in reversed(nodes):
        if n.graph is graph:
            graph.remove(n, safe=False)
