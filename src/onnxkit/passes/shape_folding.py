"""Shape folding: shape computations that shape inference already answers.

Models exported with dynamic axes compute shapes at run time
(``Shape -> Gather -> Unsqueeze -> Concat -> Reshape``).  Where the dims a
``Shape`` reads are known numbers, its result is a constant; so is ``Size``
of a fully static value, and ``Gather(Shape(x), i)`` of a static dim even
when other dims of ``x`` are symbolic (a batch dimension).  This pass puts
those constants in; :class:`~onnxkit.passes.constant_folding.ConstantFolding`
then folds the rest of the chain.

Shape inference runs once per model (in place: values get their types, which
later passes use too); when it fails the model is left alone.
"""

from __future__ import annotations

import weakref

import numpy as np

from ..errors import OnnxkitError
from ..ir import Graph, Model, Node, Value
from ..ir._domain import is_onnx_domain
from ._base import Pass, const_array
from .constant_folding import replace_with_constants

__all__ = ["ShapeFolding"]


class ShapeFolding(Pass):
    """Replace Shape / Size / Gather-of-Shape of known dims by constants."""

    name = "shape_folding"

    def __init__(self) -> None:
        # models (by their main graph) inferred already, or whose inference failed
        self._inferred: "weakref.WeakSet[Graph]" = weakref.WeakSet()
        self._failed: "weakref.WeakSet[Graph]" = weakref.WeakSet()

    def __call__(self, model: Model) -> bool:
        if model.graph in self._failed:
            return False
        if model.graph not in self._inferred:
            from ..infer import infer_shapes
            try:
                infer_shapes(model)
            except OnnxkitError:
                self._failed.add(model.graph)
                return False
            self._inferred.add(model.graph)
        initializers = (model.ir_version or 0) >= 4
        changed = False
        for g in model.graph.all_graphs():
            changed |= _fold(g, initializers)
        return changed


def _fold(graph: Graph, initializers: bool) -> bool:
    changed = False
    for node in graph:
        if not is_onnx_domain(node.domain) or not node.inputs or node.inputs[0] is None:
            continue
        if node.op_type == "Shape":
            r = _shape_dims(node)
        elif node.op_type == "Size":
            r = _size(node.inputs[0])
        elif node.op_type == "Gather":
            r = _gather_of_shape(node)
        else:
            continue
        if r is None:
            continue
        changed |= replace_with_constants(graph, node, [r], initializers)
    return changed


def _shape_dims(node: Node) -> np.ndarray | None:
    """The dims ``Shape`` returns, when all of them are known numbers."""
    dims = _dims_in_range(node)
    if dims is None or not all(isinstance(d, int) for d in dims):
        return None
    return np.array(dims, dtype=np.int64)


def _dims_in_range(node: Node) -> list | None:
    """The input dims a Shape node reports (its start/end applied), any kind."""
    s = node.inputs[0].shape
    if s is None:
        return None
    dims = list(s.dims)
    r = len(dims)
    start, end = node.attr("start", 0), node.attr("end", r)
    if not isinstance(start, int) or not isinstance(end, int):
        return None                 # a malformed node: the runtime will say so
    start = min(max(start + r if start < 0 else start, 0), r)
    end = min(max(end + r if end < 0 else end, 0), r)
    return dims[start:end]


def _size(x: Value) -> np.ndarray | None:
    s = x.shape
    if s is None or not s.is_static():
        return None
    return np.array(int(np.prod(s.numpy(), dtype=np.int64)), dtype=np.int64)


def _gather_of_shape(node: Node) -> np.ndarray | None:
    """``Gather(Shape(x), i)`` (axis 0) where every gathered dim is a number."""
    if len(node.inputs) < 2 or node.inputs[1] is None or node.attr("axis", 0) not in (0, -1):
        return None
    p = node.inputs[0].producer()
    if p is None or p.op_type != "Shape" or not is_onnx_domain(p.domain):
        return None
    dims = _dims_in_range(p)
    idx = const_array(node.inputs[1])
    if dims is None or idx is None or idx.dtype.kind not in "iu":
        return None
    n = len(dims)
    flat = idx.reshape(-1).astype(np.int64)
    if np.any(flat < -n) or np.any(flat >= n):
        return None            # out of range: the runtime reports it
    picked = [dims[int(i)] for i in flat]
    if not all(isinstance(d, int) for d in picked):
        return None
    return np.array(picked, dtype=np.int64).reshape(idx.shape)
