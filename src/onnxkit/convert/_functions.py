"""Ops that do not exist at the target, expressed through the function body
their schema gives (stored bodies only; bodies onnx builds from the node's
types are written here by hand: LayerNormalization-17, RMSNormalization-23,
Gelu-20)."""

from __future__ import annotations

import math

import numpy as np

from ..defs import get_schema
from ..ir import Attribute, AttributeType, DataType, Value
from ._context import Step
from ._registry import Adapter

__all__ = ["ADAPTERS", "expand_function", "expand_or_refuse"]


def expand_or_refuse(ctx: Step, domain: str, op: str, since: int) -> None:
    schema = get_schema(op, ctx.at, domain)
    text = schema.function_text(ctx.at) if schema is not None else None
    if text is None:
        why = " (its function body depends on the node's types and is not stored)" \
            if schema is not None and schema.context_function_versions else ""
        ctx.refuse(f"{op} does not exist before opset {since}, and has no function body to "
                   f"expand{why}")
    expand_function(ctx, schema, schema.function(ctx.at))


def expand_function(ctx: Step, schema, fn) -> None:
    """Replace the node by the nodes of ``fn`` (attributes bound, inputs and
    outputs mapped); they are converted further from the body's opset."""
    n = ctx.node
    body_opset = {("" if d in ("", "ai.onnx") else d): v for d, v in fn.opset_imports.items()}.get("", ctx.at)
    vmap: dict[int, Value | None] = {}
    for i, formal in enumerate(fn.inputs):
        vmap[id(formal)] = n.inputs[i] if i < len(n.inputs) else None
    bound = {name: a.default for name, a in schema.attributes.items() if a.default is not None}
    bound.update({name: a.value for name, a in n.attributes.items()})
    for bn in fn:
        attrs = []
        for a in bn.attributes.values():
            if a.type in (AttributeType.GRAPH, AttributeType.GRAPHS):
                ctx.refuse(f"{n.op_type}'s function body has a subgraph (not expanded)")
            if a.ref_attr_name:
                if a.ref_attr_name not in bound:
                    continue
                attrs.append(Attribute(a.name, a.type, bound[a.ref_attr_name]))
            else:
                attrs.append(Attribute(a.name, a.type, a.value))
        ins = [None if v is None else vmap.get(id(v), v) for v in bn.inputs]
        outs = ctx.add(bn.op_type, ins, {a.name: a for a in attrs}, outputs=len(bn.outputs))
        outs[0].producer().domain = bn.domain
        for o, new in zip(bn.outputs, outs):
            vmap[id(o)] = new
    for formal, actual in zip(fn.outputs, n.outputs):
        new = vmap.get(id(formal))
        if not actual.name and not actual.uses():
            continue
        if new is None or new.producer() is None or new.producer() not in ctx.added:
            (new,) = ctx.add("Identity", [new])
        ctx.take_output(actual, new)
    ctx.added_at = body_opset
    ctx.graph.remove(n, safe=False)


# ------------------------------------------------------------------ hand-written bodies
def _const(ctx: Step, value: float, dtype: DataType):
    return ctx.constant(np.asarray(value, dtype=dtype.numpy_dtype), "c")


def _gelu_down(ctx: Step) -> None:
    """Gelu-20 -> Erf/Tanh arithmetic (the body the spec gives)."""
    n = ctx.node
    x = n.inputs[0]
    dt = ctx.dtype(x)
    if dt is None:
        ctx.refuse("Gelu needs opset 20 when its input type is unknown")
    approx = n.attr("approximate", "none")
    half, one = _const(ctx, 0.5, dt), _const(ctx, 1.0, dt)
    if approx == "tanh":
        (x3,) = ctx.add("Mul", [x, x])
        (x3,) = ctx.add("Mul", [x3, x])
        (t,) = ctx.add("Mul", [x3, _const(ctx, 0.044715, dt)])
        (t,) = ctx.add("Add", [x, t])
        (t,) = ctx.add("Mul", [t, _const(ctx, math.sqrt(2 / math.pi), dt)])
        (inner,) = ctx.add("Tanh", [t])
    else:
        (t,) = ctx.add("Div", [x, _const(ctx, math.sqrt(2.0), dt)])
        (inner,) = ctx.add("Erf", [t])
    (s,) = ctx.add("Add", [inner, one])
    (s,) = ctx.add("Mul", [x, s])
    (y,) = ctx.add("Mul", [s, half])
    ctx.take_output(n.outputs[0], y)
    ctx.graph.remove(n, safe=False)


def _reduce_mean(ctx: Step, x: Value, axes: list[int]) -> Value:
    """ReduceMean over ``axes`` (keepdims) in the form of the step's opset."""
    if ctx.version >= 18:
        return ctx.add("ReduceMean", [x, ctx.constant(np.asarray(axes, np.int64), "axes")],
                       {"keepdims": 1})[0]
    return ctx.add("ReduceMean", [x], {"axes": axes, "keepdims": 1})[0]


def _norm_down(rms: bool):
    """LayerNormalization-17 / RMSNormalization-23 -> ReduceMean arithmetic
    (the spec's body: computed in ``stash_type``, cast back before the scale)."""
    op = "RMSNormalization" if rms else "LayerNormalization"
    since = 23 if rms else 17

    def down(ctx: Step) -> None:
        n = ctx.node
        x, scale = n.inputs[0], n.inputs[1]
        bias = n.inputs[2] if len(n.inputs) > 2 and not rms else None
        dt, rank = ctx.dtype(x), ctx.rank(x)
        axis = n.attr("axis", -1)
        if dt is None:
            ctx.refuse(f"{op} needs opset {since} when its input type is unknown")
        if rank is None and axis == -1:
            axes = [-1]
        elif rank is None:
            ctx.refuse(f"axis={axis}: {op} needs opset {since} when the rank is unknown")
        else:
            a = axis + rank if axis < 0 else axis
            axes = list(range(a, rank))
        stash = DataType(n.attr("stash_type", 1))
        eps = n.attr("epsilon", 1e-5)
        xs = x if stash == dt else ctx.add("Cast", [x], {"to": int(stash)})[0]
        if rms:
            d = xs
        else:
            mean = _reduce_mean(ctx, xs, axes)
            (d,) = ctx.add("Sub", [xs, mean])
        (d2,) = ctx.add("Mul", [d, d])
        var = _reduce_mean(ctx, d2, axes)
        (ve,) = ctx.add("Add", [var, _const(ctx, eps, stash)])
        (std,) = ctx.add("Sqrt", [ve])
        (norm,) = ctx.add("Div", [d, std])
        normt = norm if stash == dt else ctx.add("Cast", [norm], {"to": int(dt)})[0]
        (y,) = ctx.add("Mul", [normt, scale])
        if bias is not None:
            (y,) = ctx.add("Add", [y, bias])
        ctx.take_output(n.outputs[0], y)
        extra = n.outputs[1:] if not rms else ()
        for o, make in zip(extra, (lambda: mean, lambda: ctx.add("Reciprocal", [std])[0])):
            if o.name or o.uses():
                ctx.take_output(o, make())
        ctx.graph.remove(n, safe=False)
    return down


ADAPTERS = {
    ("Gelu", 20): Adapter("Gelu is new at opset 20", _gelu_down),
    ("LayerNormalization", 17): Adapter("LayerNormalization is new at opset 17", _norm_down(False)),
    ("RMSNormalization", 23): Adapter("RMSNormalization is new at opset 23", _norm_down(True)),
}
