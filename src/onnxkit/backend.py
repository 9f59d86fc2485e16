"""The ONNX backend API, so the official conformance suite runs against onnxkit::

    import onnx.backend.test
    import onnxkit.backend
    globals().update(onnx.backend.test.BackendTest(onnxkit.backend, __name__).test_cases)

``prepare(model, device)`` returns a :class:`BackendRep` whose ``run(inputs)``
takes the inputs in the graph's order (a list, or a dict by name) and returns
the outputs in order.  ``model`` may be an onnxkit Model, bytes, a path, or an
``onnx.ModelProto`` (read through its serialized bytes; onnx is not imported).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .runtime import Session

__all__ = ["BackendRep", "is_compatible", "prepare", "run_model", "run_node", "supports_device"]


class BackendRep:
    def __init__(self, session: Session) -> None:
        self.session = session
        g = session.model.graph
        self._names = [v.name for v in g.inputs if v.name not in g.initializers]
        self._all_names = [v.name for v in g.inputs]

    def run(self, inputs: Any, **kwargs: Any) -> tuple:
        if isinstance(inputs, dict):
            feeds = dict(inputs)
        else:
            if isinstance(inputs, np.ndarray):
                inputs = [inputs]
            inputs = list(inputs)
            names = self._names if len(inputs) <= len(self._names) else self._all_names
            feeds = dict(zip(names, inputs))
        return tuple(self.session.run(None, feeds))


def supports_device(device: str) -> bool:
    return str(device).upper().startswith("CPU")


def is_compatible(model: Any, device: str = "CPU", **kwargs: Any) -> bool:
    return supports_device(device)


def prepare(model: Any, device: str = "CPU", **kwargs: Any) -> BackendRep:
    """Random ops without a seed of their own draw from a generator seeded with
    ``seed`` (0 by default), so runs through the backend API repeat exactly."""
    return BackendRep(Session(model, seed=kwargs.get("seed", 0)))


def run_model(model: Any, inputs: Any, device: str = "CPU", **kwargs: Any) -> tuple:
    return prepare(model, device, **kwargs).run(inputs)


def run_node(node: Any, inputs: Sequence[Any], device: str = "CPU", outputs_info: Any = None,
             opset: int | None = None, **kwargs: Any) -> tuple:
    """Run one node (an onnxkit Node or an onnx NodeProto) on ``inputs``."""
    from .defs import max_opset
    from .ir import Graph, Model, Node, Value
    from .ir.serde import _Reader
    from . import proto as P
    if not isinstance(node, Node):
        np_ = P.NodeProto.from_bytes(node.SerializeToString())
        names_in = list(np_.input)
        names_out = list(np_.output)
        g = _Reader(None, None).graph(P.GraphProto(node=[np_]), [])
        node = next(iter(g))
    else:
        names_in = [v.name if v is not None else "" for v in node.inputs]
        names_out = [v.name for v in node.outputs]
    inputs = list(inputs)
    ins, feeds = [], {}
    for k, (name, x) in enumerate(zip(names_in, inputs)):
        if not name:
            continue
        v = Value(name)
        ins.append(v)
        feeds[name] = x
    vals = {v.name: v for v in ins}
    new = Node(node.op_type, [vals.get(n) if n else None for n in names_in],
               [Value(n) for n in names_out], domain=node.domain, name=node.name,
               attributes=list(node.attributes.values()))
    graph = Graph(ins, [v for v in new.outputs if v.name], [new], name="run_node")
    domain = node.domain or ""
    version = opset or max_opset(domain)
    model = Model(graph, ir_version=10, opset_imports={domain: version, **({"": max_opset()} if domain else {})})
    return tuple(Session(model).run(None, feeds))
