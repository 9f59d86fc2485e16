"""What every edit shares: copying (or not) the model, finding values and
nodes by name with errors that name what is missing, and the final check."""

from __future__ import annotations

import difflib
from typing import Iterable, Iterator

from ..errors import EditError
from ..ir import Graph, Model, Node, TensorType, Value, clone_model

__all__ = ["start", "finish", "main_values", "lookup", "scoped_values", "unknown", "fully_typed"]


def start(model: Model, inplace: bool) -> Model:
    """The model to edit: ``model`` itself, or a copy sharing its tensors."""
    if not isinstance(model, Model):
        raise EditError(f"expected an onnxkit Model, not {type(model).__name__} "
                        "(load a file with onnxkit.load)")
    return model if inplace else clone_model(model)


def finish(model: Model, check: bool) -> Model:
    """Check the edited model (structure and types; weights are mapped, never read)."""
    if check:
        from ..check import check_model
        check_model(model, full=False)
    return model


def main_values(g: Graph) -> dict[str, Value]:
    """Every named value defined in ``g`` (not its subgraphs), by name."""
    out: dict[str, Value] = {}
    for v in g.values():
        if v.name:
            out.setdefault(v.name, v)
    return out


def scoped_values(g: Graph) -> Iterator[tuple[Graph, Value]]:
    """(graph, value) for every value defined in ``g`` and its subgraphs."""
    for sub in g.all_graphs():
        for v in sub.values():
            yield sub, v


def unknown(kind: str, name: str, known: Iterable[str], where: str = "the model") -> EditError:
    """An error for a name that is not there, with the closest names that are."""
    close = difflib.get_close_matches(name, list(known), n=3)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return EditError(f"{where} has no {kind} named {name!r}{hint}")


def lookup(g: Graph, names: Iterable[str], what: str) -> list[Value]:
    """The values of the main graph ``g`` named ``names``; an unknown name (or one
    defined only inside a subgraph) raises :class:`EditError`."""
    values = main_values(g)
    out = []
    for name in names:
        v = values.get(name)
        if v is None:
            inner = _inner_owner(g, name)
            if inner is not None:
                raise EditError(f"{what} {name!r} is defined inside a subgraph of node {inner!r}; "
                                "only values of the main graph can be named here")
            raise unknown(f"value (for {what})", name, values)
        out.append(v)
    return out


def _inner_owner(g: Graph, name: str) -> Node | None:
    for n in g:
        for sub in n.subgraphs():
            for _, v in scoped_values(sub):
                if v.name == name:
                    return n
    return None


def fully_typed(v: Value) -> bool:
    """A tensor type with an element type and a shape (dims may be symbols or unknown)."""
    t = v.type
    if isinstance(t, TensorType):
        return t.elem_type is not None and t.shape is not None
    return t is not None
