"""The decomposed layer normalization -> LayerNormalization.

Exporters that do not know LayerNormalization (or models that write it out)
leave this chain over the trailing axes of ``x``::

    mu  = ReduceMean(x)                 d   = Sub(x, mu)
    sq  = Pow(d, 2)  or  Mul(d, d)      var = ReduceMean(sq)
    den = Sqrt(Add(var, eps))           n   = Div(d, den)  or  Mul(d, Reciprocal(den))
    y   = Mul(n, gamma)   (optional)    z   = Add(y, beta)  (optional)

Both ReduceMeans must reduce the same trailing axes with ``keepdims=1`` (axes
as an attribute before opset 18, as a constant input from 18).  The chain
becomes ``LayerNormalization(x, gamma, beta, axis=-k, epsilon=eps)``: a
standard op from opset 17, an ``ai.onnxkit`` op with the same semantics at the
"runtime" level for older opsets, untouched otherwise.  gamma and beta must be
constants that vary only along the normalized axes (LayerNormalization cannot
scale along the others); they are given the normalized shape.  Every value
inside the chain must be read by the chain alone.
"""

from __future__ import annotations

import numpy as np

from ..ir import DataType, Graph, Model, Node, Value
from ._base import Pass, const_array, is_output, make_constant, opset_of, remove_nodes, replace_value
from ._match import FLOAT_TYPES, fused_domain, is_op, other_input, rank_of, scalar_of, sole_reader

__all__ = ["FuseLayerNorm"]


def _axes(node: Node, opset: int) -> list[int] | None:
    """The ReduceMean's axes, when they are constant and keepdims is 1."""
    if node.attr("keepdims", 1) != 1:
        return None
    if opset >= 18:
        if len(node.inputs) < 2 or node.inputs[1] is None:
            return None
        a = const_array(node.inputs[1])
        return None if a is None else [int(x) for x in a.reshape(-1)]
    axes = node.attr("axes")
    return None if axes is None else [int(x) for x in axes]


def _trailing(axes: list[int], rank: int | None) -> int | None:
    """k when ``axes`` are exactly the last k axes (negative, or with a known rank)."""
    if not axes:
        return None
    if rank is not None:
        axes = [a + rank if a < 0 else a for a in axes]
        want = list(range(rank - len(axes), rank))
        return len(axes) if sorted(axes) == want and min(want) >= 0 else None
    if all(a < 0 for a in axes) and sorted(axes) == list(range(-len(axes), 0)):
        return len(axes)
    return None


def _param(a: np.ndarray, k: int, norm_shape: tuple | None) -> np.ndarray | None:
    """gamma/beta as an array of the normalized shape, or None when it varies
    along the other axes or its size cannot be told."""
    while a.ndim > k and a.shape[0] == 1:
        a = a.reshape(a.shape[1:])
    if a.ndim > k:
        return None
    if norm_shape is None:
        # the normalized dims are unknown: take the parameter as full-size
        return a if a.ndim == k and all(d > 1 for d in a.shape) else None
    try:
        return np.ascontiguousarray(np.broadcast_to(a, norm_shape))
    except ValueError:
        return None


class FuseLayerNorm(Pass):
    """Rewrite the decomposed layer normalization into LayerNormalization."""

    name = "fuse_layer_norm"

    def __init__(self, level: str = "extended") -> None:
        self.level = level

    def apply(self, graph: Graph, model: Model, opsets: dict[str, int]) -> bool:
        opset = opset_of(opsets)
        changed = False
        for mean1 in graph:
            if is_op(mean1, "ReduceMean") and mean1.graph is graph:
                changed |= self._try(graph, model, opsets, opset, mean1)
        return changed

    def _try(self, graph: Graph, model: Model, opsets, opset: int, mean1: Node) -> bool:
        x, mu = mean1.inputs[0], mean1.outputs[0]
        sub = sole_reader(graph, mu)
        if not is_op(sub, "Sub") or sub.inputs[0] is not x or sub.inputs[1] is not mu:
            return False
        d = sub.outputs[0]
        readers = d.consumers()
        if len(readers) != 2 or is_output(graph, d):
            return False
        sq = next((n for n in readers if (is_op(n, "Pow") and n.inputs[0] is d and scalar_of(n.inputs[1]) == 2)
                   or (is_op(n, "Mul") and n.inputs[0] is d and n.inputs[1] is d)), None)
        norm = next((n for n in readers if n is not sq), None)
        if sq is None or norm is None:
            return False
        mean2 = sole_reader(graph, sq.outputs[0])
        if not is_op(mean2, "ReduceMean"):
            return False
        axes = _axes(mean1, opset)
        if axes is None or axes != _axes(mean2, opset):
            return False
        rank = rank_of(x)
        k = _trailing(axes, rank)
        if k is None:
            return False
        add_eps = sole_reader(graph, mean2.outputs[0])
        if not is_op(add_eps, "Add"):
            return False
        eps = scalar_of(other_input(add_eps, mean2.outputs[0]))
        sqrt = sole_reader(graph, add_eps.outputs[0])
        if eps is None or eps < 0 or not is_op(sqrt, "Sqrt"):
            return False
        chain = [mean1, sub, sq, mean2, add_eps, sqrt]
        den = sqrt.outputs[0]
        if is_op(norm, "Div") and norm.inputs[0] is d and norm.inputs[1] is den:
            if sole_reader(graph, den) is not norm:
                return False
        elif is_op(norm, "Mul"):
            rec = sole_reader(graph, den)
            if not is_op(rec, "Reciprocal") or sole_reader(graph, rec.outputs[0]) is not norm \
                    or other_input(norm, d) is not rec.outputs[0]:
                return False
            chain.append(rec)
        else:
            return False
        chain.append(norm)
        out = norm.outputs[0]
        params: list[Value | None] = [None, None]        # gamma, beta as written
        nxt = sole_reader(graph, out)
        for i, op in enumerate(("Mul", "Add")):
            if is_op(nxt, op) and const_array(other_input(nxt, out)) is not None:
                params[i] = other_input(nxt, out)
                chain.append(nxt)
                out = nxt.outputs[0]
                nxt = sole_reader(graph, out)
        # the element type, and gamma / beta in the normalized shape
        if x.dtype is not None and x.dtype not in FLOAT_TYPES:
            return False
        arrays = [const_array(v) if v is not None else None for v in params]
        np_dtype = next((a.dtype for a in arrays if a is not None), None)
        if np_dtype is None and x.dtype is not None:
            np_dtype = np.dtype(x.dtype.numpy_dtype)
        if np_dtype is None or DataType.from_numpy(np_dtype) not in FLOAT_TYPES:
            return False
        for a in arrays:        # same type as x, and no broadcast that would add dims to x's
            if a is not None and (a.dtype != np_dtype or a.ndim > (rank if rank is not None else k)):
                return False
        shape = x.shape
        norm_shape = None
        if shape is not None and all(isinstance(s, int) for s in shape.dims[len(shape) - k:]):
            norm_shape = tuple(shape.dims[len(shape) - k:])
        if arrays[0] is None:
            if norm_shape is None:
                return False
            arrays[0] = np.ones(norm_shape, np_dtype)
        for i, a in enumerate(arrays):
            if a is not None:
                arrays[i] = _param(a, k, norm_shape or (arrays[0].shape if i else None))
                if arrays[i] is None:
                    return False
        domain = fused_domain(graph, model, opsets, 17, self.level)
        if domain is None:
            return False
        base = chain[-1].name or out.name or "layer_norm"
        inputs = [x]
        for i, (v, a) in enumerate(zip(params, arrays)):
            if a is None:
                continue
            if v is not None and const_array(v).shape == a.shape:
                inputs.append(v)                     # already in shape: keep the weight as it is
            else:
                inputs.append(make_constant(graph, a, f"{base}_{'bias' if i else 'scale'}"))
        ln = Node("LayerNormalization", inputs, [Value(out.name, out.type)], domain=domain,
                  name=base, attributes={"axis": -k, "epsilon": float(eps)})
        graph.insert_before(chain[-1], ln)
        replace_value(graph, out, ln.outputs[0])
        remove_nodes(graph, chain)
        return True
