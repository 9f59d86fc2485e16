"""Small matching helpers the fusion passes share: what op a node is, a
value's rank or scalar constant, its only reader, a binary node's other
input, and where a fusion into a newer spec op may go."""

from __future__ import annotations

from ..ir import DataType, Graph, Model, Node, Value
from ..ir._domain import is_onnx_domain
from ._base import RUNTIME_DOMAIN, const_array, opset_of, use_runtime_domain

__all__ = ["FLOAT_TYPES", "fused_domain", "is_op", "other_input", "rank_of", "refers_to_attributes", "scalar_of",
           "sole_reader"]

FLOAT_TYPES = (DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE, DataType.BFLOAT16)


def is_op(node: Node | None, op_type: str) -> bool:
    """``node`` is the standard-domain op ``op_type``."""
    return node is not None and node.op_type == op_type and is_onnx_domain(node.domain)


def refers_to_attributes(node: Node | None) -> bool:
    """Whether an attribute of ``node`` refers to an attribute of the enclosing
    function (``alpha = @a``).  Its value is known only at each call (``node.attr``
    gives None), so a pass that reads the node's attributes leaves it as it is."""
    return node is not None and any(a.ref_attr_name is not None for a in node.attributes.values())


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
    if p is not None and p.op_type in ("Mul", "Div", "Add", "Sub") and is_onnx_domain(p.domain):
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
    if v.is_graph_output(graph):
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
