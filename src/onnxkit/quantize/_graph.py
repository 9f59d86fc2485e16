"""Graph edits shared by the quantization modes.

A quantized node is replaced by a few new nodes inserted where it stood; its
output Value's readers (and the graph's outputs) are moved to the new last
node's output, which then takes the old name, so every node outside the
quantized ones reads what it read before, under the same names.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ir import Graph, Model, Node, Value
from ..passes._base import const_array, is_constant, make_constant, replace_value, unique_name

__all__ = ["Editor", "const_array", "is_constant"]


class Editor:
    """Adds nodes and constants to ``graph`` ahead of an anchor node, with names
    derived from the anchor's (so a quantized model still reads like its float one)."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self._dropped: set[str] = set()

    def const(self, array: Any, hint: str) -> Value:
        return make_constant(self.graph, np.asarray(array), hint)

    def node(self, anchor: Node, op: str, inputs: list[Value | None], hint: str, *, outputs: int = 1,
             **attrs: Any) -> Node:
        outs = [Value(unique_name(self.graph, f"{hint}_{i}" if outputs > 1 else hint)) for i in range(outputs)]
        n = Node(op, inputs, outs, name=outs[0].name, attributes=attrs)
        self.graph.insert_before(anchor, n)
        return n

    def replace(self, old: Node, new_out: Value) -> None:
        """Remove ``old`` (one output), its readers reading ``new_out`` under the old name."""
        g = self.graph
        old_out = old.outputs[0]
        name, type_ = old_out.name, old_out.type
        inputs = [v for v in old.inputs if v is not None and v.is_initializer()]
        replace_value(g, old_out, new_out)
        g.remove(old, safe=False)
        self._dropped.update(v.name for v in inputs if not v.uses())
        new_out.name = name
        if new_out.type is None:
            new_out.type = type_

    def drop_unused(self) -> None:
        """Remove the float weights nothing reads any more."""
        g = self.graph
        for name in self._dropped:
            v = g.initializers.get(name)
            if v is not None and not v.uses() and not v.is_graph_output(g):
                del g.initializers[name]
                if v.is_graph_input(g):
                    g.inputs.remove(v)


def base_name(node: Node, fallback: str) -> str:
    return node.name or (node.outputs[0].name if node.outputs and node.outputs[0].name else fallback)


def set_opset(model: Model, at_least: int) -> None:
    """Raise the model's ai.onnx opset to ``at_least`` (converting the model's
    nodes with :func:`onnxkit.convert_version`)."""
    if (model.opset or 0) >= at_least:
        return
    from ..convert import convert_version
    convert_version(model, at_least, inplace=True)
