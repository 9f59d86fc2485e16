"""mode="static": QuantizeLinear/DequantizeLinear pairs, ranges calibrated.

The layout is the one onnxruntime's QDQ optimizer turns into integer kernels
(``DQ -> Conv -> Q`` becomes QLinearConv, and so on):

* A quantized node reads each float activation input through a
  ``QuantizeLinear -> DequantizeLinear`` pair and its output goes through one
  (every reader then reads the dequantized value: in the integer graph the
  output exists only as int8).  A Conv/MatMul/Gemm/Add whose output is read
  only by a quantized Relu or Clip gets no pair in between (onnxruntime fuses
  the activation into it).
* Weights are int8, symmetric, per output channel (Conv axis 0, MatMul and
  Gemm along N), read through DequantizeLinear; a bias is int32 at scale
  input scale x weight scale (the integer kernels' accumulator).
* Ops that move values without computing (MaxPool, Reshape, Transpose,
  Flatten, Squeeze, Unsqueeze) give their output the input's scale, so the
  pairs around them cancel.

Before calibrating, Conv + BatchNormalization pairs are folded
(:class:`onnxkit.passes.fuse_conv_bn.FuseConvBatchNorm`).  Nodes whose
inputs' type is not float are left alone, as are the nodes named in
``exclude``; with ``accuracy_target``, :mod:`._sensitivity` chooses more.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from ..errors import QuantizeError
from ..ir import DataType, Model, Node, Value, clone_model
from ..passes._base import unique_name
from . import _weights
from ._graph import Editor, const_array, is_constant, set_opset

__all__ = ["quantize_static", "QUANTIZABLE"]

#: op -> indices of the activation inputs that are quantized (None: all)
_COMPUTE = {"Conv": (0,), "MatMul": (0, 1), "Gemm": (0,), "Add": None, "Mul": None, "Concat": None,
            "AveragePool": (0,), "GlobalAveragePool": (0,), "Relu": (0,), "Clip": (0,)}
#: ops whose output keeps the input's scale and zero point
_MOVE = {"MaxPool": (0,), "Reshape": (0,), "Transpose": (0,), "Flatten": (0,), "Squeeze": (0,),
         "Unsqueeze": (0,)}
QUANTIZABLE = frozenset(_COMPUTE) | frozenset(_MOVE)
_FUSED_ACT = ("Relu", "Clip")
HOLD = 16


def _fold_batch_norm(model: Model) -> None:
    from ..passes import PassManager
    from ..passes.fuse_conv_bn import FuseConvBatchNorm

    PassManager([FuseConvBatchNorm()], check=False)(model)


def _is_float(v: Value | None) -> bool:
    return v is not None and v.dtype in (DataType.FLOAT, None)


def _weight_axis(node: Node) -> tuple[int, int] | None:
    """``(input index, channel axis)`` of the node's constant weight, if it has one."""
    if node.op_type == "Conv":
        return (1, 0) if is_constant(node.inputs[1]) else None
    if node.op_type == "Gemm":
        if node.attr("transA", 0) or node.attr("alpha", 1.0) != 1.0 or node.attr("beta", 1.0) != 1.0:
            return None
        return (1, 0 if node.attr("transB", 0) else 1) if is_constant(node.inputs[1]) else None
    if node.op_type == "MatMul" and is_constant(node.inputs[1]):
        w = const_array(node.inputs[1])
        return (1, 1) if w is not None and w.ndim == 2 else None
    return None


class Plan:
    """Which nodes are quantizable and which tensors they need ranges for."""

    def __init__(self, model: Model, exclude: frozenset[str], activation_type: str) -> None:
        self.model = model
        self.activation_type = activation_type
        g = model.graph
        self.nodes: list[Node] = []
        for n in g:
            if n.domain not in ("", "ai.onnx") or n.op_type not in QUANTIZABLE or n.name in exclude:
                continue
            if not n.name:
                continue            # named for the report and for exclude; exporters name every node
            if not _is_float(n.outputs[0]) or not any(_is_float(v) for v in n.inputs):
                continue
            if n.op_type in ("Conv", "Gemm") and _weight_axis(n) is None:
                continue            # a computed weight, or a Gemm with alpha/beta/transA
            self.nodes.append(n)
        self.by_name = {n.name: n for n in self.nodes}

    def activations(self, node: Node) -> list[tuple[int, Value]]:
        """The (index, value) of ``node``'s float activation inputs to quantize."""
        idx = _COMPUTE.get(node.op_type, _MOVE.get(node.op_type))
        wa = _weight_axis(node)
        out = []
        for i, v in enumerate(node.inputs):
            if v is None or (idx is not None and i not in idx) or not _is_float(v):
                continue
            if wa is not None and i == wa[0]:
                continue
            if node.op_type in ("Conv", "Gemm") and i == 2:
                continue
            out.append((i, v))
        return out

    def _removable(self, act: Node) -> bool:
        """Whether QuantizeLinear alone does what ``act`` does: a Relu, or a
        Clip at min 0 (its output range then ends at or below max), with a
        uint8 range starting at 0 (zero point 0, negatives saturate to 0)."""
        if self.activation_type != "uint8":
            return False
        if act.op_type == "Relu":
            return True
        if act.op_type == "Clip":
            lo = act.attr("min") if len(act.inputs) < 2 else const_array(act.inputs[1])
            return lo is not None and float(np.asarray(lo).reshape(())) == 0.0
        return False

    def fused(self, chosen: set[str]) -> set[str]:
        """Outputs of a chosen Conv/MatMul/Gemm/Add read only by a chosen,
        removable Relu/Clip: no pair there (see :func:`_fold_activation`)."""
        out = set()
        for n in self.nodes:
            if n.name not in chosen or n.op_type not in ("Conv", "MatMul", "Gemm", "Add"):
                continue
            o = n.outputs[0]
            readers = o.consumers()
            if (len(readers) == 1 and len(o.uses()) == 1 and not o.is_graph_output()
                    and readers[0].op_type in _FUSED_ACT and readers[0].name in chosen
                    and self._removable(readers[0])):
                out.add(o.name)
        return out

    def tensors(self, chosen: Iterable[str], fuse: bool = True) -> dict[str, str]:
        """Every tensor name to quantize for the nodes ``chosen`` -> the tensor
        whose calibrated range it uses (itself, or a moving op's input)."""
        chosen = set(chosen)
        fused = self.fused(chosen) if fuse else set()
        out: dict[str, str] = {}
        for n in self.nodes:
            if n.name not in chosen:
                continue
            for _, v in self.activations(n):
                if v.name not in fused:
                    out.setdefault(v.name, v.name)
            o = n.outputs[0]
            if n.op_type in _MOVE:
                src = n.inputs[0].name
                out[o.name] = out.get(src, src)
            elif o.name not in fused:
                out.setdefault(o.name, o.name)
        return out


def build(float_model: Model, plan: Plan, chosen: Iterable[str], ranges: dict[str, tuple[float, float]],
          activation_type: str, per_channel: bool) -> Model:
    """A copy of ``float_model`` with the nodes ``chosen`` quantized."""
    model = clone_model(float_model)
    g = model.graph
    chosen = set(chosen) & set(plan.by_name)
    tensors = plan.tensors(chosen)
    fused = plan.fused(chosen)
    params = {name: _weights.activation_params(*ranges[src], activation_type) for name, src in tensors.items()}
    ed = Editor(g)
    made: dict[str, Value] = {}       # tensor name -> the DequantizeLinear output standing for it
    ours: set[int] = set()            # ids of those outputs
    for n in list(g):
        if n.name not in chosen:
            continue
        if _fold_activation(ed, n, plan, fused, ours, params, made):
            continue
        for i, _ in plan.activations(plan.by_name[n.name]):
            v = n.inputs[i]
            if id(v) in ours:         # the output of a quantized node: already read through its pair
                continue
            if v.name not in made:
                made[v.name] = _input_pair(ed, n, v, params[v.name])
                ours.add(id(made[v.name]))
            n.set_input(i, made[v.name])
        o = n.outputs[0]
        if o.name in tensors:
            made[o.name] = _output_pair(ed, n, o, params[o.name])
            ours.add(id(made[o.name]))
        _quantize_weights(n, ed, params, per_channel)
    ed.drop_unused()
    return model


def _fold_activation(ed: Editor, n: Node, plan: Plan, fused: set[str], ours: set[int], params, made) -> bool:
    """A Relu (or Clip at 0) fused into the node before it is dropped, its
    output pair put on that node's output: QuantizeLinear with zero point 0
    saturates the negatives itself (and the top of the range lies at or below
    Clip's max), the layout onnxruntime's own quantizer gives."""
    if n.op_type not in _FUSED_ACT or n.inputs[0] is None or n.inputs[0].name not in fused:
        return False
    x, o = n.inputs[0], n.outputs[0]
    p = x.producer()
    g = ed.graph
    readers = o.uses()
    g.remove(n, safe=False)
    for r, i in readers:
        r.set_input(i, x)
    name = o.name
    if o.is_graph_output(g):
        outs = g.outputs
        for k, v in enumerate(outs):
            if v is o:
                outs[k] = x
        x.name, o.name = o.name, None
    made[name] = out = _output_pair(ed, p, x, params[name])
    ours.add(id(out))
    return True


def _scale_consts(ed: Editor, hint: str, p: tuple[np.ndarray, np.ndarray]) -> tuple[Value, Value]:
    return ed.const(p[0], f"{hint}_scale"), ed.const(p[1], f"{hint}_zero_point")


def _input_pair(ed: Editor, reader: Node, v: Value, p) -> Value:
    """``v`` through Q -> DQ ahead of ``reader`` (a constant: quantized now, DQ only)."""
    hint = v.name
    sv, zv = _scale_consts(ed, hint, p)
    c = const_array(v)
    if c is not None:
        s, z = p
        q = np.clip(np.rint(c / s) + int(z), *_limits(z)).astype(z.dtype)
        src = ed.const(q, f"{hint}_quantized")
    else:
        src = ed.node(reader, "QuantizeLinear", [v, sv, zv], f"{hint}_QuantizeLinear").outputs[0]
    out = ed.node(reader, "DequantizeLinear", [src, sv, zv], f"{hint}_DequantizeLinear").outputs[0]
    out.type = v.type
    return out


def _limits(z: np.ndarray) -> tuple[int, int]:
    return (0, 255) if z.dtype == np.uint8 else (-128, 127)


def _output_pair(ed: Editor, n: Node, o: Value, p) -> Value:
    """Q -> DQ right after ``n``; every reader of ``o`` (and the graph output) moves to it."""
    g = ed.graph
    hint = o.name
    sv, zv = _scale_consts(ed, hint, p)
    readers = o.uses()
    q = Node("QuantizeLinear", [o, sv, zv], [Value(unique_name(g, f"{hint}_quantized"))],
             name=unique_name(g, f"{hint}_QuantizeLinear"))
    dq = Node("DequantizeLinear", [q.outputs[0], sv, zv], [Value(unique_name(g, f"{hint}_dequantized"), o.type)],
              name=unique_name(g, f"{hint}_DequantizeLinear"))
    g.insert_after(n, [q, dq])
    out = dq.outputs[0]
    for r, i in readers:
        r.set_input(i, out)
    if o.is_graph_output(g):
        # the graph's output keeps its name: the float value is renamed, the pair's output takes it
        name = o.name
        o.name = unique_name(g, f"{name}_float")
        outs = g.outputs
        for k, x in enumerate(outs):
            if x is o:
                outs[k] = out
        out.name = name
    return out


def _quantize_weights(n: Node, ed: Editor, params, per_channel: bool) -> None:
    wa = _weight_axis(n)
    if wa is None:
        return
    i, axis = wa
    wv = n.inputs[i]
    w = const_array(wv)
    if w.dtype != np.float32:
        return
    q, ws = _weights.symmetric(w, axis if per_channel else None)
    ins = [ed.const(q, f"{wv.name}_quantized"), ed.const(ws, f"{wv.name}_scale"),
           ed.const(np.zeros(ws.shape, np.int8), f"{wv.name}_zero_point")]
    attrs = {"axis": axis} if per_channel else {}
    dq = ed.node(n, "DequantizeLinear", ins, f"{wv.name}_DequantizeLinear", **attrs)
    n.set_input(i, dq.outputs[0])
    if not wv.uses() and wv.is_initializer():
        ed._dropped.add(wv.name)
    # the bias, int32 at the accumulator's scale
    bi = 2
    if len(n.inputs) > bi and n.inputs[bi] is not None and n.op_type in ("Conv", "Gemm"):
        bv = n.inputs[bi]
        b = const_array(bv)
        x = n.inputs[0]
        xs = _input_scale(x)
        if b is None or b.ndim != 1 or xs is None or b.dtype != np.float32:
            return
        bs = (xs * np.broadcast_to(ws, b.shape)).astype(np.float32)
        bq = _weights.quantize_bias(b, bs)
        dqb = ed.node(n, "DequantizeLinear", [ed.const(bq, f"{bv.name}_quantized"), ed.const(bs, f"{bv.name}_scale")],
                      f"{bv.name}_DequantizeLinear", axis=0)
        n.set_input(bi, dqb.outputs[0])
        if not bv.uses() and bv.is_initializer():
            ed._dropped.add(bv.name)


def _input_scale(x: Value) -> np.float32 | None:
    """The scale of the activation ``x`` (the output of a DequantizeLinear we made)."""
    p = x.producer()
    if p is None or p.op_type != "DequantizeLinear":
        return None
    s = const_array(p.inputs[1])
    return None if s is None or s.size != 1 else np.float32(s.reshape(()))


def quantize_static(model: Model, calibration: Iterable[dict], *, per_channel: bool, activation_type: str,
                    exclude: frozenset[str], method: str, percentile: float,
                    accuracy_target: float | None, report: Any, detail: bool = False) -> Model:
    from . import NodeReport
    from ._calibrate import collect

    set_opset(model, 13)            # per-axis DequantizeLinear
    _fold_batch_norm(model)
    from ..infer import infer_shapes, types_restored
    with types_restored(model):         # element types decide what is quantizable; the file keeps its own
        infer_shapes(model)
        plan = Plan(model, exclude, activation_type)
    if not plan.nodes:
        raise QuantizeError("no node of this model can be statically quantized (Conv, MatMul, Gemm, Add, "
                            "Mul, pooling, Concat ... with float inputs)")
    tensors = plan.tensors(plan.by_name)
    wanted = set(tensors) | set(tensors.values())
    if accuracy_target is not None or detail:       # subsets of the nodes: every tensor any may need
        every = plan.tensors(plan.by_name, fuse=False)
        wanted |= set(every) | set(every.values())
    hold = HOLD if accuracy_target is not None or detail else 0
    hists, held, _ = collect(model, wanted, calibration, hold=hold)
    ranges = {}
    for name, h in hists.items():
        if h.lo > h.hi:
            raise QuantizeError(f"value {name!r}: no finite number in the calibration data")
        ranges[name] = h.range(method, percentile)
    chosen = list(plan.by_name)
    excluded: dict[str, str] = {n.name: "excluded by the caller" for n in model.graph if n.name in exclude}
    sens: dict[str, float] = {}
    metric = None
    if held:
        from ._sensitivity import meet_target
        chosen, why, sens, metric = meet_target(model, held, chosen, accuracy_target,
                                                lambda c: build(model, plan, c, ranges, activation_type,
                                                                per_channel))
        excluded.update(why)
    out = build(model, plan, chosen, ranges, activation_type, per_channel)
    report.quantized = chosen
    report.excluded = excluded
    report.metric = metric
    report.samples = len(held)
    for n in model.graph:
        if n.name in exclude and n.op_type in QUANTIZABLE:
            report.nodes.append(NodeReport(n.name, n.op_type, excluded=excluded[n.name]))
        if n.name not in plan.by_name:
            continue
        o = n.outputs[0].name
        src = tensors.get(o)
        scale = clip = None
        if src is not None:
            lo, hi = ranges[src]
            scale = float(_weights.activation_params(lo, hi, activation_type)[0])
            clip = hists[src].clipped(lo, hi)
        report.nodes.append(NodeReport(n.name, n.op_type, sens.get(n.name), scale, clip, excluded.get(n.name, "")))
    return out
