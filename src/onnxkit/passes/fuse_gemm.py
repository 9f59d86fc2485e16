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
"""

from __future__ import annotations

from ..ir import DataType, Graph, Model, Node, Value
from ._base import Pass, const_array, opset_of, remove_nodes, replace_value

from ._match import FLOAT_TYPES, is_op, rank_of
from ._pattern import Pattern

__all__ = ["FuseMatMulAdd"]


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


_MATMUL_ADD = Pattern(lambda op, a, b, c: op.Add(op.MatMul(a, b, _as="mm"), c))


class FuseMatMulAdd(Pass):
    """``Add(MatMul(A, B), C)`` -> ``Gemm(A, B, C)`` where that is the same."""

    name = "fuse_gemm"

    def apply(self, graph: Graph, model: Model, opsets: dict[str, int]) -> bool:
        opset = opset_of(opsets)
        if opset < 7:       # Gemm before 7 broadcasts C only with broadcast=1
            return False
        changed = False
        for add in graph:
            m = _MATMUL_ADD.match(graph, add) if is_op(add, "Add") else None
            if m is None:
                continue
            a, b, c, mm = m["a"], m["b"], m["c"], m.node("mm")
            y = mm.outputs[0]
            if c is y or rank_of(a) != 2 or rank_of(b) != 2:
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
