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
from ._base import (Pass, const_array, ensure_runtime_domain_imported, make_constant, opset_of, remove_nodes,
                    replace_value, require_runtime_domain)
from ._match import FLOAT_TYPES, fused_domain, is_op, other_input, rank_of, scalar_of, sole_reader
from ._pattern import ANY, Pattern

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


def _layer_norm(op, x, eps, square: str, inverse: str):
    """The normalization, before gamma and beta (``ANY``: the axes input from opset 18)."""
    mu = op.ReduceMean(x, ANY, _as="mean1")
    d = op.Sub(x, mu)
    sq = op.Pow(d, 2.0) if square == "pow" else op.Mul(d, d)
    den = op.Sqrt(op.Add(op.ReduceMean(sq, ANY, _as="mean2"), eps))
    return op.Div(d, den) if inverse == "div" else op.Mul(d, op.Reciprocal(den))


_PATTERNS = [Pattern(_layer_norm, square=sq, inverse=inv) for sq in ("pow", "mul") for inv in ("div", "reciprocal")]


class FuseLayerNorm(Pass):
    """Rewrite the decomposed layer normalization into LayerNormalization."""

    name = "fuse_layer_norm"
    #: the spec op it fuses into, and the opset that introduced it
    spec_op = ("LayerNormalization", 17)

    def __init__(self, level: str = "extended") -> None:
        self.level = level

    def requires(self, model: Model) -> None:
        if self.level == "runtime":             # below the spec op's opset it writes the ai.onnxkit op
            require_runtime_domain(model)

    def ensures(self, model: Model) -> None:
        ensure_runtime_domain_imported(model)

    def apply(self, graph: Graph, model: Model, opsets: dict[str, int]) -> bool:
        opset = opset_of(opsets)
        changed = False
        for node in graph:
            if is_op(node, "Div") or is_op(node, "Mul"):
                m = next((m for p in _PATTERNS if (m := p.match(graph, node)) is not None), None)
                if m is not None:
                    changed |= self._fuse(graph, model, opsets, opset, m, node)
        return changed

    def _fuse(self, graph: Graph, model: Model, opsets, opset: int, m, norm: Node) -> bool:
        x, eps = m["x"], scalar_of(m["eps"])
        axes = _axes(m.node("mean1"), opset)
        if eps is None or eps < 0 or axes is None or axes != _axes(m.node("mean2"), opset):
            return False
        rank = rank_of(x)
        k = _trailing(axes, rank)
        if k is None or (x.dtype is not None and x.dtype not in FLOAT_TYPES):
            return False
        chain, out, params = _scale_and_bias(graph, m.nodes, norm.outputs[0])
        arrays = _weights(x, params, k, rank)
        if arrays is None:
            return False
        domain = fused_domain(graph, model, opsets, self.spec_op[1], self.level)
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


def _scale_and_bias(graph: Graph, chain: list[Node], out: Value) -> tuple[list[Node], Value, list[Value | None]]:
    """The Mul by a constant gamma and the Add of a constant beta that may
    follow the normalization: (every node, the last value, [gamma, beta] as written)."""
    params: list[Value | None] = [None, None]
    nxt = sole_reader(graph, out)
    for i, op in enumerate(("Mul", "Add")):
        if is_op(nxt, op) and const_array(other_input(nxt, out)) is not None:
            params[i] = other_input(nxt, out)
            chain.append(nxt)
            out = nxt.outputs[0]
            nxt = sole_reader(graph, out)
    return chain, out, params


def _weights(x: Value, params: list[Value | None], k: int, rank: int | None) -> list | None:
    """gamma (ones when absent) and beta (None when absent) in the normalized
    shape and x's float type, or None when they cannot be."""
    arrays = [const_array(v) if v is not None else None for v in params]
    np_dtype = next((a.dtype for a in arrays if a is not None), None)
    if np_dtype is None and x.dtype is not None:
        np_dtype = np.dtype(x.dtype.numpy_dtype)
    if np_dtype is None or DataType.from_numpy(np_dtype) not in FLOAT_TYPES:
        return None
    for a in arrays:        # same type as x, and no broadcast that would add dims to x's
        if a is not None and (a.dtype != np_dtype or a.ndim > (rank if rank is not None else k)):
            return None
    shape = x.shape
    norm_shape = None
    if shape is not None and all(isinstance(s, int) for s in shape.dims[len(shape) - k:]):
        norm_shape = tuple(shape.dims[len(shape) - k:])
    if arrays[0] is None:
        if norm_shape is None:
            return None
        arrays[0] = np.ones(norm_shape, np_dtype)
    for i, a in enumerate(arrays):
        if a is not None:
            arrays[i] = _param(a, k, norm_shape or (arrays[0].shape if i else None))
            if arrays[i] is None:
                return None
    return arrays
