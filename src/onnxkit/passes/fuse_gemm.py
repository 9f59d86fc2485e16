"""MatMul + Add -> Gemm, where Gemm's semantics are exactly those of the pair.

Gemm computes ``A @ B + C`` for 2-D ``A`` and ``B`` with ``C`` broadcast
*unidirectionally* to ``(M, N)``.  MatMul broadcasts batch dims and Add
broadcasts both ways, so the pair is only rewritten when

* both MatMul inputs are known to be rank 2,
* ``C``'s shape is known and each of its dims is 1 or the matching dim of
  ``(M, N)`` (so the Add cannot make the result larger),
* the element type is one Gemm takes at the model's opset (the float types:
  Gemm also accepts 32/64-bit integers from opset 9, but onnxruntime has no
  integer Gemm kernel, so those pairs are left alone),
* the MatMul's result is read by nothing but the Add.

This module also holds the small matching helpers the other fusion passes
share (:func:`rank_of`, :func:`scalar_of`, :func:`sole_reader`, :func:`other_input`,
:func:`fused_domain`).
"""

from __future__ import annotations

from ..ir import DataType, Graph, Model, Node, Value
from ._base import (RUNTIME_DOMAIN, Pass, const_array, is_output, opset_of, remove_nodes, replace_value,
                    use_runtime_domain)

__all__ = ["FuseMatMulAdd", "rank_of", "scalar_of", "sole_reader", "other_input", "is_op",
           "FLOAT_TYPES", "fused_domain"]

FLOAT_TYPES = (DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE, DataType.BFLOAT16)


# ------------------------------------------------------------ shared helpers
def is_op(node: Node | None, op_type: str) -> bool:
    """``node`` is the standard-domain op ``op_type``."""
    return node is not None and node.op_type == op_type and node.domain in ("", "ai.onnx")


def rank_of(v: Value | None) -> int | None:
    """The rank of ``v`` when it is known: from its type, its constant, or the
    node that makes it (Transpose's perm, Reshape to a constant shape, or an
    element-wise op with a scalar constant)."""
    if v is None:
        return None
    s = v.shape
    if s is not None:
        return len(s)
    c = const_array(v)
    if c is not None:
        return c.ndim
    p = v.producer()
    if is_op(p, "Transpose") and p.attr("perm") is not None:
        return len(p.attr("perm"))
    if is_op(p, "Reshape") and len(p.inputs) > 1:
        shp = const_array(p.inputs[1])
        if shp is not None and shp.ndim == 1:
            return int(shp.size)
    if p is not None and p.op_type in ("Mul", "Div", "Add", "Sub") and p.domain in ("", "ai.onnx"):
        a, b = p.inputs[0], p.inputs[1]
        if scalar_of(b) is not None:
            return rank_of(a)
        if scalar_of(a) is not None:
            return rank_of(b)
    return None


def scalar_of(v: Value | None) -> float | None:
    """The value of a constant holding exactly one element (any rank), else None."""
    c = const_array(v)
    if c is None or c.size != 1 or c.dtype.kind not in "fiub":
        return None
    return float(c.reshape(-1)[0])


def sole_reader(graph: Graph, v: Value) -> Node | None:
    """The one node reading ``v`` (once or several times), when ``v`` is not a
    graph output and nothing else reads it; else None."""
    if is_output(graph, v):
        return None
    readers = v.consumers()
    if len(readers) != 1 or readers[0].graph is not graph:
        return None
    return readers[0]


def other_input(node: Node, v: Value) -> Value | None:
    """The input of the binary ``node`` that is not ``v`` (``v`` itself for ``op(v, v)``)."""
    a, b = node.inputs[0], node.inputs[1]
    if a is v:
        return b
    if b is v:
        return a
    return None


# ------------------------------------------------------------------ the pass
def _gemm_types(opset: int) -> tuple[DataType, ...]:
    return FLOAT_TYPES if opset >= 13 else FLOAT_TYPES[:3]


def _dim(v: Value, i: int):
    s = v.shape
    if s is not None and len(s) > i:
        return s[i]
    c = const_array(v)
    if c is not None and c.ndim > i:
        return int(c.shape[i])
    return None


def _broadcasts_to(c: Value, m, n) -> bool:
    """``c``'s shape is known and each dim is 1 or equal to the one of (M, N)."""
    shape = c.shape.dims if c.shape is not None else None
    if shape is None:
        arr = const_array(c)
        if arr is None:
            return False
        shape = arr.shape
    if len(shape) > 2:
        return False
    for d, want in zip(reversed(shape), (n, m)):
        if d == 1 or (d is not None and d == want):
            continue
        return False
    return True


class FuseMatMulAdd(Pass):
    """``Add(MatMul(A, B), C)`` -> ``Gemm(A, B, C)`` where that is the same."""

    name = "fuse_gemm"

    def apply(self, graph: Graph, model: Model, opsets: dict[str, int]) -> bool:
        opset = opset_of(opsets)
        if opset < 7:       # Gemm before 7 broadcasts C only with broadcast=1
            return False
        changed = False
        for mm in graph:
            if not is_op(mm, "MatMul") or len(mm.inputs) != 2:
                continue
            y = mm.outputs[0]
            add = sole_reader(graph, y)
            if not is_op(add, "Add") or len(add.inputs) != 2 or add.inputs[0] is add.inputs[1]:
                continue
            a, b = mm.inputs
            c = other_input(add, y)
            if rank_of(a) != 2 or rank_of(b) != 2 or c is None:
                continue
            dtype = y.dtype or b.dtype or a.dtype
            if dtype is None:
                arr = const_array(b)
                dtype = DataType.from_numpy(arr.dtype) if arr is not None else None
            if dtype not in _gemm_types(opset):
                continue
            if not _broadcasts_to(c, _dim(a, 0), _dim(b, 1)):
                continue
            out = add.outputs[0]
            gemm = Node("Gemm", [a, b, c], [Value(out.name, out.type)], name=add.name or mm.name)
            graph.insert_before(add, gemm)
            replace_value(graph, out, gemm.outputs[0])
            remove_nodes(graph, [mm, add])
            changed = True
        return changed



def fused_domain(graph: Graph, model: Model, opsets: dict[str, int], since: int,
                 level: str) -> str | None:
    """The domain a fusion into a spec op introduced at opset ``since`` goes to:
    the standard one when the graph's opset has it; ``ai.onnxkit`` (imported
    into the model on the way) at the "runtime" level in the main graph and its
    subgraphs; None (leave the pattern) otherwise."""
    if opset_of(opsets) >= since:
        return ""
    if level != "runtime" or not any(g is graph for g in model.graph.all_graphs()):
        return None
    use_runtime_domain(model)
    return RUNTIME_DOMAIN
