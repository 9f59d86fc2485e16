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
    """Run one node (an onnxkit Node or an onnx NodeProto) on ``inputs``, given
    in the order of the node's inputs; ``opset`` defaults to the newest known."""
    from . import proto as P
    from .defs import max_opset
    from .ir import Model, Node
    from .ir.serde import _Reader, _Writer
    np_ = _Writer(None).node(node) if isinstance(node, Node) else P.NodeProto.from_bytes(node.SerializeToString())
    feeds = {name: x for name, x in zip(np_.input, inputs) if name}
    gp = P.GraphProto(name="run_node", node=[np_], input=[P.ValueInfoProto(name=n) for n in feeds],
                      output=[P.ValueInfoProto(name=n) for n in np_.output if n])
    domain = np_.domain or ""
    opsets = {domain: opset or max_opset(domain)}
    opsets.setdefault("", max_opset())
    model = Model(_Reader(None, None).graph(gp, []), ir_version=10, opset_imports=opsets)
    return tuple(Session(model).run(None, feeds))
