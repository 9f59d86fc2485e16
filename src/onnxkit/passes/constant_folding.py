"""Constant folding: compute once, at optimization time, what depends on
constants only.

A node whose inputs are all constants (initializers that are not graph
inputs, Constant outputs, or results folded earlier in the same sweep) and
whose op is deterministic is run with onnxkit's own kernel through
:func:`onnxkit.ops.evaluate_node` (attributes converted and the kernel called
exactly as at run time, no Session per node), and replaced by its results.  Not folded: random ops, Dropout in training
mode, nodes with subgraphs or with attributes referring to an enclosing
function's, results that are not tensors, results over ``fold_limit`` bytes
(checked against the inferred shape before running when it is known), and
nodes whose kernel fails (the runtime reports those at run time, naming the
node).  Constant nodes become initializers.

Where a result goes: an initializer named like the value it replaces, except
in function bodies and models of IR version < 4 (where an initializer would
also have to be a graph input) and for graph outputs, which become Constant
nodes producing the output under its own name, so the interface keeps its
names and no Identity is needed.
"""

from __future__ import annotations

import numpy as np

from ..ir import DataType, Graph, Model, Node, Tensor, TensorType, Value
from ..ir._domain import normalize_opsets
from ..ir._tensor import TensorBase
from ..ops import evaluate_node
from ..ops._evaluate import model_functions
from ._base import Pass, PostconditionError, const_array, is_constant, is_onnx_op, make_constant, output_elsewhere, \
    replace_value

__all__ = ["ConstantFolding", "RANDOM_OPS", "is_deterministic", "replace_with_constants"]

#: ops whose results are random draws: never folded or merged
RANDOM_OPS = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
                        "Multinomial", "Bernoulli"})


def is_deterministic(node: Node) -> bool:
    """True unless the node draws random numbers, has subgraphs, or refers to
    attributes of an enclosing function (its result depends on the call)."""
    if node.op_type in RANDOM_OPS:
        return False
    if node.op_type == "Dropout" and len(node.inputs) > 2 and node.inputs[2] is not None:
        t = const_array(node.inputs[2])
        if t is None or t.size != 1 or bool(t.reshape(-1)[0]):
            return False
    for a in node.attributes.values():
        if a.ref_attr_name is not None or a.subgraphs():
            return False
    return True


class ConstantFolding(Pass):
    """Replace nodes computable from constants by their results."""

    name = "constant_folding"

    def __init__(self, fold_limit: int = 1 << 20) -> None:
        self.fold_limit = fold_limit

    def __call__(self, model: Model) -> bool:
        base = normalize_opsets(model.opset_imports)
        functions = model_functions(model)
        initializers = (model.ir_version or 0) >= 4
        changed = False
        for g in model.graph.all_graphs():
            changed |= self._fold(g, base, functions, initializers)
        for f in model.functions:
            opsets = {**base, **normalize_opsets(f.opset_imports)}
            for g in f.graph.all_graphs():
                changed |= self._fold(g, opsets, functions, False)
        return changed

    def ensures(self, model: Model) -> None:
        """No Constant node of the main graphs is left that could be an initializer."""
        if (model.ir_version or 0) < 4:
            return
        for g in model.graph.all_graphs():
            for node in g:
                if is_onnx_op(node, "Constant") and _may_become_initializer(g, node, True) \
                        and node.outputs[0].name not in g.initializers and _tensor_value(node) is not None:
                    raise PostconditionError(f"constant_folding left Constant {node.outputs[0].name!r} "
                                             f"in graph {g.name!r}")

    def _fold(self, graph: Graph, opsets: dict[str, int], functions: dict, initializers: bool) -> bool:
        changed = False
        for node in graph:
            if is_onnx_op(node, "Constant"):
                if not _may_become_initializer(graph, node, initializers):
                    continue
                if _constant_to_initializer(graph, node):
                    changed = True
                    continue
            if not node.outputs or not all(v is None or is_constant(v) for v in node.inputs):
                continue
            if not is_deterministic(node) or self._too_big(node):
                continue
            results = _run(node, opsets, functions)
            if results is None or any(
                    r.nbytes > self.fold_limit for r in results if r is not None):
                continue
            changed |= replace_with_constants(graph, node, results, initializers)
        return changed

    def _too_big(self, node: Node) -> bool:
        """The inferred output shape says a result is over the limit."""
        for v in node.outputs:
            s, dt = v.shape, v.dtype
            if s is not None and s.is_static() and dt is not None:
                try:
                    itemsize = np.dtype(dt.numpy_dtype).itemsize
                except Exception:
                    continue
                if int(np.prod(s.numpy(), dtype=np.int64)) * itemsize > self.fold_limit:
                    return True
        return False


def _may_become_initializer(graph: Graph, node: Node, initializers: bool) -> bool:
    out = node.outputs[0] if node.outputs else None
    return initializers and out is not None and bool(out.name) and not out.is_graph_output(graph)


def _run(node: Node, opsets: dict[str, int], functions: dict) -> list | None:
    """The node's results computed by its kernel, or None when it cannot be
    folded (no kernel, a failure, or a result that is not a tensor)."""
    try:
        args = [None if v is None else const_array(v) for v in node.inputs]
        with np.errstate(all="ignore"):
            results = evaluate_node(node, args, opsets, functions=functions)
    except Exception:       # the runtime will report it, naming the node
        return None
    out = []
    for v, r in zip(node.outputs, results):
        if r is None:
            if v.uses():
                return None
            out.append(None)
            continue
        if not isinstance(r, np.ndarray):
            return None
        try:
            DataType.from_numpy(r.dtype)
        except Exception:
            return None
        out.append(r)
    return out


def _tensor_value(node: Node) -> TensorBase | None:
    """A Constant node's tensor ``value`` (not a reference to a function's attribute)."""
    a = node.attributes.get("value")
    return a.value if a is not None and a.ref_attr_name is None and isinstance(a.value, TensorBase) else None


def _constant_to_initializer(graph: Graph, node: Node) -> bool:
    """A Constant node with a tensor ``value`` -> an initializer of the same
    name (its tensor object reused: nothing is read or copied)."""
    v, t = node.outputs[0], _tensor_value(node)
    if t is None or v.name in graph.initializers:
        return False
    new = Value(v.name, TensorType(t.dtype, t.shape), const_value=t)
    v.replace_all_uses_with(new)
    graph.remove(node, safe=False)
    graph.add_initializer(new)
    return True


def replace_with_constants(graph: Graph, node: Node, results: list, initializers: bool = True) -> bool:
    """Replace ``node`` by constants holding ``results`` (one per output; None
    for an output nobody reads).  Outputs of the graph, and every output when
    ``initializers`` is false, become Constant nodes producing a value of the
    same name; the rest become initializers named like the value they replace.
    Returns False (and changes nothing) when an output is not plain to
    replace (one a subgraph outputs directly, see :func:`output_elsewhere`).
    """
    for v, r in zip(node.outputs, results):
        if r is None and (v.uses() or v.is_graph_output(graph)):
            return False
        if output_elsewhere(graph, v):
            return False
    for v, r in zip(node.outputs, results):
        if r is None:
            continue
        arr = np.asarray(r)
        if v.is_graph_output(graph) or not initializers or not v.name:
            new = Value(v.name, v.type if v.type is not None else
                        TensorType(DataType.from_numpy(arr.dtype), arr.shape))
            graph.insert_before(node, Node("Constant", [], [new], attributes={"value": Tensor(arr)},
                                           name=node.name))
            v.replace_all_uses_with(new, replace_graph_outputs=True)
        elif v.name in graph.initializers:
            replace_value(graph, v, make_constant(graph, arr, v.name))
        else:
            new = Value(v.name, TensorType(DataType.from_numpy(arr.dtype), arr.shape),
                        const_value=Tensor(arr, name=v.name))
            v.replace_all_uses_with(new)
            graph.add_initializer(new)
    graph.remove(node, safe=False)
    return True

