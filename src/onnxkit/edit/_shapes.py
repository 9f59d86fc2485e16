"""Fix or free the dims of graph inputs, and expose intermediate values as outputs.

``set_shapes`` forgets every inferred type (node outputs, value_info, the
shapes of the graph outputs) and infers again from the new input shapes:
a type written for ``batch`` must not survive as a claim about ``1``, and a
``128`` fixed earlier must not survive freeing it again.  What inference
cannot tell again is dropped, not kept stale.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..errors import EditError
from ..ir import Model, Shape, TensorType
from ._common import finish, fully_typed, lookup, start

__all__ = ["set_shapes", "add_outputs"]


def set_shapes(model: Model, shapes: Mapping[str, Sequence[Any]], *, inplace: bool = False,
               check: bool = True) -> Model:
    """``model`` with the graph inputs in ``shapes`` given new dims, and every
    other type inferred again.

    A dim is an int (fixed), a str (a symbol: ``"batch"``) or None (unknown).
    The rank must stay what it was.  ``set_shapes(m, {"input_ids": [1, 128]})``
    then :func:`onnxkit.optimize` folds what the fixed shapes make constant
    (``Shape`` -> ``Gather`` -> ``Concat`` chains); ``{"input_ids": ["batch",
    "seq"]}`` makes the input dynamic again.  value_info entries inference
    cannot confirm are dropped.  Raises :class:`~onnxkit.errors.EditError` for
    an unknown input, another rank, or shapes the model contradicts.
    """
    m = start(model, inplace)
    g = m.graph
    targets = lookup(g, list(shapes), "input")
    for v, (name, dims) in zip(targets, shapes.items()):
        if not v.is_graph_input(g) or v.is_initializer():
            raise EditError(f"{name!r} is not an input of the model (its inputs are "
                            f"{[u.name for u in g.inputs if not u.is_initializer()]}); "
                            "set_shapes changes graph inputs only")
        if isinstance(dims, (str, int)) or dims is None:
            raise EditError(f"the shape of {name!r} is a list of dims, not {dims!r}")
        dims = [_dim(name, d) for d in dims]
        if not isinstance(v.type, TensorType):
            raise EditError(f"input {name!r} is not a tensor ({v.type}); only tensor shapes can be set")
        old = v.type.shape
        if old is not None and len(old) != len(dims):
            raise EditError(f"input {name!r} has rank {len(old)} ({old}); {len(dims)} dims were given")
        v.type = TensorType(v.type.elem_type, dims)
    reinfer(m)
    return finish(m, check)


def _dim(name: str, d: Any) -> int | str | None:
    if d is None or isinstance(d, str) and d.strip() in ("", "?"):
        return None
    if isinstance(d, str):
        s = d.strip()
        if s.lstrip("-").isdigit():
            d = int(s)
        elif not (s[0].isalpha() or s[0] == "_"):
            raise EditError(f"dim {d!r} of {name!r} is neither a number nor a symbol name")
        else:
            return s
    if isinstance(d, bool) or not isinstance(d, int):
        raise EditError(f"dim {d!r} of {name!r} is neither an int, a symbol (str) nor None")
    if d < 0:
        raise EditError(f"dim {d} of {name!r} is negative; use a symbol or None for a free dim")
    return d


def reinfer(m: Model) -> None:
    """Forget the inferred types of ``m``'s main graph and subgraphs and infer them again."""
    from ..infer import infer

    g = m.graph
    old_out = {}
    for v in g.outputs:
        if v.producer() is not None and isinstance(v.type, TensorType):
            old_out[id(v)] = v.type
    for sub in g.all_graphs():
        sub.value_info = [v for v in sub.value_info if v.producer() is not None]
        for n in sub:
            for v in n.outputs:
                if sub is g and id(v) in old_out:
                    v.type = TensorType(old_out[id(v)].elem_type, None)
                else:
                    v.type = None
    report = infer(m)
    if report.problems:
        p = report.problems[0]
        more = f" (and {len(report.problems) - 1} more)" if len(report.problems) > 1 else ""
        raise EditError(f"the model contradicts the new shapes: {p}{more}")
    for sub in g.all_graphs():
        sub.value_info = [v for v in sub.value_info if v.type is not None]
    for v in g.outputs:
        t = old_out.get(id(v))
        if t is not None and isinstance(v.type, TensorType) and v.type.shape is None \
                and t.shape is not None:
            v.type = TensorType(v.type.elem_type, Shape([None] * len(t.shape)))


def add_outputs(model: Model, names: Sequence[str], *, inplace: bool = False,
                check: bool = True) -> Model:
    """``model`` with the values ``names`` (of the main graph) added to its
    outputs, typed from the model's value_info or else by shape inference.

    Names already among the outputs are left where they are.  Raises
    :class:`~onnxkit.errors.EditError` for an unknown name, or one whose type
    inference cannot tell.
    """
    if isinstance(names, str):
        names = [names]
    m = start(model, inplace)
    g = m.graph
    values = lookup(g, names, "output")
    new = []
    for v in values:
        if not v.is_graph_output(g) and not any(v is u for u in new):
            new.append(v)
    untyped = [v for v in new if not fully_typed(v)]
    if untyped:
        from ..infer import infer_shapes, types_restored

        with types_restored(m):
            infer_shapes(m)
            found = {id(v): v.type for v in untyped}
        for v in untyped:
            v.type = found[id(v)]
            if not fully_typed(v):
                raise EditError(f"shape inference cannot tell the type of {v.name!r} "
                                f"(got {v.type}); it cannot be made an output")
    g.outputs.extend(new)
    return finish(m, check)

