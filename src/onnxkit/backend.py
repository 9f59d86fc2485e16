"""The ONNX backend API, so the official conformance suite runs against onnxkit::

    import onnx.backend.test
    import onnxkit.backend
    globals().update(onnx.backend.test.BackendTest(onnxkit.backend, __name__).test_cases)

``prepare(model, device)`` returns a :class:`BackendRep` whose ``run(inputs)``
takes the inputs in the graph's order (a list, or a dict by name) and returns
the outputs in order.  ``model`` may be an onnxkit Model, bytes, a path, or an
``onnx.ModelProto`` (read through its serialized bytes; onnx is not imported).

``prepare(model, device, providers=["torch"])`` runs through the torch
execution provider (``onnxkit.to_torch``) on ``device`` ("CPU" or "CUDA");
``supports_device("CUDA")`` is true only where torch is installed and sees a
GPU.  A device or provider that is not available raises ProviderError.
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


def _device(device: str) -> str:
    """The backend API's "CPU" / "CUDA" / "CUDA:1" as torch spells it."""
    return str(device).lower()


def supports_device(device: str) -> bool:
    """CPU always; CUDA where the torch provider is available and torch sees a GPU."""
    from .runtime._providers import device_available
    d = _device(device)
    if d.startswith("cpu"):
        return True
    return d.startswith("cuda") and device_available("torch", d)


def is_compatible(model: Any, device: str = "CPU", **kwargs: Any) -> bool:
    return supports_device(device)


def prepare(model: Any, device: str = "CPU", **kwargs: Any) -> BackendRep:
    """Random ops without a seed of their own draw from a generator seeded with
    ``seed`` (0 by default), so runs through the backend API repeat exactly.
    ``threads``: as ``Session(threads=...)`` (the numpy provider)."""
    from .errors import ProviderError
    providers = kwargs.get("providers")
    d = _device(device)
    if providers is None:
        if not d.startswith("cpu"):
            raise ProviderError(f"device {device!r} needs providers=['torch'] (the numpy provider runs on the CPU)")
        return BackendRep(Session(model, seed=kwargs.get("seed", 0), threads=kwargs.get("threads")))
    options = kwargs.get("provider_options")
    if options is None and list(providers) != ["numpy"]:
        options = [{"device": d}]
    elif not d.startswith("cpu") and list(providers) == ["numpy"]:
        raise ProviderError(f"the numpy provider runs on the CPU, not on {device!r}; use providers=['torch']")
    return BackendRep(Session(model, seed=kwargs.get("seed", 0), providers=providers,
                              provider_options=options, threads=kwargs.get("threads")))


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
