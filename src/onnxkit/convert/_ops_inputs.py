"""Attributes that became inputs (and back): Clip (11), Pad (2, 11, 18),
Slice (10), TopK (10), Reshape (5), Dropout (7, 10, 12)."""

from __future__ import annotations

import numpy as np

from ..ir import DataType
from ._context import Step
from ._registry import Adapter

__all__ = ["ADAPTERS"]


def _scalar_like(ctx: Step, value: float, like) -> object:
    dt = ctx.dtype(like)
    if dt is None:
        ctx.refuse("the type of its data input is unknown (needed for a constant of that type)")
    return ctx.constant(np.asarray(value, dtype=dt.numpy_dtype), "c")


# --------------------------------------------------------------------- Clip
def _clip_up(ctx: Step) -> None:
    n = ctx.node
    lo, hi = n.attr("min"), n.attr("max")
    ctx.drop_attr("min")
    ctx.drop_attr("max")
    x = n.inputs[0]
    ctx.set_inputs([x, None if lo is None else _scalar_like(ctx, lo, x),
                    None if hi is None else _scalar_like(ctx, hi, x)])


def _clip_down(ctx: Step) -> None:
    n = ctx.node
    if ctx.dtype(n.inputs[0]) not in (DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE):
        ctx.refuse("Clip before opset 11 takes float inputs only (or the type is unknown)")
    for i, name in ((1, "min"), (2, "max")):
        c = ctx.need_const(i, name)
        if c is not None:
            if np.asarray(c).size != 1:
                ctx.refuse(f"its {name} is not a scalar")
            v = float(np.asarray(c).reshape(-1)[0])
            if ctx.dtype(n.inputs[0]) != DataType.DOUBLE and float(np.float32(v)) != v \
                    and np.isfinite(v):
                ctx.refuse(f"its {name} {v!r} is not exact as a float attribute")
            ctx.set_attr(name, v, 1)
    ctx.set_inputs(n.inputs[:1])


# --------------------------------------------------------------------- Pad
def _pad_2_up(ctx: Step) -> None:
    p = ctx.attr("paddings")
    ctx.drop_attr("paddings")
    if p is not None:
        ctx.set_attr("pads", p, 7)


def _pad_2_down(ctx: Step) -> None:
    p = ctx.attr("pads")
    ctx.drop_attr("pads")
    if p is not None:
        ctx.set_attr("paddings", p, 7)


def _pad_11_up(ctx: Step) -> None:
    n = ctx.node
    pads, value = n.attr("pads"), n.attr("value", 0.0)
    ctx.drop_attr("pads")
    ctx.drop_attr("value")
    x = n.inputs[0]
    cv = None if value == 0.0 else _scalar_like(ctx, value, x)
    if cv is not None and float(np.asarray(ctx.const(cv))) != value:
        ctx.refuse(f"value {value!r} is not exact in the data's type")
    ctx.set_inputs([x, ctx.constant(np.asarray(pads, np.int64), "pads"), cv])


def _pad_11_down(ctx: Step) -> None:
    n = ctx.node
    pads = ctx.need_const(1, "pads")
    cv = ctx.need_const(2, "constant_value")
    ctx.set_attr("pads", [int(p) for p in np.asarray(pads).reshape(-1)], 7)
    if cv is not None and np.asarray(cv).size:
        v = np.asarray(cv).reshape(-1)[0]
        if v.dtype.kind not in "fiub" or float(np.float32(v)) != float(v):
            ctx.refuse(f"its constant_value {v!r} is not exact as a float attribute")
        if float(v) != 0.0:
            ctx.set_attr("value", float(v), 1)
    ctx.set_inputs(n.inputs[:1])


def _pad_18_down(ctx: Step) -> None:
    n = ctx.node
    if len(n.inputs) < 4 or n.inputs[3] is None:
        return
    axes = ctx.need_const(3, "axes")
    rank = ctx.rank(n.inputs[0])
    if rank is None:
        ctx.refuse("its axes input needs opset 18 (the data's rank is unknown)")
    axes = [int(a) + rank if a < 0 else int(a) for a in np.asarray(axes).reshape(-1)]
    k = len(axes)
    pads = ctx.const(n.inputs[1])
    if pads is not None:
        full = [0] * (2 * rank)
        for j, a in enumerate(axes):
            full[a], full[a + rank] = int(pads[j]), int(pads[j + k])
        full_v = ctx.constant(np.asarray(full, np.int64), "pads")
    else:
        # pads computed at run time: every axis's pair gathered from them,
        # the other axes from a 0 put after them
        idx = [2 * k] * (2 * rank)
        for j, a in enumerate(axes):
            idx[a], idx[a + rank] = j, j + k
        (ext,) = ctx.add("Concat", [n.inputs[1], ctx.constant(np.zeros(1, np.int64), "zero")], {"axis": 0})
        (full_v,) = ctx.add("Gather", [ext, ctx.constant(np.asarray(idx, np.int64), "idx")], {"axis": 0})
    ctx.set_inputs([n.inputs[0], full_v, n.inputs[2] if len(n.inputs) > 2 else None])


# --------------------------------------------------------------------- Slice
def _slice_up(ctx: Step) -> None:
    n = ctx.node
    starts, ends, axes = n.attr("starts"), n.attr("ends"), n.attr("axes")
    for a in ("starts", "ends", "axes"):
        ctx.drop_attr(a)
    c = lambda v, nm: None if v is None else ctx.constant(np.asarray(v, np.int64), nm)  # noqa: E731
    ctx.set_inputs([n.inputs[0], c(starts, "starts"), c(ends, "ends"), c(axes, "axes")])


def _slice_down(ctx: Step) -> None:
    n = ctx.node
    starts, ends = ctx.need_const(1, "starts"), ctx.need_const(2, "ends")
    axes, steps = ctx.need_const(3, "axes"), ctx.need_const(4, "steps")
    if steps is not None and (np.asarray(steps) != 1).any():
        ctx.refuse("steps other than 1 need opset 10")
    if starts is None or ends is None:
        ctx.refuse("starts and ends are required")
    ctx.set_attr("starts", [int(x) for x in np.asarray(starts).reshape(-1)], 7)
    ctx.set_attr("ends", [int(x) for x in np.asarray(ends).reshape(-1)], 7)
    if axes is not None:
        ctx.set_attr("axes", [int(x) for x in np.asarray(axes).reshape(-1)], 7)
    ctx.set_inputs(n.inputs[:1])


def _slice_11_down(ctx: Step) -> None:
    """Slice-10 refuses negative axes: make them positive with the rank."""
    n = ctx.node
    if len(n.inputs) < 4 or n.inputs[3] is None:
        return
    axes = ctx.need_const(3, "axes")
    if (np.asarray(axes) >= 0).all():
        return
    rank = ctx.rank(n.inputs[0])
    if rank is None:
        ctx.refuse("negative axes need opset 11 (the data's rank is unknown)")
    fixed = np.where(np.asarray(axes) < 0, np.asarray(axes) + rank, axes).astype(np.int64)
    ins = list(n.inputs)
    ins[3] = ctx.constant(fixed, "axes")
    ctx.set_inputs(ins)


# --------------------------------------------------------------------- TopK
def _topk_up(ctx: Step) -> None:
    n = ctx.node
    k = n.attr("k")
    ctx.drop_attr("k")
    ctx.set_inputs([n.inputs[0], ctx.constant(np.asarray([k], np.int64), "k")])


def _topk_down(ctx: Step) -> None:
    k = ctx.need_const(1, "K")
    ctx.set_attr("k", int(np.asarray(k).reshape(-1)[0]), 2)
    ctx.set_inputs(ctx.node.inputs[:1])


# --------------------------------------------------------------------- Reshape
def _reshape_up(ctx: Step) -> None:
    n = ctx.node
    shape = n.attr("shape")
    ctx.drop_attr("shape")
    ctx.drop_attr("consumed_inputs")
    if shape is None:
        ctx.refuse("Reshape-1 without a shape attribute")
    ctx.set_inputs([n.inputs[0], ctx.constant(np.asarray(shape, np.int64), "shape")])


def _reshape_down(ctx: Step) -> None:
    input_to = ctx.need_const(1, "shape")
    ctx.set_attr("shape", [int(x) for x in np.asarray(input_to).reshape(-1)], 7)
    ctx.set_inputs(ctx.node.inputs[:1])


# --------------------------------------------------------------------- Dropout
def _dropout_7_up(ctx: Step) -> None:
    if ctx.attr("is_test", 0) == 0:
        ctx.refuse("Dropout-6 with is_test=0 drops at random (training); opset 7 has no such mode")
    ctx.drop_attr("is_test")


def _dropout_7_down(ctx: Step) -> None:
    ctx.set_attr("is_test", 1, 2)


def _dropout_10_down(ctx: Step) -> None:
    """Dropout-10's mask is bool, earlier it had the data's type: drop it when unused."""
    n = ctx.node
    if len(n.outputs) > 1:
        ctx.replace(n.op_type, n.inputs, dict(n.attributes), outputs=1)


def _mask_unused(ctx: Step) -> None:
    n = ctx.node
    if len(n.outputs) > 1 and (n.outputs[1].uses() or n.outputs[1].is_graph_output()):
        ctx.refuse("the mask of an inference-mode Dropout is all True from opset 12; before, "
                   "runtimes differ (onnxruntime gives all False)")


def _dropout_12_up(ctx: Step) -> None:
    _mask_unused(ctx)
    n = ctx.node
    ctx.drop_attr("ratio")
    # inference mode (training_mode absent) ignores the ratio: the node is an identity
    ctx.set_inputs(n.inputs[:1])


def _dropout_12_down(ctx: Step) -> None:
    _mask_unused(ctx)
    n = ctx.node
    if len(n.inputs) > 2 and n.inputs[2] is not None:
        tm = ctx.const(n.inputs[2])
        if tm is None or bool(np.asarray(tm).reshape(-1)[0]):
            ctx.refuse("training_mode (random dropping) needs opset 12")
    if ctx.attr("seed") is not None:
        ctx.drop_attr("seed")
    if len(n.inputs) > 1 and n.inputs[1] is not None:
        r = ctx.const(n.inputs[1])
        if r is not None and np.asarray(r).size == 1:
            ctx.set_attr("ratio", float(np.asarray(r).reshape(-1)[0]), 1)
    ctx.set_inputs(n.inputs[:1])


ADAPTERS = {
    ("Clip", 11): Adapter(_clip_up, _clip_down),
    ("Pad", 2): Adapter(_pad_2_up, _pad_2_down),
    ("Pad", 11): Adapter(_pad_11_up, _pad_11_down),
    ("Pad", 18): Adapter(lambda ctx: None, _pad_18_down),
    ("Slice", 10): Adapter(_slice_up, _slice_down),
    ("Slice", 11): Adapter(lambda ctx: None, _slice_11_down),
    ("TopK", 10): Adapter(_topk_up, _topk_down),
    ("Reshape", 5): Adapter(_reshape_up, _reshape_down),
    ("Dropout", 7): Adapter(_dropout_7_up, _dropout_7_down),
    ("Dropout", 10): Adapter(lambda ctx: None, _dropout_10_down),
    ("Dropout", 12): Adapter(_dropout_12_up, _dropout_12_down),
}
