"""Attention-23 (new at 23; its body in the spec depends on the node's types,
so it is written here): expanded into MatMul / Softmax arithmetic at opset 22
for the cases whose shapes are known: 3-D or 4-D Q/K/V, multi-head,
grouped- and multi-query heads, a boolean or additive mask, ``is_causal``,
past key/value, ``softcap``, ``scale`` and ``softmax_precision``.  The
fully-masked-row rule (a zero row, not NaN) is kept with a Where."""

from __future__ import annotations

import math

import numpy as np

from ..ir import DataType, Value
from ._context import Step
from ._registry import Adapter

__all__ = ["ADAPTERS"]


def _int_shape(ctx: Step, v: Value | None, what: str) -> tuple[int, ...]:
    s = ctx.shape(v)
    if s is None or not all(isinstance(d, int) for d in s):
        ctx.refuse(f"Attention needs opset 23 when the shape of {what} is not known")
    return s


def _to_4d(ctx: Step, v: Value, shape: tuple, heads: int | None, what: str) -> tuple[Value, tuple]:
    """(B, S, H*D) -> (B, H, S, D); 4-D inputs pass."""
    if len(shape) == 4:
        return v, shape
    if heads is None or shape[2] % heads:
        ctx.refuse(f"3-D {what} needs q_num_heads / kv_num_heads dividing its last dim")
    b, s, hd = shape
    shp = ctx.constant(np.asarray([b, s, heads, hd // heads], np.int64), "shape")
    (r,) = ctx.add("Reshape", [v, shp])
    (t,) = ctx.add("Transpose", [r], {"perm": [0, 2, 1, 3]})
    return t, (b, heads, s, hd // heads)


def _down(ctx: Step) -> None:
    n = ctx.node
    ins = list(n.inputs) + [None] * (6 - len(n.inputs))
    q, k, v, mask, past_k, past_v = ins[:6]
    outs = n.outputs
    if len(outs) > 3 and (outs[3].uses() or outs[3].is_graph_output()):
        ctx.refuse("its qk_matmul_output needs opset 23")
    dt = ctx.dtype(q)
    if dt is None or not dt.is_floating:
        ctx.refuse("Attention needs opset 23 when the type of Q is unknown")
    qs, ks, vs = (_int_shape(ctx, x, w) for x, w in ((q, "Q"), (k, "K"), (v, "V")))
    q4, qs4 = _to_4d(ctx, q, qs, n.attr("q_num_heads"), "Q")
    k4, ks4 = _to_4d(ctx, k, ks, n.attr("kv_num_heads"), "K")
    v4, vs4 = _to_4d(ctx, v, vs, n.attr("kv_num_heads"), "V")
    past_len = 0
    if past_k is not None or past_v is not None:
        if past_k is None or past_v is None:
            ctx.refuse("past_key without past_value (or the reverse)")
        pk = _int_shape(ctx, past_k, "past_key")
        past_len = pk[2]
        (k4,) = ctx.add("Concat", [past_k, k4], {"axis": 2})
        (v4,) = ctx.add("Concat", [past_v, v4], {"axis": 2})
        ks4 = (*ks4[:2], ks4[2] + past_len, ks4[3])
        vs4 = (*vs4[:2], vs4[2] + past_len, vs4[3])
    present = (k4, v4)
    b, hq, sq, d = qs4
    hkv, skv = ks4[1], ks4[2]
    if hq != hkv:                               # grouped / multi-query: repeat each kv head
        if hq % hkv:
            ctx.refuse("q heads not a multiple of kv heads")
        rep = hq // hkv

        def repeat(x: Value, shape: tuple) -> Value:
            ax = ctx.constant(np.asarray([2], np.int64), "axes")
            (u,) = ctx.add("Unsqueeze", [x, ax])
            full = ctx.constant(np.asarray([shape[0], shape[1], rep, shape[2], shape[3]], np.int64), "shape")
            (e,) = ctx.add("Expand", [u, full])
            shp = ctx.constant(np.asarray([shape[0], hq, shape[2], shape[3]], np.int64), "shape")
            return ctx.add("Reshape", [e, shp])[0]
        k4, v4 = repeat(k4, ks4), repeat(v4, vs4)
    npdt = dt.numpy_dtype
    scale = n.attr("scale")
    scale = 1.0 / math.sqrt(d) if scale is None else scale
    sq_scale = ctx.constant(np.asarray(math.sqrt(scale), npdt), "scale")
    (qsc,) = ctx.add("Mul", [q4, sq_scale])
    (ksc,) = ctx.add("Mul", [k4, sq_scale])
    (kt,) = ctx.add("Transpose", [ksc], {"perm": [0, 1, 3, 2]})
    (scores,) = ctx.add("MatMul", [qsc, kt])
    softcap = n.attr("softcap", 0.0)
    if softcap:
        cap = ctx.constant(np.asarray(softcap, npdt), "softcap")
        (t,) = ctx.add("Div", [scores, cap])
        (t,) = ctx.add("Tanh", [t])
        (scores,) = ctx.add("Mul", [t, cap])
    bias = None
    if n.attr("is_causal", 0):
        i = np.arange(sq).reshape(-1, 1)
        j = np.arange(skv).reshape(1, -1)
        bias = np.where(j <= i + past_len, 0, -np.inf).astype(npdt)
    if mask is not None:
        ms = _int_shape(ctx, mask, "attn_mask")
        if ms[-1] != skv:
            ctx.refuse("an attn_mask shorter than the keys (padded with -inf) is not converted")
        if ctx.dtype(mask) == DataType.BOOL:
            zero = ctx.constant(np.asarray(0, npdt), "zero")
            ninf = ctx.constant(np.asarray(-np.inf, npdt), "ninf")
            (mb,) = ctx.add("Where", [mask, zero, ninf])
        elif ctx.dtype(mask) == dt:
            mb = mask
        else:
            ctx.refuse("an attn_mask of another type than Q")
        (scores,) = ctx.add("Add", [scores, mb])
    if bias is not None:
        (scores,) = ctx.add("Add", [scores, ctx.constant(bias, "causal")])
    prec = n.attr("softmax_precision")
    if prec is not None and int(prec) != int(dt):
        (scores,) = ctx.add("Cast", [scores], {"to": int(prec)})
    (p,) = ctx.add("Softmax", [scores], {"axis": -1})
    if mask is not None or bias is not None:   # a row of -inf only: zeros, not NaN
        (nan,) = ctx.add("IsNaN", [p])
        zero = ctx.constant(np.asarray(0, p_dtype(ctx, prec, dt)), "zero")
        (p,) = ctx.add("Where", [nan, zero, p])
    if prec is not None and int(prec) != int(dt):
        (p,) = ctx.add("Cast", [p], {"to": int(dt)})
    (y,) = ctx.add("MatMul", [p, v4])
    if len(qs) == 3:
        (t,) = ctx.add("Transpose", [y], {"perm": [0, 2, 1, 3]})
        shp = ctx.constant(np.asarray([b, sq, hq * vs4[3]], np.int64), "shape")
        (y,) = ctx.add("Reshape", [t, shp])
    ctx.take_output(outs[0], y)
    for o, val in zip(outs[1:3], present):
        if o.name or o.uses():
            if val.producer() is None or val.producer() not in ctx.added:
                (val,) = ctx.add("Identity", [val])
            ctx.take_output(o, val)
    ctx.graph.remove(n, safe=False)


def p_dtype(ctx: Step, prec, dt: DataType):
    return DataType(int(prec)).numpy_dtype if prec is not None else dt.numpy_dtype


ADAPTERS = {("Attention", 23): Adapter("Attention is new at opset 23", _down)}
