"""What an adapter sees: one node at one version step, and helpers to read its
constant inputs, know its types, and add or replace nodes.

An adapter changes the node in place (attributes, inputs, even ``op_type``),
or builds its replacement with :meth:`Step.replace`; nodes it adds are
converted further by the driver from the step's version to the target.  When
the step cannot keep the node's results exactly it calls :meth:`Step.refuse`.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..ir import Attribute, Graph, Node, Tensor, Value
from ..ir._types import TensorType

__all__ = ["Refuse", "Step"]


class Refuse(Exception):
    """Raised by an adapter: this node cannot be converted (``reason``)."""

    def __init__(self, reason: str, lowest: int | None = None, highest: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.lowest = lowest        # the opset range the node can still be converted to
        self.highest = highest


class Step:
    """One version step of one node.  ``version`` is the opset the node is at
    after the step (``new`` going up, the older schema's version going down);
    ``direction`` is ``"up"`` or ``"down"``."""

    def __init__(self, driver: Any, graph: Graph, node: Node, version: int, direction: str) -> None:
        self.driver = driver
        self.graph = graph
        self.node = node
        self.version = version
        self.direction = direction
        self.added: list[Node] = []        # nodes to convert further from ``version``
        self.added_at: int | None = None   # ... or from this version (a function body's opset)
        self.at: int = version             # the version the node was at before the step
        self.replaced = False

    # ------------------------------------------------------------ reading
    def refuse(self, reason: str) -> None:
        raise Refuse(reason)

    def input(self, i: int) -> Value | None:
        ins = self.node.inputs
        return ins[i] if i < len(ins) else None

    def const(self, v: Value | None) -> np.ndarray | None:
        """The value of ``v`` when it is a constant (an initializer that is not a
        graph input, or a Constant node's output), else None."""
        return self.driver.const_value(v)

    def need_const(self, i: int, what: str) -> np.ndarray | None:
        """Input ``i`` as a constant array (None when the input is absent);
        refuses when it is present but not a constant."""
        v = self.input(i)
        if v is None:
            return None
        c = self.const(v)
        if c is None:
            self.refuse(f"its input {i} ({what}, {v.name!r}) is not a constant, and opset "
                        f"{self.version} takes it as an attribute")
        return c

    def rank(self, v: Value | None) -> int | None:
        s = v.shape if v is not None else None
        return None if s is None else len(s)

    def shape(self, v: Value | None) -> tuple | None:
        s = v.shape if v is not None else None
        return None if s is None else tuple(d.value if hasattr(d, "value") else d for d in s)

    def dtype(self, v: Value | None):
        return v.dtype if v is not None else None

    def attr(self, name: str, default: Any = None) -> Any:
        return self.node.attr(name, default)

    # ------------------------------------------------------------ changing
    def drop_attr(self, name: str) -> None:
        self.node.attributes.pop(name, None)

    def set_attr(self, name: str, value: Any, type: int | None = None) -> None:
        self.node.set_attr(name, value, type)

    def constant(self, array: Any, name: str = "c") -> Value:
        """A Constant node (inserted before the node) holding ``array``."""
        arr = np.asarray(array)
        out = Value(self.driver.fresh_name(name), TensorType(_dtype_of(arr), arr.shape))
        c = Node("Constant", [], [out], attributes=[Attribute.infer("value", Tensor(arr))],
                 name=self.driver.fresh_name("Constant"))
        self.graph.insert_before(self.node, c)
        self.added.append(c)
        return out

    def add(self, op_type: str, inputs: Sequence[Value | None], attrs: dict | None = None,
            outputs: int = 1, *, after: bool = False) -> list[Value]:
        """Insert a node before (or after) the node; returns its outputs."""
        outs = [Value(self.driver.fresh_name(op_type.lower())) for _ in range(outputs)]
        n = Node(op_type, list(inputs), outs, attributes=attrs or {}, name=self.driver.fresh_name(op_type))
        (self.graph.insert_after if after else self.graph.insert_before)(self.node, n)
        self.added.append(n)
        return outs

    def set_inputs(self, inputs: Sequence[Value | None]) -> None:
        """Replace the node's inputs (trailing absent ones dropped)."""
        ins = list(inputs)
        while ins and ins[-1] is None:
            ins.pop()
        old = [v for v in self.node.inputs if v is not None]
        self.node.set_inputs(ins)
        for v in old:
            self.driver.drop_if_unused(self.graph, v)

    def take_output(self, old: Value, new: Value) -> None:
        """Make ``new`` stand for ``old`` everywhere (uses, graph outputs, name, type)."""
        old.replace_all_uses_with(new, replace_graph_outputs=True)
        name, old.name = old.name, self.driver.fresh_name((old.name or "v") + "_old")
        new.name = name
        if new.type is None:
            new.type = old.type
        self.driver.moved.append((old, new))   # old: now an intermediate of another shape

    def replace(self, op_type: str, inputs: Sequence[Value | None], attrs: dict | None = None,
                outputs: int | None = None) -> Node:
        """Replace the node by a new one (same place, same output names); its
        first ``outputs`` outputs stand for the old node's first ones (the
        rest must be unused)."""
        old = self.node
        k = len(old.outputs) if outputs is None else outputs
        for v in old.outputs[k:]:
            if v.uses() or v.is_graph_output():
                self.refuse(f"its output {v.name!r} is used and has no counterpart at opset {self.version}")
        ins = list(inputs)
        while ins and ins[-1] is None:
            ins.pop()
        outs = [Value() for _ in range(k)]
        attr_list = [a if isinstance(a, Attribute) else Attribute.infer(n, a) for n, a in (attrs or {}).items()]
        n = Node(op_type, ins, outs, domain=old.domain, name=old.name, attributes=attr_list,
                 doc_string=old.doc_string)
        n.metadata_props = dict(old.metadata_props)
        self.graph.insert_before(old, n)
        for o, v in zip(old.outputs, outs):
            self.take_output(o, v)
        old_inputs = [v for v in old.inputs if v is not None]
        self.graph.remove(old, safe=False)
        for v in old_inputs:
            self.driver.drop_if_unused(self.graph, v)
        self.node = n
        self.replaced = True
        return n


def _dtype_of(arr: np.ndarray):
    from ..ir import DataType
    return DataType.from_numpy(arr.dtype)
