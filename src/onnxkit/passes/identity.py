"""Remove nodes that pass their input through unchanged.

Recognized no-ops (ops of the default domain):

* ``Identity``; ``Dropout`` at inference (``training_mode`` absent or a
  constant false) whose mask output nobody reads;
* ``Cast`` to the input's own element type, ``CastLike`` of two inputs of
  one element type;
* ``Reshape``, ``Flatten``, ``Squeeze``, ``Unsqueeze``, ``Expand`` whose
  input and output shapes are known equal (static, or the same symbolic
  dims after shape inference);
* ``Transpose`` with the identity permutation; a ``Slice`` that keeps every
  element; a ``Pad`` of zeros;
* ``Concat``, ``Sum``, ``Mean``, ``Max``, ``Min`` of a single input;
* ``x + 0``, ``0 + x``, ``x - 0``, ``x * 1``, ``1 * x``, ``x / 1`` where the
  constant has the input's element type and only dims of 1 (so broadcasting
  changes neither shape nor type).

The node's output is replaced by its input everywhere (a graph output keeps
its name: the input takes it).  Left alone: an output of the graph whose
input cannot be renamed (a graph input, an initializer, an outer-scope value,
or another graph output), and outputs some subgraph passes through directly.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..ir import Graph, Model, Node, Value
from ..ir._domain import is_onnx_domain
from ..ops.cast import to_datatype
from ._base import Pass, PostconditionError, const_array, is_onnx_op, opset_of, output_elsewhere, replace_value

__all__ = ["RemoveIdentities"]

_INT_MAX = 2**31 - 1


class RemoveIdentities(Pass):
    """Bypass and remove no-op nodes."""

    name = "identity"

    def ensures(self, model: Model) -> None:
        """An Identity is left only where a graph outputs its result."""
        for g, _ in self.graphs(model):
            for n in g:
                if is_onnx_op(n, "Identity") and n.inputs and n.inputs[0] is not None \
                        and not n.outputs[0].is_graph_output():
                    raise PostconditionError(f"identity left {n!r} in graph {g.name!r}")

    def apply(self, graph: Graph, model, opsets: dict[str, int]) -> bool:
        changed = False
        for node in graph:
            if not is_onnx_domain(node.domain):
                continue
            rule = _RULES.get(node.op_type)
            if rule is None or not node.inputs or node.inputs[0] is None:
                continue
            src = rule(node, opset_of(opsets, ""))
            if src is None:
                continue
            out = node.outputs[0]
            if any(v.uses() or v.is_graph_output(graph) for v in node.outputs[1:]):
                continue
            if out.is_graph_output(graph):
                p = src.producer()
                if p is None or p.graph is not graph or src.is_graph_output(graph):
                    continue
            if output_elsewhere(graph, out):
                continue
            replace_value(graph, out, src)
            graph.remove(node, safe=False)
            changed = True
        return changed


# ------------------------------------------------------------------ the rules
# Each takes (node, opset of the default domain) and returns the value the
# node's first output equals, or None.


def _first(node: Node, opset: int) -> Value | None:
    return node.inputs[0]


def _single(node: Node, opset: int) -> Value | None:
    return node.inputs[0] if len(node.inputs) == 1 else None


def _dropout(node: Node, opset: int) -> Value | None:
    if len(node.inputs) > 2 and node.inputs[2] is not None:
        t = const_array(node.inputs[2])
        if t is None or t.size != 1 or bool(t.reshape(-1)[0]):
            return None
    return node.inputs[0]


def _cast(node: Node, opset: int) -> Value | None:
    x = node.inputs[0]
    to = node.attr("to")
    if x.dtype is None or to is None:
        return None
    try:
        to = to_datatype(to)            # an int, or a type name in Cast-1
    except (KeyError, ValueError, TypeError):
        return None                     # not a type: the kernel reports it when the node runs
    return x if int(x.dtype) == int(to) else None


def _cast_like(node: Node, opset: int) -> Value | None:
    x = node.inputs[0]
    like = node.inputs[1] if len(node.inputs) > 1 else None
    if like is None or x.dtype is None or x.dtype != like.dtype:
        return None
    return x


def _same_shape(node: Node, opset: int) -> Value | None:
    x, y = node.inputs[0], node.outputs[0]
    sx, sy = x.shape, y.shape
    if sx is None or sy is None or len(sx) != len(sy):
        return None
    for a, b in zip(sx.dims, sy.dims):
        if a is None or b is None or a != b:
            return None
    if x.dtype is not None and y.dtype is not None and x.dtype != y.dtype:
        return None
    return x


def _transpose(node: Node, opset: int) -> Value | None:
    perm = node.attr("perm")
    if perm is None:     # reversed dims: the identity only for rank <= 1
        s = node.inputs[0].shape
        return node.inputs[0] if s is not None and len(s) <= 1 else None
    return node.inputs[0] if list(perm) == list(range(len(perm))) else None


def _ints(node: Node, i: int, attr: str, opset: int, since: int) -> list[int] | None:
    """An int list given as input ``i`` (opset >= ``since``) or as attribute
    ``attr`` (older); None when absent or not constant."""
    if opset >= since:
        if len(node.inputs) <= i or node.inputs[i] is None:
            return None
        a = const_array(node.inputs[i])
        return None if a is None or a.dtype.kind not in "iu" else [int(x) for x in a.reshape(-1)]
    v = node.attr(attr)
    return None if v is None else [int(x) for x in v]


def _slice(node: Node, opset: int) -> Value | None:
    x = node.inputs[0]
    starts = _ints(node, 1, "starts", opset, 10)
    ends = _ints(node, 2, "ends", opset, 10)
    if starts is None or ends is None or len(starts) != len(ends):
        return None
    axes = _ints(node, 3, "axes", opset, 10)
    if axes is None:
        if (node.inputs[3:4] and node.inputs[3] is not None) if opset >= 10 else node.attr("axes"):
            return None          # given but not constant
        axes = list(range(len(starts)))
    steps = [1] * len(starts)
    if opset >= 10 and len(node.inputs) > 4 and node.inputs[4] is not None:
        steps = _ints(node, 4, "", opset, 10)
        if steps is None:
            return None
    dims = x.shape.dims if x.shape is not None else None
    for s, e, ax, st in zip(starts, ends, axes, steps):
        if st != 1:
            return None
        d = None
        if dims is not None and -len(dims) <= ax < len(dims):
            d = dims[ax]
        if not isinstance(d, int):
            d = None
        if s < 0:
            if d is None or s + d > 0:
                return None
        elif s != 0:
            return None
        if not (e >= _INT_MAX or (d is not None and e >= d)):
            return None
    return x


def _pad(node: Node, opset: int) -> Value | None:
    pads = _ints(node, 1, "pads", opset, 11)
    if pads is None or any(pads):
        return None
    return node.inputs[0]


def _neutral(value: int, left: bool) -> Callable[[Node, int], Value | None]:
    """x op c (and c op x when ``left``) with c all ``value`` and only dims of 1."""
    def rule(node: Node, opset: int) -> Value | None:
        if len(node.inputs) != 2 or node.inputs[1] is None:
            return None
        pairs = [(node.inputs[0], node.inputs[1])]
        if left:
            pairs.append((node.inputs[1], node.inputs[0]))
        for x, c in pairs:
            if _is_neutral(x, c, value):
                return x
        return None
    return rule


def _is_neutral(x: Value, c: Value, value: int) -> bool:
    if c.shape is not None and c.shape.is_static() and int(np.prod(c.shape.numpy())) != 1:
        return False         # not a broadcast scalar: do not read it
    a = const_array(c)
    if a is None or a.size != 1 or x.shape is None or a.ndim > len(x.shape):
        return False
    if x.dtype is None or x.dtype.numpy_dtype != a.dtype:
        return False
    try:
        return bool(a.reshape(-1)[0] == value)
    except (TypeError, ValueError):
        return False


_RULES: dict[str, Callable[[Node, int], Value | None]] = {
    "Identity": _first,
    "Dropout": _dropout,
    "Cast": _cast,
    "CastLike": _cast_like,
    "Reshape": _same_shape, "Flatten": _same_shape, "Squeeze": _same_shape,
    "Unsqueeze": _same_shape, "Expand": _same_shape,
    "Transpose": _transpose,
    "Slice": _slice,
    "Pad": _pad,
    "Concat": _single, "Sum": _single, "Mean": _single, "Max": _single, "Min": _single,
    "Add": _neutral(0, True), "Sub": _neutral(0, False),
    "Mul": _neutral(1, True), "Div": _neutral(1, False),
}
