"""The pass contract, and the small graph helpers passes share."""

from __future__ import annotations

import functools
import inspect
import weakref
from typing import Any, Iterator

import numpy as np

from ..errors import OptimizeError
from ..ir import DataType, Graph, Model, Node, Tensor, TensorType, Value
from ..ir._domain import is_onnx_domain, normalize_opsets

__all__ = ["Pass", "PostconditionError", "PreconditionError", "RUNTIME_DOMAIN", "const_array", "is_constant",
           "ensure_runtime_domain_imported", "is_onnx_op", "make_constant", "opset_of", "output_elsewhere",
           "replace_value", "remove_nodes", "require_runtime_domain", "unique_name", "use_runtime_domain"]

#: the domain of the ops only onnxkit's runtime knows (fused kernels, newer
#: spec ops under an older opset)
RUNTIME_DOMAIN = "ai.onnxkit"


class PreconditionError(OptimizeError):
    """A pass was given a model it does not take (its ``requires`` failed)."""


class PostconditionError(OptimizeError):
    """A pass left the model other than it promises (its ``ensures`` failed)."""


class Pass:
    """One rewrite.  Subclasses set ``name`` and implement
    :meth:`apply` (one graph) or override ``__call__`` (the whole model).

    Contract, for every pass: it keeps every graph's interface (the same
    inputs, and outputs of the same names and results), imports every domain
    its nodes use, never changes a tensor in place, never reads weights it does
    not need, and returns whether it changed anything.  What a pass needs
    beyond that it states in :meth:`requires`, what it promises in
    :meth:`ensures`; the :class:`~onnxkit.passes.PassManager` calls both
    (and, in check mode, the checker and a run of the model after each pass).
    """

    name = "pass"
    #: also apply to subgraphs (If/Loop/Scan bodies) and function bodies
    subgraphs = True
    #: for a fusion into a spec op: (the op, the opset that introduced it)
    spec_op: tuple[str, int] | None = None

    def requires(self, model: Model) -> None:
        """Raise :class:`PreconditionError` when ``model`` is not one this pass takes."""

    def ensures(self, model: Model) -> None:
        """Raise :class:`PostconditionError` when ``model``, after this pass, is not
        as the pass promises."""

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


def is_onnx_op(node: Node | None, *op_types: str) -> bool:
    """``node`` is an op of the default domain (one of ``op_types``, when given)."""
    return node is not None and is_onnx_domain(node.domain) and (not op_types or node.op_type in op_types)


def use_runtime_domain(model: Model) -> None:
    """Import the ``ai.onnxkit`` domain (version 1) into ``model``."""
    model.opset_imports.setdefault(RUNTIME_DOMAIN, 1)


def require_runtime_domain(model: Model) -> None:
    """Precondition of a pass that may write ``ai.onnxkit`` ops: the model
    imports no version of that domain but 1 (the one onnxkit's kernels implement)."""
    version = model.opset_imports.get(RUNTIME_DOMAIN)
    if version not in (None, 1):
        raise PreconditionError(f"the model imports {RUNTIME_DOMAIN} version {version}; onnxkit's fused "
                                "kernels are version 1")


def ensure_runtime_domain_imported(model: Model) -> None:
    """Postcondition of a pass that may write ``ai.onnxkit`` ops: the model imports that domain if it has one."""
    if RUNTIME_DOMAIN in model.opset_imports:
        return
    for g in model.all_graphs():
        for n in g:
            if n.domain == RUNTIME_DOMAIN:
                raise PostconditionError(f"{n!r} is an {RUNTIME_DOMAIN} op, and the model does not import "
                                         "that domain")


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
    return (p.op_type == "Constant" and is_onnx_domain(p.domain) and "value" in p.attributes
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


def output_elsewhere(graph: Graph, v: Value) -> bool:
    """Whether a graph other than ``graph`` outputs ``v`` (a subgraph passing a
    value of ``graph`` through): no node there reads it, so passes leave it be."""
    return any(g is not graph for g in v.output_of())


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
    """Make every reader of ``old`` read ``new``.  When ``old`` is an output of
    ``graph``, ``new`` takes its place and its name (and type, if it has none),
    so the graph's interface does not change."""
    old.replace_all_uses_with(new)
    if not old.is_graph_output(graph):
        return
    if new.producer() is None and new.name and new.name != old.name:
        # an input or initializer cannot be renamed: route it through Identity
        ident = Node("Identity", [new], [Value(old.name, old.type)])
        graph.append(ident)
        new = ident.outputs[0]
    else:
        new.name = old.name
        if new.type is None or (old.shape is not None and new.shape is None):
            new.type = old.type         # the graph's declared interface stays as it was
    old.replace_all_uses_with(new, replace_graph_outputs=True)


def remove_nodes(graph: Graph, nodes: list[Node]) -> None:
    """Remove ``nodes`` (readers first), none of whose outputs may be read
    any more by nodes outside the list."""
    for n in reversed(nodes):
        if n.graph is graph:
            graph.remove(n, safe=False)
