"""Scaled dot-product attention written out -> Attention (opset 23 semantics).

The exporters (torch's TorchScript and dynamo exporters, onnxkit's own) write
attention over 4-D ``[batch, heads, seq, head_size]`` tensors as::

    scores = MatMul(Q * a, K^T * b)         or  MatMul(Q, K^T) / c  (or * c)
    scores = Add(scores, mask)              (optional; either operand order)
    P      = Softmax(scores, axis=-1)
    P      = Where(IsNaN(P), 0, P)          (optional guard: fully masked rows
         or  Where(ReduceMax(scores, -1) == -inf, 0, P)    give zeros)
    Y      = MatMul(P, V)

with ``a``, ``b``, ``c`` scalar constants (``a = b = sqrt(scale)`` is the
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
from ._base import Pass, const_array, is_output, opset_of, remove_nodes, replace_value, unique_name
from ._match import FLOAT_TYPES, fused_domain, is_op, rank_of, scalar_of, sole_reader

__all__ = ["FuseAttention"]


def _readers_are(graph: Graph, v: Value, nodes: list[Node]) -> bool:
    """``v`` is read by exactly ``nodes`` (and is not a graph output)."""
    if is_output(graph, v):
        return False
    return {id(n) for n in v.consumers()} == {id(n) for n in nodes}


def _scaled(graph: Graph, v: Value) -> tuple[Value, float, list[Node]]:
    """``v`` = ``w * c`` (c a scalar constant, the product read only here):
    (w, c, [the Mul]); else (v, 1, [])."""
    p = v.producer()
    if is_op(p, "Mul") and sole_reader(graph, v) is not None:
        for w, c in ((p.inputs[0], p.inputs[1]), (p.inputs[1], p.inputs[0])):
            s = scalar_of(c)
            if s is not None and w is not c:
                return w, s, [p]
    return v, 1.0, []


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


def _guard(graph: Graph, scores: Value, softmax: Node, opset: int) -> tuple[Value, list[Node]] | None:
    """The guarded probabilities and the guard's nodes (none: (P, []))."""
    p = softmax.outputs[0]
    readers = p.consumers()
    if is_output(graph, p):
        return None
    if len(readers) == 1 and not is_op(readers[0], "Where"):
        # no guard: scores read by the Softmax only
        return (p, []) if _readers_are(graph, scores, [softmax]) else None
    if len(readers) == 2:                                   # Where(IsNaN(P), 0, P)
        isnan = next((n for n in readers if is_op(n, "IsNaN")), None)
        where = next((n for n in readers if is_op(n, "Where")), None)
        if isnan is None or where is None or sole_reader(graph, isnan.outputs[0]) is not where:
            return None
        if where.inputs[0] is isnan.outputs[0] and scalar_of(where.inputs[1]) == 0 and where.inputs[2] is p \
                and _readers_are(graph, scores, [softmax]):
            return where.outputs[0], [isnan, where]
        return None
    if len(readers) == 1:                                   # Where(ReduceMax(scores) == -inf, 0, P)
        where = readers[0]
        eq = where.inputs[0].producer() if where.inputs[0] is not None else None
        if not is_op(eq, "Equal") or where.inputs[2] is not p or scalar_of(where.inputs[1]) != 0:
            return None
        rmax = eq.inputs[0].producer()
        if not is_op(rmax, "ReduceMax") or rmax.inputs[0] is not scores or not _reduce_max_last(rmax, opset):
            return None
        if scalar_of(eq.inputs[1]) != -np.inf or sole_reader(graph, eq.outputs[0]) is not where \
                or sole_reader(graph, rmax.outputs[0]) is not eq:
            return None
        if not _readers_are(graph, scores, [softmax, rmax]):
            return None
        return where.outputs[0], [rmax, eq, where]
    return None


class FuseAttention(Pass):
    """Rewrite scaled dot-product attention into the Attention op."""

    name = "fuse_attention"

    def __init__(self, level: str = "extended") -> None:
        self.level = level

    def __call__(self, model: Model) -> bool:
        if not any(is_op(n, "Softmax") for g in model.all_graphs() for n in g):
            return False
        changed = False
        inferred = False
        for g, opsets in self.graphs(model):
            for sm in g:
                if not is_op(sm, "Softmax") or sm.graph is not g:
                    continue
                found = self._match(g, sm, opset_of(opsets))
                if found == "ranks" and not inferred:
                    inferred = True
                    _infer(model)
                    found = self._match(g, sm, opset_of(opsets))
                if isinstance(found, tuple):
                    changed |= self._rewrite(g, model, opsets, *found)
        return changed

    def _match(self, graph: Graph, sm: Node, opset: int):
        """(q, k_t, v, mask, scale, nodes, out), "ranks" when only the ranks are
        missing to decide, or None."""
        axis = sm.attr("axis", -1 if opset >= 13 else 1)
        if axis not in (-1, 3):
            return None
        s_in = sm.inputs[0]
        pre = s_in.producer()
        nodes: list[Node] = []
        mask = None
        scores = s_in
        if is_op(pre, "Add") and len(pre.inputs) == 2 and None not in pre.inputs \
                and pre.inputs[0] is not pre.inputs[1]:
            for a, b in ((pre.inputs[0], pre.inputs[1]), (pre.inputs[1], pre.inputs[0])):
                if is_op(a.producer(), "MatMul") or is_op(a.producer(), "Div") or is_op(a.producer(), "Mul"):
                    scores, mask = a, b
                    break
            if mask is None or sole_reader(graph, scores) is not pre:
                return None
            nodes.append(pre)
        scale = 1.0
        p = scores.producer()
        if (is_op(p, "Div") or is_op(p, "Mul")) and scalar_of(p.inputs[1]) and is_op(p.inputs[0].producer(), "MatMul"):
            c = scalar_of(p.inputs[1])
            scale = 1.0 / c if p.op_type == "Div" else c
            if sole_reader(graph, p.inputs[0]) is not p:
                return None
            nodes.insert(0, p)
            p = p.inputs[0].producer()
        if not is_op(p, "MatMul"):
            return None
        mm = p
        guard = _guard(graph, s_in, sm, opset)
        if guard is None:
            return None
        probs, guard_nodes = guard
        if not guard_nodes and mask is not None and not _cannot_be_neg_inf(mask):
            return None
        final = sole_reader(graph, probs)
        if not is_op(final, "MatMul") or final.inputs[0] is not probs:
            return None
        q, a, q_nodes = _scaled(graph, mm.inputs[0])
        kt, b, k_nodes = _scaled(graph, mm.inputs[1])
        v = final.inputs[1]
        ranks = [rank_of(q), rank_of(kt), rank_of(v), rank_of(mask) if mask is not None else 0]
        if None in ranks:
            return "ranks"
        if ranks[:3] != [4, 4, 4] or ranks[3] > 4:
            return None
        if mask is not None:
            # Attention pads a mask shorter than the keys with -inf (a KV cache
            # mask), where Add broadcasts it: its last dim must be the keys' count
            kv = {_last_dim(kt), _last_dim(scores), _dim(v, -2)} - {None}
            last = _last_dim(mask) if ranks[3] else 1
            if last is None or not kv:
                return "ranks"
            if last not in kv:
                return None
        for t in (q, kt, v, mask):
            if t is not None and t.dtype is not None and t.dtype not in FLOAT_TYPES:
                return None
        all_nodes = q_nodes + k_nodes + [mm] + nodes + [sm] + guard_nodes + [final]
        return q, kt, v, mask, scale * a * b, all_nodes, final.outputs[0]

    def _rewrite(self, graph: Graph, model: Model, opsets, q, kt, v, mask, scale, nodes, out) -> bool:
        if mask is not None and opset_of(opsets) >= 23 and _dim(mask, -2) != _dim(q, -2):
            # onnxruntime's Attention does not broadcast the mask along the
            # queries (the spec does): keep the standard op runnable there
            if self.level != "runtime" or _dim(mask, -2) is None:
                return False
            domain = fused_domain(graph, model, {"": 0}, 23, self.level)
        else:
            domain = fused_domain(graph, model, opsets, 23, self.level)
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
