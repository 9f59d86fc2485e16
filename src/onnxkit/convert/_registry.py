"""Adapters and the registry of version steps.

A *step* is a ``since_version`` of an operator that has an older version
before it: ``(domain, op, since)``.  Each family module (``_ops_*.py``) gives
a table ``ADAPTERS = {(op, since): Adapter}`` for the default domain (and
``ML_ADAPTERS`` for ai.onnx.ml); :mod:`._same` gives the steps that changed
no semantics (types widened, a new attribute whose default keeps the old
behaviour) as a table of text.  An adapter may also be registered for an
op's first version: its ``down`` then says how to express the op before it
existed.  Steps with no adapter in either direction carry a reason in
:data:`._reasons.REASONS`.
"""

from __future__ import annotations

import functools
import importlib
from typing import Callable, Union

from ._context import Refuse, Step

__all__ = ["Adapter", "FAMILIES", "all_adapters", "lookup"]

#: a handler is a function of the Step, or a reason (str) for refusing that direction
Handler = Union[Callable[[Step], None], str, None]

#: the modules holding adapter tables, one per operator family
FAMILIES = ("_same", "_ops_axes", "_ops_inputs", "_ops_softmax", "_ops_norm", "_ops_resize",
            "_ops_cast", "_ops_misc", "_ops_attention", "_functions", "_reasons")


class Adapter:
    """How one step goes up (older -> newer) and down (newer -> older)."""

    def __init__(self, up: Handler = None, down: Handler = None) -> None:
        self.up = up
        self.down = down

    def apply(self, ctx: Step, direction: str) -> None:
        h = self.up if direction == "up" else self.down
        if h is None:
            raise Refuse(f"no rewrite {direction} across this version step")
        if isinstance(h, str):
            raise Refuse(h)
        h(ctx)

    def __repr__(self) -> str:
        return f"Adapter(up={self.up!r}, down={self.down!r})"


@functools.cache
def all_adapters() -> dict[tuple[str, str, int], Adapter]:
    """``{(domain, op, since): Adapter}`` over every family module."""
    table: dict[tuple[str, str, int], Adapter] = {}
    for fam in FAMILIES:
        mod = importlib.import_module(f".{fam}", __package__)
        for dom, attr in (("", "ADAPTERS"), ("ai.onnx.ml", "ML_ADAPTERS")):
            for (op, since), a in getattr(mod, attr, {}).items():
                key = (dom, op, since)
                if key in table:
                    raise RuntimeError(f"two adapters for {op}-{since} ({fam} and another family)")
                table[key] = a
    return table


def lookup(domain: str, op: str, since: int) -> Adapter | None:
    return all_adapters().get((domain, op, since))
