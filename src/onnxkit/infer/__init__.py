"""Shape & type inference: fill in the type of every value of a model.

>>> import onnxkit
>>> from onnxkit.infer import infer_shapes
>>> m = onnxkit.parse('''<ir_version: 10, opset_import: ["" : 21]>
... g (float[N, 4] x) => (y) { t = Relu (x)  y = Concat <axis = 0> (t, t) }''')
>>> str(infer_shapes(m).graph.outputs[0].type)
'float[2*N,4]'

How it works.  Nodes are visited in order; each op's shape rule (registered
with ``@shape`` beside its kernel in :mod:`onnxkit.ops`) reads its inputs'
types through an :class:`~onnxkit.ops._shape.InferenceContext` and sets its
outputs'.  Where an op has no rule:

* a model-local function, or an op the spec defines by a function body, is
  inferred through its body (attributes bound, input types and values given);
* otherwise each output gets the element type the schema's type constraints
  imply (the type of an input sharing its type parameter, or the one type a
  constraint allows) and an unknown shape.

Subgraphs (If, Loop, Scan bodies) are inferred when the op's rule asks
(``ctx.infer_subgraph``), seeing outer-scope values; a body no rule looked at
is inferred with its declared input types.

Symbolic dims.  A dim in a file is an int or a text; the text is read as an
expression (``"seq + 1"``, ``"2*batch"``) and rules do arithmetic on it, so
``seq``, ``seq + 1``, ``2*N``, ``N*seq`` flow through the graph.  Graph input
symbols stay as they are.  A dim no rule could tell stays unknown (written with
neither a value nor a name): onnxkit invents no placeholder names.

Data propagation (``data_prop=True``).  Rules see the values of initializers
and Constants, and of any node output the driver computed by running the op's
kernel on known inputs of at most :data:`MAX_FOLD_ELEMENTS` elements; and the
elements of small integer tensors as symbolic dims (``Shape`` -> ``Gather`` ->
``Concat`` -> ``Reshape`` with ``batch``, ``seq`` in them), from rules that set
them.

Declared types (graph outputs, ``value_info``) are merged with the inferred
ones: the more specific of two compatible types wins (a number over a symbol,
a declared symbol over an inferred one).  A contradiction (another element
type, rank or number) keeps the declared type and is reported as an
:class:`~onnxkit.errors.InferenceError` naming the node (its ``node_index``,
``node_name``, ``op_type``), the value (``value_name``) and both types
(``declared``, ``inferred``): raised with ``strict=True``, else collected in
the report's ``problems``.  A rule that fails (an invalid model) is reported
the same way.

The model is changed in place (node outputs get ``Value.type``; the weights are
never read, except small ones for data propagation) and returned.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Iterator

from ..errors import InferenceError
from ..ir import Model
from ._driver import MAX_FOLD_ELEMENTS, Driver
from ._types import fully_shaped, is_typed

__all__ = ["InferenceReport", "MAX_FOLD_ELEMENTS", "infer", "infer_shapes", "summarize", "types_restored"]


@dataclass
class InferenceReport:
    """What one inference run did.

    ``values``: named node outputs of the main graph and its subgraphs;
    ``typed``: those whose kind and element type are known; ``shaped``: those
    fully shaped (every dim a number or a meaningful symbol); ``problems``: the
    conflicts and rule failures found (:class:`InferenceError`); ``no_rule``:
    ``{op: nodes}`` of ops inferred from their schema alone (no rule, no body).
    """

    model: Model
    values: int = 0
    typed: int = 0
    shaped: int = 0
    problems: list[InferenceError] = field(default_factory=list)
    no_rule: dict[str, int] = field(default_factory=dict)
    #: the values not fully shaped: (value name, op type of its producer, its type as text)
    unshaped: list[tuple[str, str, str]] = field(default_factory=list)

    def summary(self) -> str:
        def pct(n: int) -> str:
            return f"{100.0 * n / self.values:.1f}%" if self.values else "-"
        lines = [f"values: {self.values}, typed: {self.typed} ({pct(self.typed)}), "
                 f"fully shaped: {self.shaped} ({pct(self.shaped)})"]
        if self.unshaped:
            shown = self.unshaped[:10]
            lines.append(f"not fully shaped ({len(self.unshaped)}): " + ", ".join(
                f"{name} ({op}): {t}" for name, op, t in shown)
                + (f", ... and {len(self.unshaped) - len(shown)} more" if len(self.unshaped) > len(shown) else ""))
        if self.no_rule:
            lines.append("ops without a shape rule: " + ", ".join(
                f"{op} ({n})" for op, n in sorted(self.no_rule.items())))
        if self.problems:
            lines.append(f"{len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}:")
            lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


def summarize(model: Model) -> tuple[int, int, int]:
    """(values, typed, fully shaped) over the named node outputs of the main
    graph and its subgraphs, as the model's types say now."""
    values = typed = shaped = 0
    for g in model.graph.all_graphs():
        for n in g:
            for v in n.outputs:
                if v.name:
                    values += 1
                    typed += is_typed(v.type)
                    shaped += fully_shaped(v.type)
    return values, typed, shaped


def infer(model: Model, *, strict: bool = False, data_prop: bool = True) -> InferenceReport:
    """Infer the types of ``model`` in place; returns what was found (see the
    module documentation).  ``strict``: raise the first problem as
    :class:`InferenceError` instead of collecting it."""
    drv = Driver(model, strict=strict, data_prop=data_prop)
    drv.run()
    values, typed, shaped = summarize(model)
    unshaped = [(v.name, n.op_type, str(v.type) if v.type is not None else "no type")
                for g in model.graph.all_graphs() for n in g for v in n.outputs
                if v.name and not fully_shaped(v.type)]
    return InferenceReport(model, values, typed, shaped, drv.problems, drv.no_rule, unshaped)


def infer_shapes(model: Model, *, strict: bool = False, data_prop: bool = True,
                 problems: list | None = None) -> Model:
    """Fill in the type of every value of ``model`` (in place) and return it.

    Problems (conflicts with declared types, failing rules) raise
    :class:`InferenceError` with ``strict=True``; otherwise they are appended
    to ``problems`` when a list is given (use :func:`infer` for a report)."""
    report = infer(model, strict=strict, data_prop=data_prop)
    if problems is not None:
        problems.extend(report.problems)
    return model


@contextlib.contextmanager
def types_restored(model: Model) -> Iterator[None]:
    """Within the block, infer freely: afterwards every value of ``model`` has the
    type it had before and each graph its value_info (for callers that use
    inferred types, such as the checker and the version converter, without
    writing them into the model)."""
    saved = []
    for g in model.all_graphs():
        values = [*g.inputs, *g.initializers.values(), *g.outputs, *g.value_info]
        for n in g:
            values.extend(n.outputs)
        saved.append((g, list(g.value_info), [(v, v.type) for v in values]))
    try:
        yield
    finally:
        for g, value_info, types in saved:
            g.value_info = value_info
            for v, t in types:
                v.type = t
