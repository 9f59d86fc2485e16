"""Cast's ``to`` (a type name before opset 6, a number since) and CastLike
(new at 15: a Cast to the type of its second input, when that type is known)."""

from __future__ import annotations

from ..ir import DataType
from ._context import Step
from ._registry import Adapter

__all__ = ["ADAPTERS"]


def _cast6_up(ctx: Step) -> None:
    to = ctx.attr("to")
    if isinstance(to, str):
        try:
            ctx.set_attr("to", int(DataType[to.upper()]), 2)
        except KeyError:
            ctx.refuse(f"unknown type name to={to!r}")


def _cast6_down(ctx: Step) -> None:
    to = ctx.attr("to")
    if isinstance(to, int):
        ctx.set_attr("to", DataType(to).name, 3)


def _castlike_down(ctx: Step) -> None:
    n = ctx.node
    dt = ctx.dtype(n.inputs[1])
    if dt is None:
        ctx.refuse("CastLike needs opset 15 when the type of its target_type input is unknown")
    attrs = {"to": int(dt)}
    for name in ("saturate", "round_mode"):
        if name in n.attributes:
            attrs[name] = n.attributes[name]
    ctx.replace("Cast", [n.inputs[0]], attrs)


ADAPTERS = {
    ("Cast", 6): Adapter(_cast6_up, _cast6_down),
    ("CastLike", 15): Adapter("CastLike is new at opset 15", _castlike_down),
}
