"""The one error a conversion raises: every node that cannot go to the target."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import OnnxkitError

__all__ = ["ConversionError", "Refusal"]


@dataclass(frozen=True)
class Refusal:
    """One node that cannot be expressed at the target opset.

    ``where`` is the graph path ("main graph", "main graph > node 3 (Loop) body",
    "function local.f"); ``lowest`` (going down) / ``highest`` (going up): the
    furthest opset this node converts to, as far as the refusing step knows
    (None: unknown).
    """
    where: str
    index: int
    name: str
    op_type: str
    reason: str
    lowest: int | None = None
    highest: int | None = None

    def __str__(self) -> str:
        name = f" {self.name!r}" if self.name else ""
        span = ""
        if self.lowest is not None:
            span = f" (lowest opset it converts to: {self.lowest})"
        elif self.highest is not None:
            span = f" (highest opset it converts to: {self.highest})"
        return f"{self.where}, node {self.index}{name} ({self.op_type}): {self.reason}{span}"


class ConversionError(OnnxkitError):
    """A model that cannot be converted to the target opset(s) without changing
    its results.  ``refusals`` lists every node that stands in the way (each a
    :class:`Refusal`: where, node index, name, op type, why); nothing of the
    model was changed when it is raised (the conversion works on a copy, or is
    undone)."""

    def __init__(self, refusals: list[Refusal], target: dict[str, int] | None = None,
                 message: str | None = None) -> None:
        self.refusals = list(refusals)
        self.target = dict(target or {})
        if message is None:
            n = len(self.refusals)
            tgt = ", ".join(f"{d or 'ai.onnx'} {v}" for d, v in self.target.items())
            message = (f"cannot convert to {tgt or 'the target'}: {n} node{'s' if n != 1 else ''} "
                       f"cannot be expressed there without changing results:\n"
                       + "\n".join(f"  - {r}" for r in self.refusals))
        super().__init__(message)
