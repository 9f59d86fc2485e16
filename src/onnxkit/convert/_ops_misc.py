"""Smaller steps: the ``broadcast``/``axis`` attributes of the binary ops
(7), Gemm's ``broadcast`` (7), Concat's axis default (4), Constant's
``value_*`` attributes (12), GridSample's mode names (20), RoiAlign's
coordinate mode (16), Scatter -> ScatterElements (11), DFT's axis input
(20), per-axis (De)QuantizeLinear (13), Shape's start/end (15), ``saturate``
of the casts (19, float 8 only), Reshape's allowzero (14), Trilu (new at 14:
a Where on a mask of row and column indices)."""

from __future__ import annotations

import numpy as np

from ..ir import DataType
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
    """allowzero=1 only differs where the shape holds a 0 (copied from the
    input without it).  An entry is safe when it is a nonzero constant, or
    when the output's dim there is the input's dim there (the same symbol or
    number): a 0 there then means the input's dim is 0 too, and copying it
    gives the same 0.  Exporters build shapes as Concat(Shape slices,
    constants), which this covers."""
    if not ctx.attr("allowzero", 0):
        ctx.drop_attr("allowzero")
        return
    n = ctx.node
    entries = _shape_entries(ctx, n.inputs[1])
    x, y = ctx.shape(n.inputs[0]), ctx.shape(n.outputs[0])
    ctx.drop_attr("allowzero")
    for i, e in enumerate(entries or [None]):
        if e is not None and e != 0:
            continue
        if e is None and x is not None and y is not None and len(y) == len(entries or ()) \
                and i < len(x) and x[i] == y[i] and x[i] is not None and (not isinstance(x[i], int) or x[i] > 0):
            continue
        _reshape_zero_branch(ctx)
        return


#: what ConstantOfShape-9 makes (the empty result of a shape holding 0)
_CONSTANT_OF_SHAPE_9 = ("float16", "float", "double", "int8", "int16", "int32", "int64",
                        "uint8", "uint16", "uint32", "uint64", "bool")


def _reshape_zero_branch(ctx: Step) -> None:
    """A shape that may hold 0, with allowzero=1: a 0 entry makes the result
    empty, of exactly that shape (a -1 beside a 0 is invalid), so
    ``If(ReduceProd(shape) == 0, ConstantOfShape(shape), Reshape(x, shape))``
    is exact: the Reshape branch runs only on shapes without a 0.  The
    branches' nodes are valid at every opset from 9 to 13 as built (the
    driver does not step them: a target below 9 is refused here)."""
    from ..ir import Graph, Node, Tensor, Value
    from ..ir._types import TensorType

    n = ctx.node
    x, shape = n.inputs[0], n.inputs[1]
    dt = ctx.dtype(x)
    if ctx.driver.dst.get("", ctx.version) < 9 or dt is None or dt.short_name not in _CONSTANT_OF_SHAPE_9:
        ctx.refuse("allowzero=1 with a shape that may hold 0 needs opset 14 (or 9, through If, "
                   f"for a known type ConstantOfShape makes; here {dt.short_name if dt else 'unknown'})")
    y = n.outputs[0]
    out_type = TensorType(dt, y.shape) if y.shape is not None else TensorType(dt)
    zero = Value(ctx.driver.fresh_name("empty"), out_type)
    fill = Node("ConstantOfShape", [shape], [zero], name=ctx.driver.fresh_name("ConstantOfShape"),
                attributes={"value": Tensor(np.zeros(1, dt.numpy_dtype))})
    then_g = Graph([], [zero], [fill], name=ctx.driver.fresh_name("empty_result"))
    res = Value(ctx.driver.fresh_name("reshaped"), out_type)
    reshape = Node("Reshape", [x, shape], [res], name=ctx.driver.fresh_name("Reshape"))
    else_g = Graph([], [res], [reshape], name=ctx.driver.fresh_name("reshape"))
    (prod,) = ctx.add("ReduceProd", [shape], {"keepdims": 0})
    (cond,) = ctx.add("Equal", [prod, ctx.constant(np.array(0, np.int64), "zero")])
    ctx.replace("If", [cond], {"then_branch": then_g, "else_branch": else_g})


def _shape_entries(ctx: Step, v) -> list | None:
    """The entries of a 1-D int64 shape value where constant (None where
    not), looking through Concat; None when its length is unknown."""
    c = ctx.const(v)
    if c is not None:
        return [int(e) for e in np.asarray(c).reshape(-1)]
    p = v.producer() if v is not None else None
    if p is not None and p.op_type == "Concat" and not p.domain and p.attr("axis", 0) in (0, -1):
        out: list = []
        for part in p.inputs:
            sub = _shape_entries(ctx, part)
            if sub is None:
                return None
            out += sub
        return out
    s = ctx.shape(v)
    if s is not None and len(s) == 1 and isinstance(s[0], int):
        return [None] * s[0]
    return None


def _trilu_down(ctx: Step) -> None:
    """Trilu before 14: keep x[..., i, j] where j - i >= k (upper) or
    j - i <= k (lower), zero elsewhere: Where(mask, x, 0) with the mask from
    two Ranges over the last two dims (exact; Where-9 takes every numeric
    type but bfloat16, which the driver checks)."""
    n = ctx.node
    x = n.inputs[0]
    dt = ctx.dtype(x)
    if dt is None or not (dt.is_floating or dt.is_integer or dt == DataType.BOOL):
        ctx.refuse("Trilu needs opset 14 when its input is not of a known numeric type")
    k = n.inputs[1] if len(n.inputs) > 1 and n.inputs[1] is not None else \
        ctx.constant(np.asarray(0, np.int64), "k")
    (shape,) = ctx.add("Shape", [x])
    zero, one = (ctx.constant(np.asarray(v, np.int64), "c") for v in (0, 1))

    def positions(index: int):
        (size,) = ctx.add("Gather", [shape, ctx.constant(np.asarray(index, np.int64), "axis")], {"axis": 0})
        return ctx.add("Range", [zero, size, one])[0]
    (i,) = ctx.add("Unsqueeze", [positions(-2), ctx.constant(np.asarray([1], np.int64), "axes")])
    (d,) = ctx.add("Sub", [positions(-1), i])          # (rows, cols): j - i
    (keep,) = ctx.add("GreaterOrEqual" if n.attr("upper", 1) else "LessOrEqual", [d, k])
    fill = ctx.constant(np.zeros((), dt.numpy_dtype), "zero")
    ctx.replace("Where", [keep, x, fill], {})


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
    ("Trilu", 14): Adapter("Trilu is new at opset 14", _trilu_down),
    ("DequantizeLinear", 13): Adapter(lambda ctx: None, _per_tensor_only),
}
