"""Conv followed by an inference BatchNormalization -> one Conv.

BatchNormalization in inference mode is a per-channel affine map
``y = (x - mean) * s + bias`` with ``s = scale / sqrt(var + epsilon)``, and a
Conv's output channel ``m`` is linear in its filter ``W[m]`` and bias ``B[m]``,
so the pair is the Conv with

    W'[m] = W[m] * s[m]            B'[m] = (B[m] - mean[m]) * s[m] + bias[m]

computed in float64 and rounded once to W's element type.  The new weights are
new initializers: a W that other nodes also read (two Convs sharing a filter)
is never changed in place.

Rewritten only when every BatchNormalization parameter and the Conv's W (and
B, if present) are constants, the Conv's output is read by nothing but the
BatchNormalization, the BatchNormalization is in inference mode
(``training_mode`` 0; ``is_test`` 1 and ``spatial`` 1 in its oldest versions)
and its running-statistics outputs are unused.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Model
from ._base import Pass, const_array, make_constant, remove_nodes, replace_value
from ._match import FLOAT_TYPES, is_op, refers_to_attributes
from ._pattern import ANY, Pattern

__all__ = ["FuseConvBatchNorm"]


def _inference_only(bn, graph: Graph) -> bool:
    if bn.attr("training_mode", 0) or not bn.attr("spatial", 1):
        return False
    if "is_test" in bn.attributes and not bn.attr("is_test"):
        return False
    for o in bn.outputs[1:]:
        if o.name and (o.uses() or o.is_graph_output(graph)):
            return False
    return True


def _per_channel(a: np.ndarray, m: int) -> np.ndarray | None:
    """``a`` as a float64 (M,) vector, or None when it is not one value per channel."""
    if a.size not in (1, m) or a.dtype.kind not in "fiu":
        return None
    return np.broadcast_to(a.astype(np.float64).reshape(-1), (m,))


_CONV_BN = Pattern(lambda op, x, w, scale, bias, mean, var:
                   op.BatchNormalization(op.Conv(x, w, ANY, _as="conv"), scale, bias, mean, var))


class FuseConvBatchNorm(Pass):
    """``BatchNormalization(Conv(X, W, B))`` -> ``Conv(X, W', B')``."""

    name = "fuse_conv_bn"

    def apply(self, graph: Graph, model: Model, opsets: dict[str, int]) -> bool:
        changed = False
        for bn in graph:
            m = _CONV_BN.match(graph, bn) if is_op(bn, "BatchNormalization") else None
            if m is None:
                continue
            conv = m.node("conv")
            if len(conv.outputs) != 1 or refers_to_attributes(bn) or not _inference_only(bn, graph):
                continue
            w = const_array(conv.inputs[1])
            has_b = len(conv.inputs) > 2 and conv.inputs[2] is not None
            b = const_array(conv.inputs[2]) if has_b else None
            if w is None or (has_b and b is None) or w.ndim < 3:
                continue
            if conv.inputs[1].dtype not in FLOAT_TYPES and w.dtype.kind != "f":
                continue
            m = w.shape[0]
            params = [const_array(v) for v in bn.inputs[1:]]
            if any(p is None for p in params):
                continue
            scale, bias, mean, var = (_per_channel(p, m) for p in params)
            conv_b = _per_channel(b, m) if has_b else np.zeros(m)
            if any(p is None for p in (scale, bias, mean, var, conv_b)):
                continue
            eps = float(bn.attr("epsilon", 1e-5))
            s = scale / np.sqrt(var + eps)
            new_w = (w.astype(np.float64) * s.reshape((m,) + (1,) * (w.ndim - 1))).astype(w.dtype)
            new_b = ((conv_b - mean) * s + bias).astype(w.dtype)
            base = conv.name or conv.outputs[0].name or "conv"
            conv.set_input(1, make_constant(graph, new_w, f"{base}_W_bn"))
            b_value = make_constant(graph, new_b, f"{base}_B_bn")
            if len(conv.inputs) > 2:
                conv.set_input(2, b_value)
            else:
                conv.append_input(b_value)
            y = conv.outputs[0]
            replace_value(graph, bn.outputs[0], y)
            remove_nodes(graph, [bn])
            changed = True
        return changed
