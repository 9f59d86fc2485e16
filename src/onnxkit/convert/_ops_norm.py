"""BatchNormalization across its versions: ``is_test`` (7), ``spatial`` (9),
training outputs and ``training_mode`` (14).  Dropout's steps live with the
other attribute-to-input steps (:mod:`._ops_inputs`)."""

from __future__ import annotations

from ._context import Step
from ._registry import Adapter

__all__ = ["ADAPTERS"]


def _used(v) -> bool:
    return bool(v.uses()) or v.is_graph_output()


def _only_y(ctx: Step, why: str) -> None:
    n = ctx.node
    if any(_used(o) for o in n.outputs[1:]):
        ctx.refuse(why)
    if len(n.outputs) > 1:
        ctx.replace(n.op_type, n.inputs, dict(n.attributes), outputs=1)


def _bn7_up(ctx: Step) -> None:
    if ctx.attr("is_test", 0) == 0:
        ctx.refuse("BatchNormalization-6 with is_test=0 normalizes with the batch's statistics "
                   "(training); not converted")
    ctx.drop_attr("is_test")


def _bn7_down(ctx: Step) -> None:
    ctx.set_attr("is_test", 1, 2)


def _bn9_up(ctx: Step) -> None:
    if ctx.attr("spatial", 1) != 1:
        ctx.refuse("spatial=0 (per-activation statistics) has no opset 9 form")
    ctx.drop_attr("spatial")


def _bn14_up(ctx: Step) -> None:
    _only_y(ctx, "its training outputs (mean, var, saved_mean, saved_var) changed meaning at opset 14")


def _bn14_down(ctx: Step) -> None:
    if ctx.attr("training_mode", 0):
        ctx.refuse("training_mode=1 changed meaning at opset 14 (running statistics outputs)")
    ctx.drop_attr("training_mode")
    _only_y(ctx, "its running_mean / running_var outputs need opset 14")


ADAPTERS = {
    ("BatchNormalization", 7): Adapter(_bn7_up, _bn7_down),
    ("BatchNormalization", 9): Adapter(_bn9_up, lambda ctx: None),
    ("BatchNormalization", 14): Adapter(_bn14_up, _bn14_down),
}
