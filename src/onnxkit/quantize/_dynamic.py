"""mode="dynamic": int8 weights, activations quantized at run time.

Each MatMul (and Gemm) with a constant 2-D float weight becomes the pattern
onnxruntime's own ``quantize_dynamic`` emits and its graph optimizer fuses
into one ``DynamicQuantizeMatMul`` kernel::

    x -> DynamicQuantizeLinear -> (xq, xs, xzp)          (once per activation)
    MatMulInteger(xq, Wq, xzp, 0) -> Cast(float) -> Mul(., xs * Ws) [-> Add(C) for Gemm]

with ``Wq`` int8, symmetric, one scale per output column when ``per_channel``
(MatMulInteger takes a per-column weight zero point, and the scales are
applied after the integer product, so per-column costs nothing at run time).
An activation read by several MatMuls (BERT's query, key and value
projections) is quantized once.  A Conv with a constant weight becomes
``ConvInteger`` the same way (one weight scale per output channel, the bias
added in float after the scales), as ``quantize_dynamic`` does.

Measured on BERT-base in onnxruntime 1.32: this form and the QDQ form
(``DynamicQuantizeLinear -> DequantizeLinear -> MatMul(., DequantizeLinear(Wq))``)
are fused into the same kernels (MatMulIntegerToFloat, DynamicQuantizeMatMul)
and run at the same speed; this one is also what onnxruntime's quantizer writes.
"""

from __future__ import annotations

import numpy as np

from ..ir import DataType, Model, Node, Value
from . import _weights
from ._graph import Editor, base_name, const_array

__all__ = ["quantize_dynamic"]

_FLOAT = (DataType.FLOAT,)


def _weight_of(node: Node) -> tuple[np.ndarray, Value | None] | None:
    """``(W as [K, N], bias or None)`` when ``node`` is a MatMul/Gemm this mode
    rewrites (a Conv: its own W [M, C/group, k...]), else None."""
    if node.domain not in ("", "ai.onnx") or len(node.outputs) != 1:
        return None
    if node.op_type == "MatMul" and len(node.inputs) == 2:
        w = const_array(node.inputs[1])
        if w is None or w.ndim != 2 or w.dtype != np.float32:
            return None
        return w, None
    if node.op_type == "Gemm":
        if node.attr("transA", 0) or node.attr("alpha", 1.0) != 1.0 or len(node.inputs) < 2:
            return None
        w = const_array(node.inputs[1])
        if w is None or w.ndim != 2 or w.dtype != np.float32:
            return None
        c = node.inputs[2] if len(node.inputs) > 2 else None
        if c is not None and node.attr("beta", 1.0) != 1.0:
            return None
        return (w.T if node.attr("transB", 0) else w), c
    if node.op_type == "Conv" and len(node.inputs) >= 2:
        w = const_array(node.inputs[1])
        if w is None or w.ndim < 3 or w.dtype != np.float32:
            return None
        b = node.inputs[2] if len(node.inputs) > 2 else None
        if b is not None and const_array(b) is None:
            return None
        return w, b
    return None


def quantize_dynamic(model: Model, *, per_channel: bool, exclude: frozenset[str],
                     weight_qmax: int = 127) -> list[str]:
    """Rewrite ``model`` in place; returns the names of the nodes quantized."""
    g = model.graph
    ed = Editor(g)
    dql: dict[int, tuple[Value, Value, Value]] = {}
    weights: dict[tuple, tuple[Value, Value, Value]] = {}
    done = []
    for node in list(g):
        if node.name in exclude:
            continue
        found = _weight_of(node)
        if found is None or node.inputs[0] is None:
            continue
        w, bias = found
        x = node.inputs[0]
        if x.dtype is not None and x.dtype not in _FLOAT:
            continue
        name = base_name(node, f"{node.op_type.lower()}{len(done)}")
        conv = node.op_type == "Conv"
        key = (id(node.inputs[1]), node.op_type == "Gemm" and node.attr("transB", 0))
        if key not in weights:          # a weight shared by several nodes is quantized once
            axis = (0 if conv else 1) if per_channel else None
            q, scale = _weights.symmetric(w, axis, weight_qmax)
            if conv and per_channel:    # one scale per output channel, broadcast over [N, M, H, W]
                scale = scale.reshape((-1,) + (1,) * (w.ndim - 2))
            weights[key] = (ed.const(q, f"{name}_Wq"), ed.const(np.zeros((), np.int8), f"{name}_Wzp"),
                            ed.const(scale, f"{name}_Ws"))
        wq, wzp, ws = weights[key]
        if id(x) not in dql:
            d = ed.node(node, "DynamicQuantizeLinear", [x], f"{x.name or name}_dql", outputs=3)
            dql[id(x)] = d.outputs
        xq, xs, xzp = dql[id(x)]
        if conv:
            attrs = {k: a.value for k, a in node.attributes.items()}
            mmi = ed.node(node, "ConvInteger", [xq, wq, xzp, wzp], f"{name}_int", **attrs)
        else:
            mmi = ed.node(node, "MatMulInteger", [xq, wq, xzp, wzp], f"{name}_int")
        cast = ed.node(node, "Cast", [mmi.outputs[0]], f"{name}_float", to=int(DataType.FLOAT))
        s = ed.node(node, "Mul", [xs, ws], f"{name}_scale")
        out = ed.node(node, "Mul", [cast.outputs[0], s.outputs[0]], f"{name}_scaled")
        last = out.outputs[0]
        if bias is not None:
            if conv:                    # B [M] added over [N, M, H, W]
                b = const_array(bias).reshape((-1,) + (1,) * (w.ndim - 2))
                bias = ed.const(b, f"{name}_B")
            last = ed.node(node, "Add", [last, bias], f"{name}_bias").outputs[0]
        ed.replace(node, last)
        done.append(node.name or name)
    ed.drop_unused()
    return done
