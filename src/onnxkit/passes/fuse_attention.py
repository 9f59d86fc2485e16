"""Scaled dot-product attention written out -> Attention (opset 23 semantics).

The exporters (torch's TorchScript and dynamo exporters, onnxkit's own) write
attention over 4-D ``[batch, heads, seq, head_size]`` tensors as::

    scores = MatMul(Q * a, K^T * b)         or  MatMul(Q, K^T) / c  (or * c)
    scores = Add(scores, mask)              (optional; either operand order)
    P      = Softmax(scores, axis=-1)
    P      = Where(IsNaN(P), 0, P)          (optional guard: fully masked rows
         or  Where(ReduceMax(scores, -1) == -inf, 0, P)    give zeros)
    Y      = MatMul(P, V)

(the patterns ``_scores`` and ``_probs`` below, matched from the last MatMul) with ``a``, ``b``, ``c`` scalar constants (``a = b = sqrt(scale)`` is the
usual split), ``K^T`` a Transpose of K or any rank-4 value (then K is its
transpose back).  It becomes ``Attention(Q, K, V, mask, scale=a*b/c)``: a
standard op from opset 23, an ``ai.onnxkit`` op with Attention-23's semantics
at the "runtime" level below that, untouched otherwise.

Attention gives zeros for a row whose mask is -inf everywhere, where a bare
Softmax gives NaN; so without one of the guards above the mask must be one
that cannot be -inf (absent, a constant without -inf, or a Where between such
constants).  A standard Attention also needs a mask whose query dim is the
queries' count (onnxruntime does not broadcast it there; at the "runtime"
level such a mask goes to the ``ai.onnxkit`` op).  Ranks are taken from the graph's shapes (the pass runs shape
inference first when a candidate lacks them); every value inside the pattern
must be read by the pattern alone.
"""

from __future__ import annotations

import numpy as np

from ..errors import OnnxkitError
from ..ir import Graph, Model, Node, Value
from ._base import (Pass, const_array, ensure_runtime_domain_imported, opset_of, remove_nodes, replace_value,
                    require_runtime_domain, unique_name)
from ._match import FLOAT_TYPES, fused_domain, is_op, rank_of, scalar_of, sole_reader
from ._pattern import ANY, Pattern

__all__ = ["FuseAttention"]


def _readers_are(graph: Graph, v: Value, nodes: list[Node]) -> bool:
    """``v`` is read by exactly ``nodes`` (and is not a graph output)."""
    if v.is_graph_output(graph):
        return False
    return {id(n) for n in v.consumers()} == {id(n) for n in nodes}


def _cannot_be_neg_inf(mask: Value) -> bool:
    c = const_array(mask)
    if c is not None:
        return c.dtype.kind == "f" and not np.isneginf(c).any()
    p = mask.producer()
    if is_op(p, "Where"):
        branches = [const_array(v) for v in p.inputs[1:]]
        return all(b is not None and b.dtype.kind == "f" and not np.isneginf(b).any() for b in branches)
    return False


def _dim(v: Value | None, i: int):
    shape = v.shape if v is not None else None
    if shape is None or not len(shape) or shape[i] is None:
        return None
    return shape[i]


def _last_dim(v: Value | None):
    return _dim(v, -1)


def _reduce_max_last(node: Node, opset: int) -> bool:
    if node.attr("keepdims", 1) != 1:
        return False
    if opset >= 18:
        axes = const_array(node.inputs[1]) if len(node.inputs) > 1 and node.inputs[1] is not None else None
        axes = None if axes is None else axes.reshape(-1).tolist()
    else:
        axes = node.attr("axes")
    return axes is not None and list(axes) in ([-1], [3])


def _probs(op, s, v, guard: str):
    """``MatMul(P, V)``, P the Softmax of the scores ``s``, guarded against fully masked rows or not."""
    p = op.Softmax(s, _as="softmax")
    if guard == "isnan":
        p = op.Where(op.IsNaN(p), 0.0, p)
    elif guard == "max":
        p = op.Where(op.Equal(op.ReduceMax(s, ANY, _as="rmax"), -np.inf), 0.0, p)
    return op.MatMul(p, v)


def _scores(op, q, kt, mask, a, b, c, qk: str, scale: str, masked: bool):
    """The scores: ``MatMul(Q [* a], K^T [* b])``, ``[/ c or * c]``, ``[+ mask]``."""
    s = op.MatMul(op.Mul(q, a) if "q" in qk else q, op.Mul(kt, b) if "k" in qk else kt)
    if scale == "div":
        s = op.Div(s, c)
    elif scale == "mul":
        s = op.Mul(s, c, _commute=False)
    return op.Add(s, mask) if masked else s


def _scalar(v: Value) -> bool:
    return scalar_of(v) is not None


_PROBS = [(Pattern(_probs, guard=g), g) for g in ("none", "isnan", "max")]
# the first that matches wins: scaled forms before plain ones
_SCORES = [(Pattern(_scores, where={"a": _scalar, "b": _scalar, "c": lambda v: bool(scalar_of(v))},
                    qk=qk, scale=sc, masked=mk), sc)
           for mk in (True, False) for sc in ("div", "mul", "none") for qk in ("qk", "q", "k", "")]


def _first(patterns, graph: Graph, node: Node | None):
    """(match, variant) of the first pattern matching at ``node``, or (None, None)."""
    if node is not None:
        for pattern, variant in patterns:
            m = pattern.match(graph, node)
            if m is not None:
                return m, variant
    return None, None


class FuseAttention(Pass):
    """Rewrite scaled dot-product attention into the Attention op."""

    name = "fuse_attention"
    #: the spec op it fuses into, and the opset that introduced it
    spec_op = ("Attention", 23)

    def __init__(self, level: str = "extended") -> None:
        self.level = level

    def requires(self, model: Model) -> None:
        if self.level == "runtime":             # below the spec op's opset it writes the ai.onnxkit op
            require_runtime_domain(model)

    def ensures(self, model: Model) -> None:
        ensure_runtime_domain_imported(model)

    def __call__(self, model: Model) -> bool:
        if not any(is_op(n, "Softmax") for g in model.all_graphs() for n in g):
            return False
        changed = False
        inferred = False
        for g, opsets in self.graphs(model):
            for final in g:
                if not is_op(final, "MatMul") or final.graph is not g:
                    continue
                found = self._match(g, final, opset_of(opsets))
                if found == "ranks" and not inferred:
                    inferred = True
                    _infer(model)
                    found = self._match(g, final, opset_of(opsets))
                if isinstance(found, tuple):
                    changed |= self._rewrite(g, model, opsets, *found)
        return changed

    def _match(self, graph: Graph, final: Node, opset: int):
        """(q, k_t, v, mask, scale, nodes, out), "ranks" when only the ranks are
        missing to decide, or None."""
        probs, guard = _first(_PROBS, graph, final)
        if probs is None:
            return None
        sm, s = probs.node("softmax"), probs["s"]
        if sm.attr("axis", -1 if opset >= 13 else 1) not in (-1, 3):
            return None
        if guard == "max" and not _reduce_max_last(probs.node("rmax"), opset):
            return None
        if not _readers_are(graph, s, [sm, probs.node("rmax")] if guard == "max" else [sm]):
            return None
        scores, scaling = _first(_SCORES, graph, s.producer())
        if scores is None:
            return None
        q, kt, v, mask = scores["q"], scores["kt"], probs["v"], scores.get("mask")
        if guard == "none" and mask is not None and not _cannot_be_neg_inf(mask):
            return None
        scale = 1.0
        for name in ("a", "b"):
            if scores.get(name) is not None:
                scale *= scalar_of(scores[name])
        if scaling != "none":
            c = scalar_of(scores["c"])
            scale *= 1.0 / c if scaling == "div" else c
        ranks = [rank_of(q), rank_of(kt), rank_of(v), rank_of(mask) if mask is not None else 0]
        if None in ranks:
            return "ranks"
        if ranks[:3] != [4, 4, 4] or ranks[3] > 4:
            return None
        if mask is not None:
            # Attention pads a mask shorter than the keys with -inf (a KV cache
            # mask), where Add broadcasts it: its last dim must be the keys' count
            unmasked = next(x for x in s.producer().inputs if x is not mask)
            kv = {_last_dim(kt), _last_dim(unmasked), _dim(v, -2)} - {None}
            last = _last_dim(mask) if ranks[3] else 1
            if last is None or not kv:
                return "ranks"
            if last not in kv:
                return None
        for t in (q, kt, v, mask):
            if t is not None and t.dtype is not None and t.dtype not in FLOAT_TYPES:
                return None
        return q, kt, v, mask, scale, scores.nodes + probs.nodes, final.outputs[0]

    def _rewrite(self, graph: Graph, model: Model, opsets, q, kt, v, mask, scale, nodes, out) -> bool:
        if mask is not None and opset_of(opsets) >= 23 and _dim(mask, -2) != _dim(q, -2):
            # onnxruntime's Attention does not broadcast the mask along the
            # queries (the spec does): keep the standard op runnable there
            if self.level != "runtime" or _dim(mask, -2) is None:
                return False
            domain = fused_domain(graph, model, {"": 0}, self.spec_op[1], self.level)
        else:
            domain = fused_domain(graph, model, opsets, self.spec_op[1], self.level)
        if domain is None:
            return False
        final = out.producer()
        new: list[Node] = []
        tp = kt.producer()
        perm = tp.attr("perm") if is_op(tp, "Transpose") else None
        if perm is not None and len(perm) == 4:
            back = [perm[0], perm[1], perm[3], perm[2]]
            src = tp.inputs[0]
            if sole_reader(graph, kt) is not None and (kt.consumers()[0] in nodes):
                nodes = [tp] + nodes
        else:
            back, src = [0, 1, 3, 2], kt
        if back == [0, 1, 2, 3]:
            k = src
        else:
            k = Value(unique_name(graph, f"{out.name or 'attention'}_K"))
            new.append(Node("Transpose", [src], [k], name=f"{final.name}_K", attributes={"perm": back}))
        inputs = [q, k, v] + ([mask] if mask is not None else [])
        att = Node("Attention", inputs, [Value(out.name, out.type)], domain=domain,
                   name=final.name or out.name or "attention", attributes={"scale": float(scale)})
        graph.insert_before(final, new + [att])
        replace_value(graph, out, att.outputs[0])
        remove_nodes(graph, nodes)
        return True


def _infer(model: Model) -> None:
    """Shapes for the rank checks; a model shape inference cannot handle is
    left as it is (its candidates are then not rewritten)."""
    from ..infer import infer_shapes
    try:
        infer_shapes(model)
    except OnnxkitError:
        pass
