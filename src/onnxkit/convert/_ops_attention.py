"""Attention-23 (new at 23; its body in the spec depends on the node's types,
so it is written here): expanded into MatMul / Softmax arithmetic at opset 22
for the cases whose shapes are known: 3-D or 4-D Q/K/V, multi-head,
grouped- and multi-query heads, a boolean or additive mask, ``is_causal``,
past key/value, ``softcap``, ``scale`` and ``softmax_precision``.  The
fully-masked-row rule (a zero row, not NaN) is kept with a Where.

Attention-24's ``nonpad_kv_seqlen`` (keys past each batch's count are
padding; with ``is_causal`` the causal frontier moves to the end of those
keys) and Attention-25's sliding window (``left_window_size``,
``right_window_size``) go down as a boolean mask folded into ``attn_mask``,
built from the shapes at run time (Range / Less / And)."""

from __future__ import annotations

import math

import numpy as np

from ..ir import DataType, Value
from ..ir._types import TensorType
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


# ------------------------------------------------------------------ 24 and 25: masks
class _Positions:
    """Int64 values of the node's query / key positions, built on demand:
    ``i`` (1, 1, q, 1), ``j`` (1, 1, 1, kv) and the causal ``offset`` (the
    keys before the query block: nonpad - q_len per batch, or past_len)."""

    def __init__(self, ctx: Step) -> None:
        n = ctx.node
        self.ctx = ctx
        ins = list(n.inputs) + [None] * (7 - len(n.inputs))
        self.q, self.k, self.mask, self.past_k, self.nonpad = ins[0], ins[1], ins[3], ins[4], ins[6]
        rq, rk = ctx.rank(self.q), ctx.rank(self.k)
        if rq not in (3, 4) or rk not in (3, 4):
            ctx.refuse(f"Attention needs opset {ctx.version + 1} for this mask when the rank of Q or K "
                       "is unknown")
        if self.nonpad is not None and self.past_k is not None:
            ctx.refuse("nonpad_kv_seqlen with past_key (invalid in the spec)")
        self.q_ax, self.k_ax = (2 if rq == 4 else 1), (2 if rk == 4 else 1)

    def mask_shape(self) -> tuple | None:
        """(batch or 1, 1, q, kv) of the mask made here, when known as numbers."""
        ctx = self.ctx
        qs, ks = ctx.shape(self.q), ctx.shape(self.k)
        b = 1
        if self.nonpad is not None:
            ns = ctx.shape(self.nonpad)
            b = ns[0] if ns else None
        kv = ks[self.k_ax]
        if self.past_k is not None:
            ps = ctx.shape(self.past_k)
            kv = kv + ps[2] if ps and isinstance(ps[2], int) and isinstance(kv, int) else None
        dims = (b, 1, qs[self.q_ax], kv)
        return dims if all(isinstance(d, int) for d in dims) else None

    def _dim(self, v: Value, axis: int) -> Value:
        return self.ctx.add("Shape", [v], {"start": axis, "end": axis + 1})[0]

    def _range4(self, length: Value, shape: list[int]) -> Value:
        ctx = self.ctx
        (scalar,) = ctx.add("Squeeze", [length])
        zero, one = (ctx.constant(np.asarray(x, np.int64), "c") for x in (0, 1))
        (r,) = ctx.add("Range", [zero, scalar, one])
        return ctx.add("Reshape", [r, ctx.constant(np.asarray(shape, np.int64), "shape")])[0]

    def q_len(self) -> Value:
        return self._dim(self.q, self.q_ax)

    def kv_len(self) -> Value:
        kv = self._dim(self.k, self.k_ax)
        if self.past_k is not None:
            (kv,) = self.ctx.add("Add", [kv, self._dim(self.past_k, 2)])
        return kv

    def i(self) -> Value:
        return self._range4(self.q_len(), [1, 1, -1, 1])

    def j(self) -> Value:
        return self._range4(self.kv_len(), [1, 1, 1, -1])

    def nonpad4(self) -> Value:
        shp = self.ctx.constant(np.asarray([-1, 1, 1, 1], np.int64), "shape")
        return self.ctx.add("Reshape", [self.nonpad, shp])[0]

    def offset(self) -> Value:
        ctx = self.ctx
        if self.nonpad is not None:
            return ctx.add("Sub", [self.nonpad4(), self.q_len()])[0]
        if self.past_k is not None:
            return self._dim(self.past_k, 2)
        return ctx.constant(np.asarray([0], np.int64), "zero")


def _fold_mask(ctx: Step, pos: _Positions, allowed: Value) -> None:
    """attn_mask := attn_mask and ``allowed`` (bool, broadcasting to
    (batch, 1, q, kv)); an additive mask gets -inf where not allowed."""
    n = ctx.node
    mask = pos.mask
    allowed.type = TensorType(DataType.BOOL, pos.mask_shape())
    if mask is None:
        _set_input(n, 3, allowed)
        return
    ms, ks = ctx.shape(mask), ctx.shape(pos.k)
    kv = ks[pos.k_ax] if ks is not None else None
    if ms is None or ks is None or kv is None or pos.past_k is not None or ms[-1] != kv:
        ctx.refuse(f"an attn_mask not known to span every key (it may be padded) with this "
                   f"mask needs opset {ctx.version + 1}")
    dt = ctx.dtype(mask)
    if dt == DataType.BOOL:
        (m,) = ctx.add("And", [mask, allowed])
    elif dt is not None and dt.is_floating:
        zero = ctx.constant(np.asarray(0, dt.numpy_dtype), "zero")
        ninf = ctx.constant(np.asarray(-np.inf, dt.numpy_dtype), "ninf")
        (bias,) = ctx.add("Where", [allowed, zero, ninf])
        (m,) = ctx.add("Add", [mask, bias])
    else:
        ctx.refuse("an attn_mask of unknown type")
    if allowed.shape is not None:
        try:
            m.type = TensorType(dt, np.broadcast_shapes(tuple(ms), tuple(allowed.shape)))
        except (TypeError, ValueError):
            pass
    _set_input(n, 3, m)


def _set_input(n, i: int, v: Value) -> None:
    ins = list(n.inputs) + [None] * (i + 1 - len(n.inputs))
    ins[i] = v
    n.set_inputs(ins)


def _down_24(ctx: Step) -> None:
    """nonpad_kv_seqlen -> a padding mask (key j < nonpad[b]); with
    is_causal, the causal rule j <= i + nonpad[b] - q_len joins it (opset
    23's causal rule counts from the first key)."""
    n = ctx.node
    if len(n.inputs) < 7 or n.inputs[6] is None:
        ctx.set_inputs(n.inputs[:6])
        return
    pos = _Positions(ctx)
    j = pos.j()
    (allowed,) = ctx.add("Less", [j, pos.nonpad4()])
    if n.attr("is_causal", 0):
        (frontier,) = ctx.add("Add", [pos.i(), pos.offset()])
        (causal,) = ctx.add("LessOrEqual", [j, frontier])
        (allowed,) = ctx.add("And", [allowed, causal])
        ctx.set_attr("is_causal", 0)
    _fold_mask(ctx, pos, allowed)
    ctx.set_inputs(n.inputs[:6])


def _down_25(ctx: Step) -> None:
    """The sliding window -> a mask: with d = i + offset - j, a key is kept
    when d <= left_window_size and -d <= right_window_size (each when >= 0)."""
    n = ctx.node
    left, right = n.attr("left_window_size", -1), n.attr("right_window_size", -1)
    ctx.drop_attr("left_window_size")
    ctx.drop_attr("right_window_size")
    if left < 0 and right < 0:
        return
    pos = _Positions(ctx)
    (frontier,) = ctx.add("Add", [pos.i(), pos.offset()])
    (d,) = ctx.add("Sub", [frontier, pos.j()])
    parts = []
    if left >= 0:
        parts.append(ctx.add("LessOrEqual", [d, ctx.constant(np.asarray(left, np.int64), "left")])[0])
    if right >= 0:
        parts.append(ctx.add("GreaterOrEqual", [d, ctx.constant(np.asarray(-right, np.int64), "right")])[0])
    allowed = parts[0] if len(parts) == 1 else ctx.add("And", parts)[0]
    _fold_mask(ctx, pos, allowed)


def _up_same(ctx: Step) -> None:
    """Nothing changed going up: the new inputs and attributes are absent."""


ADAPTERS = {("Attention", 23): Adapter("Attention is new at opset 23", _down),
            ("Attention", 24): Adapter(_up_same, _down_24),
            ("Attention", 25): Adapter(_up_same, _down_25)}
