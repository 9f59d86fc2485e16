"""Decisions on dynamic sizes that the graph cannot follow: the sizes a model
is valid for, checked in the graph.

The tracer runs the program with symbolic sizes for the dims named dynamic.
A comparison of sizes in the user's code (``if x.size(0) == 1:``, ``if
x.shape[1] > 6:``) becomes an If on the size (:mod:`._sizes`).  What cannot
branch is handled here: a size read as a number (``range(x.shape[0])``,
``int(n * 0.5)``), torch fixing a dynamic dim to the example's size (``unbind``,
iterating over a tensor), and a comparison whose other side the tracer could
not follow (:class:`~._sizes.Unreliable`).  The graph traced for them is right
only for sizes with the same outcome, and such a model must never answer
silently for other sizes, so the exporter:

* records each as a condition on the input dims (only decisions the user's
  code takes itself: torch's own reasoning inside ops, such as broadcasting
  checks or kernel heuristics, does not change what the graph computes);
* computes the conditions in the graph from the inputs' shapes (float64
  arithmetic, exact for sizes below 2**53) and reads every graph input through
  ``Gather(Unsqueeze(x, 0), index=not ok)``: ``x`` where they hold, a run-time
  error (index out of range, in every runtime) where not, in a node named
  ``onnxkit_size_guard_<input>`` so the error says why;
* lists them in the model's ``metadata_props["onnxkit.size_guards"]`` (JSON:
  condition with the user's dim names, and source line), with the sizes that
  cross them and the size comparisons exported as Ifs
  (``"onnxkit.guard_sizes"``, which ``verify`` runs), and warns.
"""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..ir import DataType, TensorType, Value
from ._sizes import example_sizes


@dataclasses.dataclass
class Guard:
    cond: Any             # sympy boolean over the trace's symbols that held at trace time
    text: str             # the condition with the user's dim names
    source: str | None
    trace: Any            # the trace whose symbols cond uses


def collect(traces: list, kind: str = "guards") -> list[Guard]:
    """The size conditions every trace's graph relies on (deduplicated).  Other
    ``kind``s: ``"assumptions"``, the size-1 checks of library code kept as traced;
    ``"branches"``, the size comparisons exported as an If (for verify's sizes)."""
    import sympy

    assumptions = kind != "guards"
    out: list[Guard] = []
    seen: set[str] = set()
    for t in traces:
        conds: list[tuple[Any, str | None]] = []
        if kind == "branches":
            decisions = [SimpleNamespace(expr=e, value=True, source=src)
                         for e, src in zip(t.size_exprs, t.decision_src) if e is not None]
        else:
            decisions = t.assumptions if assumptions else t.size_decisions
        for d in decisions:
            e = d.expr
            if isinstance(d.value, bool):
                c = e if d.value else sympy.Not(e)
            else:
                c = sympy.Eq(e, d.value)
            conds.append((c, d.source))
        for sym, val in ({} if assumptions else getattr(t.shape_env, "replacements", {})).items():
            if str(sym) in t.sym_dims and getattr(val, "is_number", False):
                conds.append((sympy.Eq(sym, val), _specialized_at(t, sym)))
        for c, src in conds:
            if c in (sympy.true, sympy.false) or not getattr(c, "free_symbols", None):
                continue
            if any(str(s) not in t.sym_dims for s in c.free_symbols):
                c = _pinned(t, c)
            text = _text(t, c)
            if text in seen:
                continue
            seen.add(text)
            out.append(Guard(c, text, src, t))
    return out


def _specialized_at(t: Any, sym: Any) -> str:
    for g in getattr(t.shape_env, "guards", ()):
        if sym in getattr(g.expr, "free_symbols", ()):
            loc = getattr(g.sloc, "maybe_user_loc", None) or getattr(g.sloc, "framework_loc", None)
            if loc:
                return f"{loc} (torch fixed the size there: iterating over it, unbind, range, ...)"
    return "torch fixed the size to the example's (iterating over it, unbind, range, ...)"


def _pinned(t: Any, c: Any) -> Any:
    """A condition the graph cannot compute, replaced by the stronger one that
    every dim it reads has the example's size."""
    import sympy

    hints = example_sizes(t.shape_env)
    syms = [s for s in c.free_symbols if str(s) in t.sym_dims]
    return sympy.And(*[sympy.Eq(s, int(hints[s])) for s in syms]) if syms else sympy.true


def _text(t: Any, c: Any) -> str:
    import sympy

    names = {s: sympy.Symbol(t.sym_names.get(str(s), str(s))) for s in c.free_symbols}
    return str(c.xreplace(names))


def crossing_sizes(guards: list[Guard]) -> dict[str, list[int]]:
    """Per dim name, sizes on both sides of every guard's boundary (scanned over
    small sizes with the other dims at the example's), plus 1 and the example's."""
    import sympy

    sizes: dict[str, set[int]] = {}
    for g in guards:
        hints = example_sizes(g.trace.shape_env)
        consts = [abs(int(a)) for a in g.cond.atoms(sympy.Number) if a.is_finite]
        for s in g.cond.free_symbols:
            name = g.trace.sym_names.get(str(s), str(s))
            h = int(hints.get(s, 2))
            found = sizes.setdefault(name, set())
            found.update({1, h})
            top = min(max(2 * h + 2, 2 * max(consts, default=0) + 2, 8), 512)
            prev = None
            for v in range(1, top + 1):
                sub = {x: (v if x == s else int(hints.get(x, 2))) for x in g.cond.free_symbols}
                try:
                    now = bool(g.cond.xreplace({x: sympy.Integer(n) for x, n in sub.items()}))
                except TypeError:
                    break
                if prev is not None and now != prev:
                    found.update({v - 1, v})
                prev = now
    return {k: sorted(v) for k, v in sizes.items()}


def metadata(guards: list[Guard], assumptions: list[Guard] = (), branches: list[Guard] = ()) -> dict[str, str]:
    """``onnxkit.size_guards``: the conditions the model checks at run time;
    ``onnxkit.size_assumptions``: size-1 checks of library code kept as traced
    (see ``_sizes.only_below_two``); ``onnxkit.guard_sizes``: per dim name, the
    sizes that cross either (verify runs them)."""
    out = {}
    if guards:
        out["onnxkit.size_guards"] = json.dumps([{"condition": g.text, "source": g.source} for g in guards])
    if assumptions:
        out["onnxkit.size_assumptions"] = json.dumps([{"condition": g.text, "source": g.source}
                                                      for g in assumptions])
    if guards or assumptions or branches:
        out["onnxkit.guard_sizes"] = json.dumps(crossing_sizes(list(guards) + list(assumptions)
                                                               + list(branches)))
    return out


def warning_text(guards: list[Guard]) -> str:
    items = "; ".join(f"{g.text} (at {g.source})" for g in guards)
    return (f"onnxkit.export: the program decides on dynamic sizes in Python, so the exported model "
            f"is valid only where {items}; it refuses other sizes at run time (a node named "
            "onnxkit_size_guard fails), and metadata_props['onnxkit.size_guards'] lists the "
            "conditions; keep the decision in tensors (torch.where) to export it for every size")


class _Untranslatable(Exception):
    pass


class _Emitter:
    """Sympy expressions over input dims as ONNX nodes (float64 / bool scalars)."""

    def __init__(self, conv: Any, inputs: list[Any], trace: Any) -> None:
        self.conv, self.ctx, self.inputs, self.trace = conv, conv.ctx, inputs, trace

    def op(self, op_type: str, *ins: Any, dt: DataType = DataType.DOUBLE, **attrs: Any) -> Value:
        # the op names come from the sympy expression (Floor, Ceil, ...): typed through ctx.o
        out = getattr(self.ctx.o, op_type)(*ins, **attrs)
        out.type = TensorType(dt, [])
        return out

    def num(self, x: float) -> Value:
        return self.conv.constant(np.array(float(x), np.float64))

    def floor_div(self, a: Value, b: Value) -> Value:
        return self.op("Floor", self.op("Div", a, b))

    def ev(self, e: Any) -> Value:
        import sympy

        if e is sympy.true or e is sympy.false:
            return self.conv.constant(np.array(bool(e)))
        if e.is_Number:
            if not e.is_finite:
                return self.num(float("inf") if e > 0 else float("-inf"))
            return self.num(float(e))
        if e.is_Symbol:
            k, d = self.trace.sym_dims[str(e)]
            dim = self.conv.dim_of(self.inputs[k], d)
            return self.ctx.cast(dim, DataType.DOUBLE)
        name = type(e).__name__
        a = [self.ev(x) for x in e.args]
        if name == "Add":
            return self._fold("Add", a)
        if name == "Mul":
            return self._fold("Mul", a)
        if name in ("Pow", "PowByNatural", "FloatPow"):
            return self.op("Pow", a[0], a[1])
        if name in ("FloorDiv", "FloorToInt") and len(a) == 2:
            return self.floor_div(a[0], a[1])
        if name in ("FloorToInt",):
            return self.op("Floor", a[0])
        if name in ("CeilToInt",):
            return self.op("Ceil", a[0])
        if name == "CeilDiv":
            return self.op("Ceil", self.op("Div", a[0], a[1]))
        if name in ("CleanDiv", "FloatTrueDiv", "IntTrueDiv"):
            return self.op("Div", a[0], a[1])
        if name in ("Mod", "PythonMod"):
            return self.op("Sub", a[0], self.op("Mul", a[1], self.floor_div(a[0], a[1])))
        if name == "ModularIndexing":
            q = self.floor_div(a[0], a[1])
            return self.op("Sub", q, self.op("Mul", a[2], self.floor_div(q, a[2])))
        if name in ("TruncToInt", "TruncToFloat"):
            neg = self.op("Less", a[0], self.num(0.0), dt=DataType.BOOL)
            return self.op("Where", neg, self.op("Ceil", a[0]), self.op("Floor", a[0]))
        if name == "RoundToInt":
            return self.op("Round", a[0])
        if name in ("ToFloat", "Identity"):
            return a[0]
        if name in ("Max", "Min"):
            return self._fold(name, a)
        cmp = {"Equality": "Equal", "Unequality": "Equal", "StrictLessThan": "Less",
               "LessThan": "LessOrEqual", "StrictGreaterThan": "Greater",
               "GreaterThan": "GreaterOrEqual"}.get(name)
        if cmp is not None:
            out = self.op(cmp, a[0], a[1], dt=DataType.BOOL)
            return self.op("Not", out, dt=DataType.BOOL) if name == "Unequality" else out
        if name in ("And", "Or"):
            return self._fold(name, a, DataType.BOOL)
        if name == "Not":
            return self.op("Not", a[0], dt=DataType.BOOL)
        raise _Untranslatable(name)

    def _fold(self, op: str, a: list[Value], dt: DataType = DataType.DOUBLE) -> Value:
        out = a[0]
        for x in a[1:]:
            out = self.op(op, out, x, dt=dt)
        return out


def apply(conv: Any, guards: list[Guard], inputs: list[Any]) -> None:
    """Every graph input read through a check of the guards: ``Gather(Unsqueeze(x,
    0), index=not ok)`` is ``x`` where all hold and fails (index out of range, in
    a node named ``onnxkit_size_guard_<input>``) where one does not.  The check
    sits on the inputs, not the outputs, so that it fails first: code traced for
    other sizes could fail on its own before it (``x[2]`` at size 2) with a
    message that does not say why.  Shape reads of the inputs stay on the raw
    input (the check itself reads them)."""
    if not guards:
        return
    graph = conv.root.graph
    readers = {id(v): [(n, i) for n, i in v.uses() if n.op_type not in ("Shape", "Size")]
               for v in graph.inputs}
    ctx = conv.ctx
    ctx.node = None
    oks = []
    for g in guards:
        em = _Emitter(conv, inputs, g.trace)
        try:
            ok = em.ev(g.cond)
        except _Untranslatable:
            ok = em.ev(_pinned(g.trace, g.cond))
        oks.append(ok)
    ok = oks[0]
    for x in oks[1:]:
        ok = ctx.o.And(ok, x)
        ok.type = TensorType(DataType.BOOL, [])
    index = ctx.o.Cast(ctx.o.Not(ok), to=int(DataType.INT64))
    index.type = TensorType(DataType.INT64, [])
    text = "; ".join(g.text for g in guards)
    for v in list(graph.inputs):
        if not readers[id(v)]:
            continue
        u = ctx.o.Unsqueeze(v, ctx.axes([0]))
        checked = conv.builder.node("Gather", u, index, axis=0, name=f"onnxkit_size_guard_{v.name}")
        checked.type = v.type
        checked.producer().metadata_props["onnxkit.size_guards"] = text
        for n, i in readers[id(v)]:
            n.set_input(i, checked)
    graph.sort()
