"""Softmax, LogSoftmax, Hardmax at 13: from "coerce to 2-D at ``axis``" (the
op over every dim from ``axis`` on, default 1) to "along ``axis``" (default -1).

Up: when the axis is the last one the two agree; otherwise the input is
flattened at the axis, the op applied along the last axis, and the result
reshaped back (no shape needed).  Down: along the last axis the two agree;
another axis is moved last by a Transpose (the rank must be known), or the
conversion is refused.
"""

from __future__ import annotations

from ._context import Step
from ._registry import Adapter

__all__ = ["ADAPTERS"]


def _up(ctx: Step) -> None:
    n = ctx.node
    x = n.inputs[0]
    axis = n.attr("axis", 1)
    rank = ctx.rank(x)
    if axis == -1 or (rank is not None and axis in (rank - 1, -1)):
        ctx.set_attr("axis", -1, 2)
        return
    ctx.set_attr("axis", -1, 2)
    (flat,) = ctx.add("Flatten", [x], {"axis": axis})
    (shape,) = ctx.add("Shape", [x])
    y = n.outputs[0]
    out = ctx.node
    new_y = ctx.add("Reshape", [y, shape], after=True)[0]  # placeholder input, fixed below
    reshape = new_y.producer()
    ctx.take_output(y, new_y)
    reshape.set_input(0, y)
    out.set_input(0, flat)


def _down(ctx: Step) -> None:
    n = ctx.node
    x = n.inputs[0]
    axis = n.attr("axis", -1)
    rank = ctx.rank(x)
    if axis == -1 or (rank is not None and axis == rank - 1):
        ctx.set_attr("axis", -1 if rank is None else rank - 1, 2)
        return
    if rank is None:
        ctx.refuse(f"axis={axis} is not the last axis and the rank is unknown: opset 12 would "
                   f"apply it over every axis from {axis} on")
    a = axis + rank if axis < 0 else axis
    if not 0 <= a < rank:
        ctx.refuse(f"axis={axis} is out of range for rank {rank}")
    if a == rank - 1:
        ctx.set_attr("axis", a, 2)
        return
    perm = list(range(rank))
    perm[a], perm[-1] = perm[-1], perm[a]       # a swap is its own inverse
    (xt,) = ctx.add("Transpose", [x], {"perm": perm})
    y = n.outputs[0]
    new_y = ctx.add("Transpose", [y], {"perm": perm}, after=True)[0]
    tr = new_y.producer()
    ctx.take_output(y, new_y)
    tr.set_input(0, y)
    n.set_input(0, xt)
    ctx.set_attr("axis", rank - 1, 2)


ADAPTERS = {(op, 13): Adapter(_up, _down) for op in ("Softmax", "LogSoftmax", "Hardmax")}
