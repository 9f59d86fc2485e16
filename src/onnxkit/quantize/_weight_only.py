"""mode="weight-only": block-quantized weights for decoder LLMs.

A MatMul's constant weight ``W [K, N]`` is stored as int4 (or int8) in blocks
of ``block_size`` along K (the reduction axis), one scale per block and
column, and read through the standard ``DequantizeLinear`` of opset 21
(``axis=0, block_size=...``)::

    DequantizeLinear(Wq, scales[, zero_points]) -> MatMul(x, .)

onnxruntime fuses this pair into its ``MatMulNBits`` kernel (int4 weights
unpacked in registers), so the file and the weights in memory shrink about
8x (int4) while the activations stay float.  A Gather from a constant 2-D
table (token embeddings) is stored the same way, blocked along the row, so
the table shrinks too.

With ``bits=4`` the token embedding and the LM head (a MatMul whose output is
a graph output) are stored at 8 bits: their rounding errors reach the logits
undamped (measured on a LLaMA-style decoder, each alone at int4 costs more
logit cosine than all the int4 layers between them), the recipe of most int4
LLM formats.  The model's opset is raised to 21 where it is older
(:func:`onnxkit.convert_version`).
"""

from __future__ import annotations

import numpy as np

from ..ir import Model
from . import _weights
from ._graph import Editor, base_name, const_array, set_opset

__all__ = ["quantize_weight_only"]


def quantize_weight_only(model: Model, *, bits: int, block_size: int, signed: bool,
                         exclude: frozenset[str], min_size: int = 0) -> list[str]:
    """Rewrite ``model`` in place; returns the names of the nodes whose weights
    were quantized."""
    set_opset(model, 21)
    g = model.graph
    ed = Editor(g)
    done = []
    shared: dict[int, object] = {}      # a weight read by several nodes: quantized once
    for node in list(g):
        if node.name in exclude or node.domain not in ("", "ai.onnx"):
            continue
        if node.op_type == "MatMul" and len(node.inputs) == 2:
            slot, axis = 1, 0
        elif node.op_type == "Gather" and node.attr("axis", 0) == 0 and len(node.inputs) == 2:
            slot, axis = 0, 1
        else:
            continue
        wv = node.inputs[slot]
        w = const_array(wv)
        if w is None or w.ndim != 2 or w.dtype != np.float32 or w.size < min_size:
            continue
        name = base_name(node, f"{node.op_type.lower()}{len(done)}")
        if id(wv) not in shared:
            nb = bits
            if bits == 4 and (node.op_type == "Gather" or node.outputs[0].is_graph_output(g)
                              or any(c.op_type == "Gather" for c in wv.consumers())):
                nb = 8      # embedding table / LM head (also a tied one): see the module's docstring
            q, scale, zp = _weights.blocked(w, axis, block_size, nb, signed)
            ins = [ed.const(q, f"{wv.name}_q{nb}"), ed.const(scale, f"{wv.name}_scale")]
            if zp is not None:
                ins.append(ed.const(zp, f"{wv.name}_zp"))
            dq = ed.node(node, "DequantizeLinear", ins, f"{wv.name}_dq", axis=axis, block_size=block_size)
            shared[id(wv)] = dq.outputs[0]
        node.set_input(slot, shared[id(wv)])
        if not wv.uses() and wv.is_initializer():
            ed._dropped.add(wv.name)
        done.append(node.name or name)
    ed.drop_unused()
    return done
