"""Axes that moved from attributes to inputs: Squeeze / Unsqueeze (13), the
Reduce family (ReduceSum at 13, the others at 18), Split's ``split`` (13) and
``num_outputs`` (18).

Up, the attribute becomes a Constant input; down, a constant input becomes
the attribute again (refused when it is computed at run time).
"""

from __future__ import annotations

import numpy as np

from ._context import Step
from ._registry import Adapter

__all__ = ["ADAPTERS", "attr_to_input", "input_to_attr"]


def attr_to_input(attr: str, index: int, *, required: bool = False):
    """Up: attribute ``attr`` (ints) becomes input ``index`` (int64)."""
    def up(ctx: Step) -> None:
        n = ctx.node
        val = n.attr(attr)
        ctx.drop_attr(attr)
        if val is None:
            if required:
                ctx.refuse(f"attribute {attr!r} is missing")
            return
        ins = list(n.inputs) + [None] * max(0, index + 1 - len(n.inputs))
        ins[index] = ctx.constant(np.asarray(val, np.int64), attr)
        ctx.set_inputs(ins)
    return up


def input_to_attr(attr: str, index: int, what: str | None = None):
    """Down: constant input ``index`` becomes attribute ``attr`` (ints)."""
    def down(ctx: Step) -> None:
        n = ctx.node
        c = ctx.need_const(index, what or attr)
        ins = list(n.inputs)
        if c is not None:
            ctx.set_attr(attr, [int(x) for x in np.asarray(c).reshape(-1)], 7)
        ctx.set_inputs(ins[:index] + [None] * (len(ins) - index))
    return down


def _reduce_down(ctx: Step) -> None:
    """Reduce*-18 -> 13: axes input -> attribute; ``noop_with_empty_axes``
    only means something with no axes."""
    noop = ctx.attr("noop_with_empty_axes", 0)
    c = ctx.need_const(1, "axes")
    if c is None or np.asarray(c).size == 0:
        if noop:
            ctx.refuse("noop_with_empty_axes=1 with no axes (an identity) has no opset 13 form")
        ctx.set_inputs(ctx.node.inputs[:1])
    else:
        input_to_attr("axes", 1)(ctx)
    ctx.drop_attr("noop_with_empty_axes")


def _split_18_down(ctx: Step) -> None:
    """Split-18's ``num_outputs`` (last chunk may be smaller) -> Split-13 with
    equal parts, or an explicit ``split`` input when the size is known."""
    n = ctx.node
    k = ctx.attr("num_outputs")
    if k is None:
        return
    ctx.drop_attr("num_outputs")
    if len(n.inputs) > 1 and n.inputs[1] is not None:
        return
    shape = ctx.shape(n.inputs[0])
    axis = ctx.attr("axis", 0)
    dim = shape[axis] if shape is not None and -len(shape) <= axis < len(shape) else None
    if not isinstance(dim, int):
        _split_sizes_at_run_time(ctx, k, axis)
        return
    if dim % k == 0:
        return
    chunk = -(-dim // k)
    sizes = [chunk] * (k - 1) + [dim - chunk * (k - 1)]
    if sizes[-1] < 0:
        # an invalid split (an error when it runs, as at 18: such a node may
        # sit in a branch that never runs): the sizes are left to run time
        _split_sizes_at_run_time(ctx, k, axis)
        return
    ctx.set_inputs([n.inputs[0], ctx.constant(np.asarray(sizes, np.int64), "split")])


def _split_18_up(ctx: Step) -> None:
    """Split-18 wants ``split`` or ``num_outputs``: equal parts name their count."""
    n = ctx.node
    if len(n.inputs) < 2 or n.inputs[1] is None:
        ctx.set_attr("num_outputs", len(n.outputs))


_REDUCE_18 = ("ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean",
              "ReduceMin", "ReduceProd", "ReduceSumSquare")


def _reduce_up(ctx: Step) -> None:
    attr_to_input("axes", 1)(ctx)


def _split_sizes_at_run_time(ctx: Step, k: int, axis: int) -> None:
    """The split sizes of num_outputs=k computed from the dimension d at run
    time: k-1 chunks of ceil(d / k), then the rest (Split-13 takes them as
    an input; below 13 that input must be a constant and is refused)."""
    n = ctx.node
    (d,) = ctx.add("Shape", [n.inputs[0]], {"start": axis} if axis == -1 else {"start": axis, "end": axis + 1})
    if k == 1:
        ctx.set_inputs([n.inputs[0], d])
        return
    c = lambda v, name: ctx.constant(np.asarray(v, np.int64), name)  # noqa: E731
    (chunk,) = ctx.add("Div", [ctx.add("Add", [d, c([k - 1], "c")])[0], c([k], "k")])
    (first,) = ctx.add("Expand", [chunk, c([k - 1], "shape")])
    (rest,) = ctx.add("Sub", [d, ctx.add("Mul", [chunk, c([k - 1], "c")])[0]])
    (sizes,) = ctx.add("Concat", [first, rest], {"axis": 0})
    ctx.set_inputs([n.inputs[0], sizes])


ADAPTERS = {
    ("Squeeze", 13): Adapter(attr_to_input("axes", 1), input_to_attr("axes", 1)),
    ("Unsqueeze", 13): Adapter(attr_to_input("axes", 1, required=True), input_to_attr("axes", 1)),
    ("Split", 13): Adapter(attr_to_input("split", 1), input_to_attr("split", 1)),
    ("Split", 18): Adapter(_split_18_up, _split_18_down),
    ("ReduceSum", 13): Adapter(_reduce_up, _reduce_down),
    **{(op, 18): Adapter(_reduce_up, _reduce_down) for op in _REDUCE_18},
}
