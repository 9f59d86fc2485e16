"""Smaller steps: the ``broadcast``/``axis`` attributes of the binary ops
(7), Gemm's ``broadcast`` (7), Concat's axis default (4), Constant's
``value_*`` attributes (12), GridSample's mode names (20), RoiAlign's
coordinate mode (16), Scatter -> ScatterElements (11), DFT's axis input
(20), per-axis (De)QuantizeLinear (13), Shape's start/end (15), ``saturate``
of the casts (19, float 8 only), Reshape's allowzero (14)."""

from __future__ import annotations

import numpy as np

from ._context import Step
from ._registry import Adapter

__all__ = ["ADAPTERS"]


# ------------------------------------------------------------------ binary ops at 7
def _bcast_up(ctx: Step) -> None:
    """Opset 6's ``broadcast=1`` matched B to a suffix of A's shape (or, with
    ``axis``, to A's dims from ``axis`` on); numpy broadcasting agrees once B
    has A's trailing rank."""
    n = ctx.node
    b, axis = n.attr("broadcast", 0), n.attr("axis")
    ctx.drop_attr("broadcast")
    ctx.drop_attr("axis")
    if not b:
        return
    ra, rb = ctx.rank(n.inputs[0]), ctx.rank(n.inputs[1])
    if axis is None:
        return
    if ra is None or rb is None:
        ctx.refuse("broadcast with axis needs the ranks of both inputs")
    a = axis + ra if axis < 0 else axis
    trailing = ra - a - rb
    if trailing > 0:
        (bb,) = ctx.add("Unsqueeze", [n.inputs[1]], {"axes": list(range(rb, rb + trailing))})
        n.set_input(1, bb)


def _bcast_down(ctx: Step) -> None:
    """numpy broadcasting -> opset 6: the same shapes, or B a suffix of A's
    shape (or a single element) with ``broadcast=1``."""
    n = ctx.node
    sa, sb = ctx.shape(n.inputs[0]), ctx.shape(n.inputs[1])
    if sa is not None and sb is not None and sa == sb:
        return
    known = sa is not None and sb is not None and all(isinstance(d, int) for d in (*sa, *sb))
    if known and len(sb) <= len(sa) and (tuple(sa[len(sa) - len(sb):]) == tuple(sb)
                                         or int(np.prod(sb)) == 1):
        ctx.set_attr("broadcast", 1, 2)
        return
    ctx.refuse("numpy-style broadcasting needs opset 7 (shapes unknown, or B is not a suffix of A)")


# ------------------------------------------------------------------ Gemm, Concat, Constant
def _gemm7_up(ctx: Step) -> None:
    ctx.drop_attr("broadcast")


def _gemm7_down(ctx: Step) -> None:
    ctx.set_attr("broadcast", 1, 2)


def _concat4_up(ctx: Step) -> None:
    if "axis" not in ctx.node.attributes:
        ctx.set_attr("axis", 1, 2)


def _constant12_down(ctx: Step) -> None:
    n = ctx.node
    for name, dtype in (("value_float", np.float32), ("value_floats", np.float32),
                        ("value_int", np.int64), ("value_ints", np.int64),
                        ("value_string", object), ("value_strings", object)):
        if name in n.attributes:
            arr = np.asarray(n.attr(name), dtype=dtype)
            ctx.drop_attr(name)
            from ..ir import Tensor
            ctx.set_attr("value", Tensor(arr), 4)


# ------------------------------------------------------------------ GridSample, RoiAlign
_GRID_NAMES = {"bilinear": "linear", "bicubic": "cubic", "nearest": "nearest"}


def _grid20_up(ctx: Step) -> None:
    ctx.set_attr("mode", _GRID_NAMES.get(ctx.attr("mode", "bilinear"), ctx.attr("mode")), 3)


def _grid20_down(ctx: Step) -> None:
    if ctx.rank(ctx.node.inputs[0]) != 4:
        ctx.refuse("GridSample before opset 20 takes 4-D inputs only (or the rank is unknown)")
    back = {v: k for k, v in _GRID_NAMES.items()}
    ctx.set_attr("mode", back.get(ctx.attr("mode", "linear"), ctx.attr("mode")), 3)


def _roialign16_up(ctx: Step) -> None:
    ctx.set_attr("coordinate_transformation_mode", "output_half_pixel", 3)


def _roialign16_down(ctx: Step) -> None:
    if ctx.attr("coordinate_transformation_mode", "half_pixel") != "output_half_pixel":
        ctx.refuse("coordinate_transformation_mode='half_pixel' needs opset 16")
    ctx.drop_attr("coordinate_transformation_mode")


# ------------------------------------------------------------------ Scatter, DFT, quantize
def _rename(op: str):
    def go(ctx: Step) -> None:
        ctx.node.op_type = op
    return go


def _scatter_down(ctx: Step) -> None:
    """ScatterElements-11 -> Scatter-9: the same op, without negative axes or indices."""
    n = ctx.node
    idx = ctx.const(n.inputs[1])
    if idx is None or (np.asarray(idx) < 0).any():
        ctx.refuse("indices that may be negative need opset 11")
    if ctx.attr("axis", 0) < 0:
        rank = ctx.rank(n.inputs[0])
        if rank is None:
            ctx.refuse("a negative axis needs opset 11 (the rank is unknown)")
        ctx.set_attr("axis", ctx.attr("axis") + rank, 2)
    n.op_type = "Scatter"


def _dft20_up(ctx: Step) -> None:
    n = ctx.node
    axis = n.attr("axis", 1)
    ctx.drop_attr("axis")
    ins = list(n.inputs) + [None] * (2 - len(n.inputs))
    ctx.set_inputs(ins[:2] + [ctx.constant(np.asarray(axis, np.int64), "axis")])


def _dft20_down(ctx: Step) -> None:
    n = ctx.node
    axis = ctx.need_const(2, "axis") if len(n.inputs) > 2 else None
    a = -2 if axis is None else int(np.asarray(axis).reshape(-1)[0])
    if a < 0:
        rank = ctx.rank(n.inputs[0])
        if rank is None:
            ctx.refuse("a negative DFT axis needs opset 20 (the rank is unknown)")
        a += rank
    ctx.set_attr("axis", a, 2)
    ctx.set_inputs(n.inputs[:2])


def _per_tensor_only(ctx: Step) -> None:
    n = ctx.node
    if ctx.rank(n.inputs[1]) != 0:
        ctx.refuse("a per-axis scale needs opset 13 (or the scale's rank is unknown)")
    ctx.drop_attr("axis")


def _shape15_down(ctx: Step) -> None:
    """Shape-15's start/end -> Shape then Slice (the same clamping rules)."""
    n = ctx.node
    start, end = n.attr("start", 0), n.attr("end")
    ctx.drop_attr("start")
    ctx.drop_attr("end")
    if start == 0 and end is None:
        return
    y = n.outputs[0]
    s = ctx.constant(np.asarray([start], np.int64), "start")
    e = ctx.constant(np.asarray([end if end is not None else np.iinfo(np.int64).max], np.int64), "end")
    a = ctx.constant(np.asarray([0], np.int64), "axes")
    (sl,) = ctx.add("Slice", [y, s, e, a], after=True)
    ctx.take_output(y, sl)
    sl.producer().set_input(0, y)


#: the element types a Cast's ``saturate`` / ``round_mode`` mean something for
_FLOAT8 = {17, 18, 19, 20}


def _saturate_only_for_float8(attr_to: str | None):
    def down(ctx: Step) -> None:
        n = ctx.node
        if "saturate" not in n.attributes:
            return
        if attr_to is not None:
            to = n.attr(attr_to)
        else:       # CastLike / QuantizeLinear: the type of an input
            v = n.inputs[1] if n.op_type == "CastLike" else (n.inputs[2] if len(n.inputs) > 2 else None)
            to = ctx.dtype(v) if v is not None else 2        # QuantizeLinear's default: uint8
        if to is None or int(to) in _FLOAT8:
            ctx.refuse("saturate (float 8 conversions) needs opset 19")
        ctx.drop_attr("saturate")
    return down


def _reshape14_down(ctx: Step) -> None:
    """allowzero=1 only differs where the shape holds a 0."""
    if not ctx.attr("allowzero", 0):
        ctx.drop_attr("allowzero")
        return
    shape = ctx.const(ctx.node.inputs[1])
    if shape is None or (np.asarray(shape) == 0).any():
        ctx.refuse("allowzero=1 with a shape that may hold 0 needs opset 14")
    ctx.drop_attr("allowzero")


_BINARY_7 = ("Add", "Sub", "Mul", "Div", "Pow", "And", "Or", "Xor", "Equal", "Greater", "Less")

ADAPTERS = {
    **{(op, 7): Adapter(_bcast_up, _bcast_down) for op in _BINARY_7},
    ("Gemm", 7): Adapter(_gemm7_up, _gemm7_down),
    ("Concat", 4): Adapter(_concat4_up, lambda ctx: None),
    ("Constant", 12): Adapter(lambda ctx: None, _constant12_down),
    ("GridSample", 20): Adapter(_grid20_up, _grid20_down),
    ("RoiAlign", 16): Adapter(_roialign16_up, _roialign16_down),
    ("Scatter", 11): Adapter(_rename("ScatterElements"), "Scatter is deprecated from opset 11"),
    ("ScatterElements", 11): Adapter("ScatterElements is new at opset 11", _scatter_down),
    ("DFT", 20): Adapter(_dft20_up, _dft20_down),
    ("QuantizeLinear", 13): Adapter(lambda ctx: None, _per_tensor_only),
    ("Shape", 15): Adapter(lambda ctx: None, _shape15_down),
    ("Cast", 19): Adapter(lambda ctx: None, _saturate_only_for_float8("to")),
    ("CastLike", 19): Adapter(lambda ctx: None, _saturate_only_for_float8(None)),
    ("QuantizeLinear", 19): Adapter(lambda ctx: None, _saturate_only_for_float8(None)),
    ("Reshape", 14): Adapter(lambda ctx: None, _reshape14_down),
    ("DequantizeLinear", 13): Adapter(lambda ctx: None, _per_tensor_only),
}
