"""Runtime pass: dense layers into ai.onnxkit FusedMatMul.

    MatMul(A, W)              W a constant 2-D weight
    MatMul(A, Transpose(W))   (read as W with transB=1: no transposed copy)
    Gemm(A, W, c)             transA=0, alpha=1, c a constant [N] or [1, N]
      [-> Add(., bias)]       bias a constant that broadcasts as [N]
      [-> Relu | Gelu | Tanh | Sigmoid]
  => ai.onnxkit::FusedMatMul(A, W, bias, transB=, activation=, approximate=)

The kernel (ops/fused_matmul.py) writes the product once and applies bias and
activation in place.  The weight and bias go in as aligned C-contiguous
copies when the originals are not (initializers memory-mapped at odd file
offsets are not even 4-byte aligned, and numpy's matmul then copies them on
every run or, transposed, skips BLAS altogether); a weight shared by several
products is copied once.

Each fusion step only absorbs a node whose input is read by nobody else and
is no graph output, so no intermediate value is lost; the PassManager's
repetition lets bias and activation fuse into a FusedMatMul made earlier (or
into one whose Gelu another pass formed later).
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Model, Node, Value, aligned
from ..ir._domain import is_onnx_domain
from ._base import (RUNTIME_DOMAIN, Pass, const_array, ensure_runtime_domain_imported, make_constant, replace_value,
                    require_runtime_domain, use_runtime_domain)
from ._match import refers_to_attributes

__all__ = ["FuseMatMulBias"]

_FLOATS = ("float32", "float64")
# spec op (domain "" or ai.onnxkit) -> FusedMatMul's activation attribute
_ACT = {"Relu": "Relu", "Tanh": "Tanh", "Sigmoid": "Sigmoid", "Gelu": "Gelu"}


class FuseMatMulBias(Pass):
    name = "fuse_matmul_bias"

    def requires(self, model: Model) -> None:
        require_runtime_domain(model)

    def ensures(self, model: Model) -> None:
        ensure_runtime_domain_imported(model)

    def __init__(self) -> None:
        self._copies: dict[int, tuple[Value, Value]] = {}   # id(original) -> (original, aligned copy)

    def __call__(self, model: Model) -> bool:
        self._copies = {}
        changed = super().__call__(model)
        if changed:
            use_runtime_domain(model)
        self._copies = {}
        return changed

    def apply(self, graph: Graph, model: Model, opsets: dict[str, int]) -> bool:
        changed = False
        for node in list(graph):
            if node.graph is not graph:
                continue                                    # removed by an earlier rewrite
            if len(node.inputs) < 2:
                continue                                    # malformed: left for the runtime to report
            if is_onnx_domain(node.domain) and node.op_type == "MatMul":
                changed |= self._from_matmul(graph, node)
            elif is_onnx_domain(node.domain) and node.op_type == "Gemm":
                changed |= self._from_gemm(graph, node)
        for node in list(graph):
            if node.graph is graph and node.domain == RUNTIME_DOMAIN and node.op_type == "FusedMatMul":
                changed |= self._absorb(graph, node)
        return changed

    # ---------------------------------------------------------------- seeds
    def _from_matmul(self, graph: Graph, node: Node) -> bool:
        a, b = node.inputs[0], node.inputs[1]
        if a is None or b is None:
            return False
        w, trans = const_array(b), 0
        if w is None:
            w, trans = _transposed_const(b)
        if w is None or not _fits(a, w):
            return False
        src = b if trans == 0 else b.producer().inputs[0]
        w, trans, exact = _as_laid_out(w, trans)
        fused = Node("FusedMatMul", [a, self._aligned(graph, src, w, exact=exact)], [Value(None, node.outputs[0].type)],
                     domain=RUNTIME_DOMAIN, name=node.name, attributes={"transB": trans} if trans else {})
        self._swap(graph, [node], fused)
        return True

    def _from_gemm(self, graph: Graph, node: Node) -> bool:
        if refers_to_attributes(node) or node.attr("transA", 0) or node.attr("alpha", 1.0) != 1.0:
            return False
        a, b = node.inputs[0], node.inputs[1]
        c = node.inputs[2] if len(node.inputs) > 2 else None
        w = const_array(b)
        if a is None or w is None or not _fits(a, w):
            return False
        w_stored, trans, exact = _as_laid_out(w, node.attr("transB", 0))
        ins = [a, self._aligned(graph, b, w_stored, exact=exact)]
        beta = node.attr("beta", 1.0)
        if c is not None and beta != 0:
            cv = const_array(c)
            n = w.shape[0] if node.attr("transB", 0) else w.shape[1]
            if cv is None or cv.dtype != w.dtype or cv.ndim > 2 or cv.size != n or (cv.ndim == 2 and cv.shape[0] != 1):
                return False
            if beta != 1.0:
                ins.append(make_constant(graph, np.ascontiguousarray((cv * beta).reshape(-1), cv.dtype), "bias"))
            else:
                ins.append(self._aligned(graph, c, cv.reshape(-1), exact=cv.ndim == 1))
        attrs = {"transB": 1} if trans else {}
        fused = Node("FusedMatMul", ins, [Value(None, node.outputs[0].type)], domain=RUNTIME_DOMAIN,
                     name=node.name, attributes=attrs)
        self._swap(graph, [node], fused)
        return True

    # ---------------------------------------------------------------- growth
    def _absorb(self, graph: Graph, node: Node) -> bool:
        """Bias, then activation, into an existing FusedMatMul."""
        y = node.outputs[0]
        users = y.consumers()
        if len(users) != 1 or len(y.uses()) != 1 or y.is_graph_output(graph) or node.attr("activation", ""):
            return False
        nxt = users[0]
        if nxt.graph is not graph:
            return False
        if nxt.op_type == "Reshape" and is_onnx_domain(nxt.domain):
            return self._activation_through_reshape(graph, node, nxt)
        has_bias = len(node.inputs) > 2 and node.inputs[2] is not None
        ins, attrs = list(node.inputs), {k: a.value for k, a in node.attributes.items()}
        if nxt.op_type == "Add" and is_onnx_domain(nxt.domain) and not has_bias:
            other = nxt.inputs[1] if nxt.inputs[0] is y else nxt.inputs[0]
            if other is y:
                return False
            bv = const_array(other)
            wv = const_array(node.inputs[1])
            if bv is None or wv is None or bv.dtype != wv.dtype:
                return False
            n = wv.shape[0] if attrs.get("transB", 0) else wv.shape[1]
            rank = len(y.shape) if y.shape is not None else None
            # the bias must broadcast as a row of N: shape [..., 1, N] with rank <= the product's
            if bv.size != n or (bv.ndim > 1 and (rank is None or bv.ndim > rank)) or (bv.ndim and bv.shape[-1] != n):
                return False
            ins = ins[:2] + [self._aligned(graph, other, bv.reshape(-1), exact=bv.ndim == 1)]
        elif nxt.op_type in _ACT and (is_onnx_domain(nxt.domain) or nxt.domain == RUNTIME_DOMAIN):
            if nxt.op_type == "Gelu":
                approx = nxt.attr("approximate", "none")
                if approx not in ("none", "tanh"):
                    return False
                if approx != "none":
                    attrs["approximate"] = approx
            attrs["activation"] = _ACT[nxt.op_type]
        else:
            return False
        fused = Node("FusedMatMul", ins, [Value(None, nxt.outputs[0].type)], domain=RUNTIME_DOMAIN,
                     name=node.name, attributes=attrs)
        self._swap(graph, [node, nxt], fused)
        return True

    def _activation_through_reshape(self, graph: Graph, node: Node, reshape: Node) -> bool:
        """FusedMatMul -> Reshape -> act  =>  FusedMatMul(act) -> Reshape: an
        element-wise activation commutes with a reshape (2-D Gemm products
        reshaped back to [batch, seq, N] before their Gelu)."""
        r = reshape.outputs[0]
        # besides the activation, only Shape may read the reshaped product: the
        # shape of the activated value is the same
        users = [n for n in r.consumers() if not (n.op_type == "Shape" and is_onnx_domain(n.domain))]
        if len(users) != 1 or sum(1 for n, _ in r.uses() if n is users[0]) != 1 or r.is_graph_output(graph):
            return False
        act = users[0]
        if act.graph is not graph or act.op_type not in _ACT or \
                not (is_onnx_domain(act.domain) or act.domain == RUNTIME_DOMAIN) or len(act.inputs) != 1:
            return False
        approx = act.attr("approximate", "none") if act.op_type == "Gelu" else "none"
        if approx not in ("none", "tanh"):
            return False
        node.set_attr("activation", _ACT[act.op_type])
        if approx != "none":
            node.set_attr("approximate", approx)
        out = act.outputs[0]
        if r.type is None:
            r.type = out.type
        graph.remove(act, safe=False)
        replace_value(graph, out, r)
        return True

    # ---------------------------------------------------------------- helpers
    def _swap(self, graph: Graph, old: list[Node], new: Node) -> None:
        """Put ``new`` where the last of ``old`` was, make it produce that
        node's output (name included), and drop ``old`` (and a Transpose
        nobody reads any more)."""
        last = old[-1]
        graph.insert_before(last, new)
        out = last.outputs[0]
        feeders = [v.producer() for v in old[0].inputs if v is not None and v.producer() is not None]
        replace_value(graph, out, new.outputs[0])
        if new.outputs[0].name is None:
            new.outputs[0].name = out.name
        for n in reversed(old):
            graph.remove(n, safe=False)
        for p in feeders:
            if p.op_type == "Transpose" and p.graph is graph and not p.outputs[0].uses() \
                    and not p.outputs[0].is_graph_output(graph):
                graph.remove(p)

    def _aligned(self, graph: Graph, v: Value, arr: np.ndarray, *, exact: bool) -> Value:
        """``v`` itself when ``arr`` is its array as it is (``exact``), aligned
        and C-contiguous; else a new initializer holding such a copy of
        ``arr`` (one per original value)."""
        if exact and arr.flags.aligned and arr.flags.c_contiguous:
            return v
        hit = self._copies.get(id(v))
        if hit is not None and hit[0] is v and hit[1].shape is not None and tuple(hit[1].shape) == arr.shape:
            return hit[1]
        copy = make_constant(graph, np.ascontiguousarray(aligned(arr)), (v.name or "weight") + "_aligned")
        self._copies[id(v)] = (v, copy)
        return copy


def _as_laid_out(w: np.ndarray, trans: int) -> tuple[np.ndarray, int, bool]:
    """``(array, transB, exact)``: a weight that is the transposed view of a
    contiguous array (a folded Transpose of a weight) is kept as that array,
    read transposed by BLAS, instead of being copied into the other order."""
    if w.ndim == 2 and not w.flags.c_contiguous and w.T.flags.c_contiguous:
        return w.T, 1 - trans, False
    return w, trans, True


def _dtype_name(v: Value) -> str | None:
    """numpy's name of the value's element type; None when unknown."""
    dt = v.dtype
    if dt is None:
        return None
    try:
        return np.dtype(dt.numpy_dtype).name
    except Exception:       # noqa: BLE001 - a type numpy cannot hold (strings, undefined)
        return None


def _fits(a: Value, w: np.ndarray) -> bool:
    """A float32/float64 weight, and an A of its type (or of a type not known:
    the kernel then computes as MatMul would)."""
    name = _dtype_name(a)
    return w.ndim == 2 and w.dtype.name in _FLOATS and (name is None or name == w.dtype.name)


def _transposed_const(v: Value) -> tuple[np.ndarray | None, int]:
    """(W, 1) when ``v`` is Transpose(W) of a constant 2-D W, else (None, 0)."""
    p = v.producer()
    if p is None or p.op_type != "Transpose" or not is_onnx_domain(p.domain) or refers_to_attributes(p):
        return None, 0
    perm = p.attr("perm")
    if perm is not None and list(perm) != [1, 0]:
        return None, 0
    w = const_array(p.inputs[0])
    if w is None or w.ndim != 2:
        return None, 0
    return w, 1
