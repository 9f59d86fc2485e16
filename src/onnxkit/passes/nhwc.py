"""Runtime level: run Conv chains channels-last, as ``ai.onnxkit`` NhwcConv.

Why: numpy's fast primitive is GEMM, and in (N, H, W, C) layout a 1x1
convolution is one GEMM with no copy and a KxK one needs only a contiguous
patch copy (see ``ops/fused_conv.py``).  Converting every layer back and forth
would cost two transposes per layer, so the pass keeps a whole chain in NHWC:

- each 2-D Conv with a constant weight becomes ``NhwcConv`` with the weight
  prepacked once as a new initializer (KH, KW, C/group, M);
- its input comes from the NHWC *twin* of the NCHW value when one exists
  (the output of an earlier converted node), else from a new
  ``Transpose(perm=[0, 2, 3, 1])`` -- the chain's entry;
- when the Conv's only reader is an ``Add`` of a rank-4 tensor (a residual),
  the Add is fused as NhwcConv's ``Z`` input; when the only reader after that
  is an activation (Relu, Clip with constant bounds, LeakyRelu, Sigmoid,
  HardSigmoid, HardSwish), it is fused too;
- a MaxPool (without Indices) whose input has a twin becomes NhwcMaxPool;
- the last NCHW value of each fused group is recomputed by a
  ``Transpose(perm=[0, 3, 1, 2])`` of the NHWC result (the chain's exit), so
  every other reader, and the graph's outputs, see exactly what they saw;
  an entry reading an exit (a residual converted before its producer was)
  cancels with it, and exits that end up unread are removed.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Model, Node, TensorType, Value
from ..ir._domain import is_onnx_domain
from ._base import (RUNTIME_DOMAIN, Pass, const_array, ensure_runtime_domain_imported, make_constant, opset_of,
                    remove_nodes, replace_value, require_runtime_domain, unique_name, use_runtime_domain)
from ._match import refers_to_attributes

__all__ = ["NhwcConv"]

_TO_NHWC = [0, 2, 3, 1]
_TO_NCHW = [0, 3, 1, 2]
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class NhwcConv(Pass):
    name = "nhwc_conv"

    def requires(self, model: Model) -> None:
        require_runtime_domain(model)

    def ensures(self, model: Model) -> None:
        ensure_runtime_domain_imported(model)

    def apply(self, graph: Graph, model: Model, opsets: dict[str, int]) -> bool:
        twins: dict[Value, Value] = {}        # NCHW value -> the NHWC value holding the same data
        exits: list[Node] = []
        changed = False
        for node in graph:
            if node.graph is not graph or not is_onnx_domain(node.domain):
                continue
            if node.op_type == "Conv":
                changed |= self._conv(graph, node, opsets, twins, exits)
            elif node.op_type == "MaxPool" and node.inputs and node.inputs[0] in twins:
                changed |= self._max_pool(graph, node, twins, exits)
        for t in list(twins.values()):        # entries reading an exit: the pair cancels
            entry = t.producer()
            src = entry.inputs[0].producer() if entry is not None and entry.op_type == "Transpose" else None
            if src is not None and src in exits and not t.is_graph_output(graph):
                t.replace_all_uses_with(src.inputs[0])
                graph.remove(entry)
        for t in exits:                       # exits nobody reads any more
            if t.graph is graph and not t.outputs[0].uses() and not t.outputs[0].is_graph_output(graph):
                graph.remove(t)
        if changed:
            use_runtime_domain(model)
        return changed

    # ------------------------------------------------------------------ Conv
    def _conv(self, graph: Graph, node: Node, opsets, twins, exits) -> bool:
        ins = list(node.inputs) + [None] * (3 - len(node.inputs))
        x, wv, b = ins[:3]
        if refers_to_attributes(node):            # strides, pads ... known only at each call
            return False
        w = const_array(wv)
        if x is None or w is None or w.ndim != 4 or np.dtype(w.dtype) not in _FLOATS:
            return False
        ks = node.attr("kernel_shape")
        if ks is not None and list(ks) != list(w.shape[2:]):
            return False
        if any(p < 0 for p in (node.attr("pads") or ())):
            return False
        chain = [node]
        out = node.outputs[0]
        residual = None
        reader = _sole_reader(graph, out)
        if reader is not None and reader.op_type == "Add" and is_onnx_domain(reader.domain) \
                and len(reader.inputs) == 2 and reader.inputs[0] is not reader.inputs[1]:
            other = reader.inputs[1] if reader.inputs[0] is out else reader.inputs[0]
            if other is not None and (other in twins or _rank(other) == 4):
                residual = other
                chain.append(reader)
                out = reader.outputs[0]
                reader = _sole_reader(graph, out)
        act, params = "", []
        found = _activation(reader, opsets) if reader is not None else None
        if found is not None:
            act, params = found
            chain.append(reader)
            out = reader.outputs[0]

        last = chain[-1]
        xh = self._twin(graph, x, node, twins)
        zh = self._twin(graph, residual, chain[1], twins) if residual is not None else None
        hwio = w.transpose(2, 3, 1, 0)
        if w.shape[2:] != (1, 1) or int(node.attr("group", 1)) != 1:
            hwio = np.ascontiguousarray(hwio)       # the layout the patch GEMMs read
        # (a 1x1 filter stays as stored: the kernel's (C, M) operand is then its transposed
        # view, which BLAS reads as such -- no copy at load, none per run)
        packed = make_constant(graph, hwio, f"{wv.name or 'weight'}_hwio")
        attrs: dict = {"group": int(node.attr("group", 1))}
        if act:
            attrs["activation"] = act
        if params:
            attrs["activation_params"] = [float(p) for p in params]
        for a in ("auto_pad", "dilations", "pads", "strides"):
            if node.attr(a) is not None:
                attrs[a] = node.attr(a)
        inputs = [xh, packed, b] + ([zh] if zh is not None else [])
        yh = Value(unique_name(graph, f"{out.name or 'conv'}_nhwc"), TensorType(out.dtype or _dtype(w)))
        new = Node("NhwcConv", inputs, [yh], domain=RUNTIME_DOMAIN, name=node.name,
                   attributes=attrs)
        graph.insert_before(last, new)
        self._exit(graph, new, out, twins, exits)
        remove_nodes(graph, chain)
        return True

    # ------------------------------------------------------------------ MaxPool
    def _max_pool(self, graph: Graph, node: Node, twins, exits) -> bool:
        if len(node.outputs) > 1 and (node.outputs[1].uses() or node.outputs[1].is_graph_output(graph)):
            return False                                      # Indices wanted
        if refers_to_attributes(node):
            return False
        ks = node.attr("kernel_shape")
        if ks is None or len(ks) != 2:
            return False
        attrs = {a: node.attr(a) for a in ("auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads",
                                           "strides") if node.attr(a) is not None}
        out = node.outputs[0]
        yh = Value(unique_name(graph, f"{out.name or 'pool'}_nhwc"), TensorType(out.dtype))
        new = Node("NhwcMaxPool", [twins[node.inputs[0]]], [yh], domain=RUNTIME_DOMAIN, name=node.name,
                   attributes=attrs)
        graph.insert_before(node, new)
        self._exit(graph, new, out, twins, exits)
        remove_nodes(graph, [node])
        return True

    # ------------------------------------------------------------------ entries and exits
    def _twin(self, graph: Graph, v: Value, before: Node, twins) -> Value:
        """The NHWC twin of ``v``, made by a Transpose before ``before`` if none yet."""
        t = twins.get(v)
        if t is None:
            t = Value(unique_name(graph, f"{v.name or 'x'}_nhwc"), TensorType(v.dtype))
            graph.insert_before(before, Node("Transpose", [v], [t], attributes={"perm": _TO_NHWC}))
            twins[v] = t
        return t

    def _exit(self, graph: Graph, new: Node, out: Value, twins, exits) -> None:
        """``out`` (NCHW) recomputed from ``new``'s NHWC output for its other readers."""
        back = Value(unique_name(graph, f"{out.name or 'y'}_nchw"), out.type)
        t = Node("Transpose", [new.outputs[0]], [back], attributes={"perm": _TO_NCHW})
        graph.insert_after(new, t)
        replace_value(graph, out, back)
        back = t.outputs[0]                                   # (renamed when ``out`` was a graph output)
        twins[back] = new.outputs[0]
        exits.append(t)


# ---------------------------------------------------------------------- helpers
def _sole_reader(graph: Graph, v: Value) -> Node | None:
    """The one node reading ``v`` (once), when nothing else (not the graph's outputs) does."""
    uses = v.uses()
    if len(uses) != 1 or v.is_graph_output(graph):
        return None
    return uses[0][0]


def _rank(v: Value) -> int | None:
    s = v.shape
    return None if s is None else len(s)


def _dtype(w: np.ndarray):
    from ..ir import DataType
    return DataType.from_numpy(w.dtype)


def _scalar(v: Value | None, default: float) -> float | None:
    """A constant scalar input's value (``default`` when absent); None when not constant."""
    if v is None or not v.name:
        return default
    a = const_array(v)
    if a is None or a.size != 1 or a.dtype.kind != "f":
        return None
    return float(a.reshape(()))


def _activation(node: Node, opsets) -> tuple[str, list[float]] | None:
    """(name, params) of an activation NhwcConv can fuse, or None."""
    if not is_onnx_domain(node.domain) or refers_to_attributes(node):
        return None
    op = node.op_type
    if op == "Relu" or op == "Sigmoid" or op == "HardSwish":
        return op, []
    if op == "LeakyRelu":
        return op, [float(node.attr("alpha", 0.01))]
    if op == "HardSigmoid":
        return op, [float(node.attr("alpha", 0.2)), float(node.attr("beta", 0.5))]
    if op == "Clip":
        if opset_of(opsets) < 11:
            return op, [float(node.attr("min", -np.inf)), float(node.attr("max", np.inf))]
        ins = list(node.inputs) + [None, None]
        lo, hi = _scalar(ins[1], -np.inf), _scalar(ins[2], np.inf)
        if lo is None or hi is None:
            return None
        return op, [lo, hi]
    return None
