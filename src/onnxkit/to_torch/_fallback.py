"""Nodes with no torch rule: onnxkit's own numpy kernel, run inside the module.

A :class:`NumpyOp` holds one IR node; its ``forward`` converts the torch
inputs to numpy, evaluates the node with the kernel registry (model-local
functions and the spec's function bodies included), and converts the results
back to tensors on the inputs' device.  Gradients do not flow through it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..ops._evaluate import evaluate_node
from ._dtypes import from_numpy, to_numpy

__all__ = ["NumpyOp"]


class NumpyOp(torch.nn.Module):
    """One ONNX node evaluated by onnxkit's numpy kernels."""

    def __init__(self, node: Any, opsets: dict, functions: dict, binding: dict | None,
                 rng: np.random.Generator) -> None:
        super().__init__()
        self.node = node
        self.opsets = dict(opsets)
        self.functions = functions
        self.binding = binding
        self.rng = rng
        # follows module.to(device): where outputs go when no input says
        self.register_buffer("_anchor", torch.empty(0), persistent=False)

    def extra_repr(self) -> str:
        n = self.node
        return f"{n.domain + '::' if n.domain else ''}{n.op_type} {n.name!r} (numpy kernel)"

    def forward(self, *inputs: Any) -> tuple:
        device = next((x.device for x in inputs if isinstance(x, torch.Tensor)), self._anchor.device)
        args = [to_numpy(x) for x in inputs]
        outs = evaluate_node(self.node, args, self.opsets, functions=self.functions,
                             binding=self.binding, rng=self.rng)
        return tuple(from_numpy(o, device) for o in outs)


class _Subgraph:
    """A subgraph as a numpy kernel sees it: ``g(*inputs) -> list`` over numpy
    values (the imported torch module inside), with ``.graph``."""

    __slots__ = ("module", "graph", "outer", "device")

    def __init__(self, module: torch.nn.Module, graph: Any, outer: list, device: Any) -> None:
        self.module, self.graph, self.outer, self.device = module, graph, outer, device

    def __call__(self, *inputs: Any) -> list:
        args = [from_numpy(x, self.device) for x in inputs]
        return [to_numpy(x) for x in self.module(*args, *self.outer)]


class GraphOp(torch.nn.Module):
    """A node that holds subgraphs (SequenceMap, FlexAttention...) and has no
    torch rule: its numpy kernel, handed the imported subgraphs as callables.
    ``forward(*inputs, *outer)``: the node's inputs, then the outer-scope
    values the subgraphs read (``outer_index[name]``: which of them each takes)."""

    def __init__(self, node: Any, fn: Any, context: Any, attrs: dict, graphs: dict, ir_graphs: dict,
                 outer_index: dict, n_inputs: int) -> None:
        super().__init__()
        self.node = node
        self.fn = fn
        self.context = context
        self.attrs = attrs
        self.graphs = torch.nn.ModuleDict(graphs)
        self.ir_graphs = ir_graphs
        self.outer_index = outer_index
        self.n_inputs = n_inputs
        self.register_buffer("_anchor", torch.empty(0), persistent=False)

    def extra_repr(self) -> str:
        n = self.node
        return f"{n.domain + '::' if n.domain else ''}{n.op_type} {n.name!r} (numpy kernel)"

    def forward(self, *values: Any) -> tuple:
        from ..ops._evaluate import kernel_results
        inputs, outer = values[:self.n_inputs], values[self.n_inputs:]
        device = next((x.device for x in values if isinstance(x, torch.Tensor)), self._anchor.device)
        kw = dict(self.attrs)
        for name, mod in self.graphs.items():
            kw[name] = _Subgraph(mod, self.ir_graphs[name], [outer[i] for i in self.outer_index[name]], device)
        args = [to_numpy(x) for x in inputs]
        while args and args[-1] is None:
            args.pop()
        r = self.fn(self.context, *args, **kw) if self.context is not None else self.fn(*args, **kw)
        return tuple(from_numpy(o, device) for o in kernel_results(r, len(self.node.outputs)))
