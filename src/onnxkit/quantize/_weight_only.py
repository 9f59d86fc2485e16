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

With ``accuracy_target`` (:func:`raise_to_target`) the 4-bit weights that
cost the most are stored at 8 bits instead, one DequantizeLinear like the
others (onnxruntime fuses either), until the outputs' cosine to float
reaches the target.  Measured on a LLaMA-style decoder with random weights
(8 layers, hidden 1024): int4 everywhere gives a next-token logits cosine
of 0.94; raising the attention value/output projections and the first
layers' MLP weights first (24 of 56) gives 0.995 at 0.25x float's file.
Rounding alone does not close a gap that size: a search over clipping
ratios on top of the least-squares fit per block lowered the squared error
by under 2%.
"""

from __future__ import annotations

import numpy as np

from ..ir import Model, Node
from . import _weights
from ._graph import Editor, base_name, const_array, set_opset

__all__ = ["quantize_weight_only", "node_bits", "candidates", "raise_to_target"]


def candidates(model: Model, exclude: frozenset[str]) -> list[tuple[Node, int, int]]:
    """``(node, weight input index, block axis)`` of each node whose weight can be
    block-quantized: a MatMul reading a constant float32 2-D weight, a Gather
    (axis 0) from a constant float32 2-D table."""
    out = []
    for node in model.graph:
        if node.name in exclude or node.domain not in ("", "ai.onnx"):
            continue
        if node.op_type == "MatMul" and len(node.inputs) == 2:
            slot, axis = 1, 0
        elif node.op_type == "Gather" and node.attr("axis", 0) == 0 and len(node.inputs) == 2:
            slot, axis = 0, 1
        else:
            continue
        w = const_array(node.inputs[slot])
        if w is None or w.ndim != 2 or w.dtype != np.float32:
            continue
        out.append((node, slot, axis))
    return out


def node_bits(model: Model, bits: int, exclude: frozenset[str]) -> dict[str, int]:
    """``{node name: bits}`` for every candidate node: ``bits``, except 8 for the
    embedding table and the LM head at 4 bits (see the module's docstring)."""
    out = {}
    for node, slot, _ in candidates(model, exclude):
        wv = node.inputs[slot]
        nb = bits
        if bits == 4 and (node.op_type == "Gather" or node.outputs[0].is_graph_output(model.graph)
                          or any(c.op_type == "Gather" for c in wv.consumers())):
            nb = 8      # embedding table / LM head (also a tied one)
        out[base_name(node, "")] = nb
    return out


def quantize_weight_only(model: Model, *, bits: dict[str, int], block_size: int, signed: bool,
                         cache: dict | None = None) -> list[str]:
    """Rewrite ``model`` in place, the weight of each node named in ``bits``
    (see :func:`node_bits`) stored at its number of bits (the others stay
    float); returns the names of the nodes whose weights were quantized.
    ``cache``: ``{(weight name, bits): (q, scale, zero point)}`` kept between
    calls on copies of one model (the accuracy target builds many)."""
    set_opset(model, 21)
    g = model.graph
    ed = Editor(g)
    done = []
    cache = {} if cache is None else cache
    todo = [(n, slot, axis) for n, slot, axis in candidates(model, frozenset()) if base_name(n, "") in bits]
    shared: dict[int, object] = {}      # a weight read by several nodes: quantized once
    for node, slot, axis in todo:
        wv = node.inputs[slot]
        if id(wv) not in shared:
            nb = max(bits[base_name(n, "")] for n in wv.consumers() if base_name(n, "") in bits)
            key = (wv.name, nb)
            if key not in cache:
                cache[key] = _weights.blocked(const_array(wv), axis, block_size, nb, signed)
            q, scale, zp = cache[key]
            ins = [ed.const(q, f"{wv.name}_q{nb}"), ed.const(scale, f"{wv.name}_scale")]
            if zp is not None:
                ins.append(ed.const(zp, f"{wv.name}_zp"))
            dq = ed.node(node, "DequantizeLinear", ins, f"{wv.name}_dq", axis=axis, block_size=block_size)
            shared[id(wv)] = dq.outputs[0]
        node.set_input(slot, shared[id(wv)])
        if not wv.uses() and wv.is_initializer():
            ed._dropped.add(wv.name)
        done.append(base_name(node, ""))
    ed.drop_unused()
    return done


def raise_to_target(model: Model, plan: dict[str, int], samples: list[dict], target: float | None, *,
                    block_size: int, signed: bool
                    ) -> tuple[Model, dict[str, int], dict[str, str], dict[str, float], float]:
    """``accuracy_target`` for weight-only: the 4-bit nodes of ``plan`` whose
    weights cost the most accuracy are raised to 8 bits (not to float: the
    file stays small) until the outputs' cosine to float on ``samples``
    reaches ``target``.  A node's sensitivity is the cosine with only its
    weight at 4 bits (every other weight float).  Returns ``(quantized model,
    final plan, {raised node: why}, {node: sensitivity}, metric)``; ``model``
    (the float one, at opset 21) is not changed.  Each weight is quantized
    once per width (kept while measuring: about a byte per weight for each)."""
    from ..ir import clone_model
    from ._sensitivity import meet_target

    cache: dict = {}
    low = [n for n, b in plan.items() if b == 4]

    def build(at4: list[str]) -> Model:
        m = clone_model(model)
        quantize_weight_only(m, bits={n: (4 if n in at4 else 8) if b == 4 else b for n, b in plan.items()},
                             block_size=block_size, signed=signed, cache=cache)
        return m

    def single(name: str) -> Model:
        m = clone_model(model)
        quantize_weight_only(m, bits={name: 4}, block_size=block_size, signed=signed, cache=cache)
        return m

    at4, why, sens, metric = meet_target(model, samples, low, target, build, single=single,
                                         alone="with only this weight at 4 bits", given_back="with it at 8 bits")
    final = {n: (4 if n in at4 else 8) if b == 4 else b for n, b in plan.items()}
    return build(at4), final, why, sens, metric
