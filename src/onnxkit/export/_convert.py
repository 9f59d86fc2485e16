"""Traces -> one ONNX model: each aten node through its conversion rule, the
decisions between traces as ONNX ``If`` nodes."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
import torch.fx as fx

from ..builder import GraphBuilder
from ..errors import IRError
from ..ir import DataType, Model, TensorType, Value
from . import _branches, _custom_ops, _guards
from ._branches import align
from ._dtypes import tensor_to_numpy, to_onnx
from ._errors import ExportError
from ._registry import Ctx, find_rule
from ._trace import SizeDecision, Trace


class _MergeFailed(Exception):
    pass


class Placeholder:
    """What a placeholder of the traces is: a model input or an initializer."""

    def __init__(self, name: str, *, tensor: torch.Tensor | None = None,
                 dynamic: dict[int, str] | None = None, example: torch.Tensor | None = None) -> None:
        self.name = name
        self.tensor = tensor
        self.dynamic = dynamic or {}
        self.example = example


class Converter:
    """``tree``: a :class:`~._trace.TraceTree` (traces made on demand) or a list of
    traces (the whole tree, already traced)."""

    def __init__(self, tree: Any, placeholders: Sequence[Placeholder],
                 output_names: Sequence[str], opset: int, merge: bool = True) -> None:
        if isinstance(tree, list):
            tree = _FixedTree(tree)
        self.tree = tree
        self.placeholders = list(placeholders)
        self.output_names = list(output_names)
        self.opset = opset
        self.merge = merge
        self.root = GraphBuilder("main_graph")
        self.builder = self.root
        self.ctx = Ctx(self)
        self._cache: dict[tuple, Value] = {}
        self._dim_names: dict[Any, Any] = {}
        self.guards: list = []
        self._merges: list = []   # joins made so far (_branches.Merge)

    @property
    def traces(self) -> list[Trace]:
        return self.tree.traces

    @property
    def sym_names(self) -> dict[str, str]:
        names: dict[str, str] = {}
        for t in self.tree.traces:
            names.update(t.sym_names)
        return names

    # ------------------------------------------------------------ caches scoped by graph
    def _cached(self, key: tuple) -> Value | None:
        b: GraphBuilder | None = self.builder
        while b is not None:
            v = self._cache.get((id(b), *key))
            if v is not None:
                return v
            b = b.parent
        return None

    def _store(self, key: tuple, v: Value) -> Value:
        self._cache[(id(self.builder), *key)] = v
        return v

    def constant(self, value: Any, dtype: Any = None) -> Value:
        if dtype is not None and not isinstance(dtype, DataType):
            dtype = to_onnx(dtype) if isinstance(dtype, torch.dtype) else DataType(dtype)
        if isinstance(value, np.ndarray) and dtype is None:
            arr = value
        else:
            np_dtype = None
            if dtype is not None:
                np_dtype = _np_dtype(dtype)
            elif isinstance(value, bool) or (isinstance(value, (list, tuple)) and value
                                             and all(isinstance(x, bool) for x in value)):
                np_dtype = np.bool_
            elif isinstance(value, float) or (isinstance(value, (list, tuple))
                                              and any(isinstance(x, float) for x in value)):
                np_dtype = np.float32
            elif isinstance(value, int) or isinstance(value, (list, tuple)):
                np_dtype = np.int64
            arr = np.asarray(value, dtype=np_dtype)
        small = arr.size <= 16
        key = ("const", arr.dtype.str, arr.shape, arr.tobytes()) if small else None
        if key is not None:
            hit = self._cached(key)
            if hit is not None:
                return hit
        v = self.builder.constant(arr)
        dt = DataType.from_numpy(arr.dtype) if dtype is None else dtype
        v.type = TensorType(dt, list(arr.shape))
        return self._store(key, v) if key is not None else v

    def shape_of(self, v: Value) -> Value:
        key = ("shape", id(v))
        hit = self._cached(key)
        if hit is not None:
            return hit
        s = self.ctx.o.Shape(v)
        s.type = TensorType(DataType.INT64, [len(v.shape) if v.shape is not None else None])
        return self._store(key, s)

    def dim_of(self, v: Value, i: int) -> Value:
        key = ("dim", id(v), i)
        hit = self._cached(key)
        if hit is not None:
            return hit
        d = self.ctx.o.Shape(v, start=i, end=i + 1)
        d = self.ctx.o.Squeeze(d, self.ctx.axes([0]))
        d.type = TensorType(DataType.INT64, [])
        return self._store(key, d)

    def unsqueezed(self, v: Value) -> Value:
        key = ("unsq", id(v))
        hit = self._cached(key)
        if hit is not None:
            return hit
        u = self.ctx.o.Unsqueeze(v, self.ctx.axes([0]))
        u.type = TensorType(DataType.INT64, [1])
        return self._store(key, u)

    # ------------------------------------------------------------ types from fake values
    def dim_name(self, d: Any) -> int | str | None:
        if isinstance(d, int):
            return d
        expr = d.node.expr
        hit = self._dim_names.get(expr)
        if hit is None:
            try:
                if expr.is_number:
                    hit = int(expr)
                else:
                    names = {s: self.sym_names.get(str(s), str(s)) for s in expr.free_symbols}
                    if len(names) == 1 and expr in names:
                        hit = names[expr]
                    else:
                        import sympy

                        hit = str(expr.xreplace({s: sympy.Symbol(n) for s, n in names.items()}))
            except Exception:
                hit = None
            self._dim_names[expr] = hit
        return hit

    def type_of(self, val: Any) -> TensorType | None:
        if isinstance(val, torch.Tensor):
            return TensorType(to_onnx(val.dtype), [self.dim_name(d) for d in val.shape])
        if isinstance(val, (torch.SymInt, int)) and not isinstance(val, bool):
            return TensorType(DataType.INT64, [])
        if isinstance(val, (torch.SymBool, bool)):
            return TensorType(DataType.BOOL, [])
        if isinstance(val, (torch.SymFloat, float)):
            return TensorType(DataType.FLOAT, [])
        return None

    # ------------------------------------------------------------ errors
    def node_error(self, n: fx.Node | None, message: str) -> ExportError:
        src = n.meta.get("onnxkit_src") if n is not None else None
        return ExportError(message, source=src)

    # ------------------------------------------------------------ the whole model
    def run(self) -> Model:
        try:
            return self._run()
        except (_MergeFailed, IRError):
            if not self.merge or len(self.traces) == 1:
                raise
        # the sides of some branch could not be joined before the end: write each
        # side through to the outputs
        self.__init__(self.tree, self.placeholders, self.output_names, self.opset, merge=False)
        return self._run()

    def _run(self) -> Model:
        rep = self.tree.first()
        vals: list[Any] = [None] * len(rep.nodes)
        k = 0
        for i, n in enumerate(rep.nodes):
            if n.op != "placeholder":
                break
            vals[i] = self._placeholder(self.placeholders[k], n)
            k += 1
        outs = self.emit(rep, k, len(rep.nodes), vals)
        # decisions on dynamic sizes: checked at run time, outputs depend on the check
        self.guards = _guards.collect(self.tree.traces)
        _guards.apply(self, self.guards, vals[:k])
        out_node = rep.nodes[-1]
        metas = [a.meta.get("val") if isinstance(a, fx.Node) else a for a in out_node.args[0]]
        for i, (v, meta) in enumerate(zip(outs, metas)):
            if not isinstance(v, Value):
                v = self.constant(v)
            t = self.type_of(meta)
            name = self.output_names[i] if i < len(self.output_names) else f"output_{i}"
            self.builder.output(v, name, dtype=t.elem_type if t else None, shape=t.shape if t else None)
        _prune(self.root.graph)
        model = self.root.model(opset=self.opset, ir_version=10)
        traces = self.tree.traces
        model.metadata_props.update(_guards.metadata(self.guards, _guards.collect(traces, "assumptions"),
                                                     _guards.collect(traces, "branches")))
        return model

    def _placeholder(self, p: Placeholder, n: fx.Node) -> Value:
        if p.tensor is not None:
            v = self.root.initializer(tensor_to_numpy(p.tensor), p.name)
            return v
        val = n.meta["val"]
        shape = [p.dynamic.get(i, d) if isinstance(d, int) and i not in p.dynamic else
                 p.dynamic.get(i) or self.dim_name(d) for i, d in enumerate(val.shape)]
        return self.root.input(p.name, to_onnx(val.dtype), shape)

    # ------------------------------------------------------------ regions and branches
    def emit(self, rep: Trace, start: int, end: int, vals: list[Any]) -> list[Any] | None:
        """Write the nodes of trace ``rep`` in [start, end) into the current builder;
        at a decision, an If between ``rep`` and a trace that took the other side
        (asked of the tree: traced now if needed).  Returns the output values when
        ``end`` is the end of the trace."""
        n_all = len(rep.nodes)
        i = start
        while True:
            m = next((p for p in rep.markers if i <= p < end), None)
            if m is None:
                return self.convert_range(rep, i, end, vals)
            self.convert_range(rep, i, m, vals)
            d = rep.markers.index(m)
            cond = self._value(rep, rep.nodes[m].args[0], vals)
            flip = rep.path[:d] + [not rep.path[d]]
            if self.tree.find(flip) is None:  # every run that side raised: the model assumes this one
                if rep.size_exprs[d] is not None:
                    # a decision on sizes whose other side could not be traced: the
                    # model refuses sizes that would take it (a run-time check)
                    rep.size_decisions.append(SizeDecision(rep.size_exprs[d], rep.path[d],
                                                           rep.decision_src[d]))
                i = m + 1
                continue
            oth = max(self.tree.with_prefix(flip), key=lambda t: _tail_agreement(t.path, rep.path))
            src = rep.decision_src[d]
            tail = n_all - end
            got = align(rep, oth, m, max(tail, 1)) if self.merge else None
            if got is None or got[0] == 1:
                if end != n_all:
                    raise _MergeFailed
                return self._branch_to_end(rep, oth, d, m, cond, vals, src)
            K, joins = got
            s_rep, s_oth = n_all - K, len(oth.nodes) - K
            self._merges.append(_branches.merge_record(rep, oth, m, K, joins))
            vals_o: list[Any] = vals[:m + 1] + [None] * (len(oth.nodes) - m - 1)
            sub_r = self._subgraph(rep, m + 1, s_rep, vals, [pa for pa, _ in joins], "r")
            sub_o = self._subgraph(oth, m + 1, s_oth, vals_o, [pb for _, pb in joins], "o")
            if joins:
                then_b, else_b = (sub_r, sub_o) if rep.path[d] else (sub_o, sub_r)
                outs = self._if(cond, then_b, else_b,
                                [(rep.nodes[pa], oth.nodes[pb]) for pa, pb in joins], src)
                for (pa, _), o in zip(joins, outs):
                    vals[pa] = o
            # With no joins, nothing after the branch reads what either side did (a
            # side that only warns, or sets values nobody reads): no If.  The sides
            # were still written (and dropped) for the decisions nested in them,
            # whose other sides may do what these did not (and then fail to join).
            i = s_rep

    def _branch_to_end(self, rep, oth, d, m, cond, vals, src) -> list[Any]:
        vals_o = vals[:m + 1] + [None] * (len(oth.nodes) - m - 1)
        sub_r = self._subgraph(rep, m + 1, len(rep.nodes), vals, None, "r")
        sub_o = self._subgraph(oth, m + 1, len(oth.nodes), vals_o, None, "o")
        outs_r, outs_o = rep.nodes[-1].args[0], oth.nodes[-1].args[0]
        if len(outs_r) != len(outs_o):
            raise ExportError(f"the two sides of the branch at {src} return different numbers of "
                              f"values ({len(outs_r)} and {len(outs_o)}); make both return the same "
                              "structure", source=src)
        then_b, else_b = (sub_r, sub_o) if rep.path[d] else (sub_o, sub_r)
        pairs = list(zip(outs_r, outs_o))
        return self._if(cond, then_b, else_b, pairs, src)

    def _subgraph(self, rep: Trace, start: int, end: int, vals: list[Any],
                  outputs: list[int] | None, tag: str) -> GraphBuilder:
        self._check_after_joins(rep, start)
        parent = self.builder
        sub = parent.subgraph("then" if tag == "r" else "else")
        self.builder = sub
        try:
            got = self.emit(rep, start, end, vals)
            outs = got if outputs is None else [vals[p] for p in outputs]
            metas = ([a.meta.get("val") if isinstance(a, fx.Node) else a for a in rep.nodes[-1].args[0]]
                     if outputs is None else [rep.nodes[p].meta.get("val") for p in outputs])
            for v, meta in zip(outs, metas):
                if v is None:
                    raise _MergeFailed
                if not isinstance(v, Value):
                    v = self.constant(v)
                t = self.type_of(meta)
                sub.output(v, dtype=t.elem_type if t else None, shape=t.shape if t else None)
        finally:
            self.builder = parent
        return sub

    def _if(self, cond: Value, then_b: GraphBuilder, else_b: GraphBuilder, pairs: list, src: str | None) -> list[Value]:
        for a, b in pairs:
            va = a.meta.get("val") if isinstance(a, fx.Node) else a
            vb = b.meta.get("val") if isinstance(b, fx.Node) else b
            ta, tb = self.type_of(va), self.type_of(vb)
            if ta is not None and tb is not None and (ta.elem_type != tb.elem_type
                                                      or len(ta.shape or ()) != len(tb.shape or ())):
                raise ExportError(
                    f"the two sides of the branch at {src} give values of different types "
                    f"({ta} and {tb}); ONNX If needs the same element type and rank on both sides",
                    source=src)
        if cond.shape is None or len(cond.shape) != 0:
            cond = self.ctx.o.Reshape(cond, self.ctx.const(np.array([], np.int64)))
        outs = self.builder.node("If", cond, then_branch=then_b, else_branch=else_b, outputs=len(pairs))
        outs = [outs] if isinstance(outs, Value) else list(outs)
        outs[0].producer().metadata_props["source"] = src or ""
        for o, (a, b) in zip(outs, pairs):
            va = a.meta.get("val") if isinstance(a, fx.Node) else a
            vb = b.meta.get("val") if isinstance(b, fx.Node) else b
            ta, tb = self.type_of(va), self.type_of(vb)
            if ta is not None:
                shape = [x if tb is not None and x == y else None
                         for x, y in zip(ta.shape, tb.shape)] if tb is not None else ta.shape
                o.type = TensorType(ta.elem_type, shape)
        return outs

    # ------------------------------------------------------------ nodes
    def _value(self, t: Trace, a: fx.Node, vals: list[Any]) -> Any:
        v = vals[t.pos[a]]
        if v is None and a.op != "output":
            raise _MergeFailed
        return v

    def _check_after_joins(self, t: Trace, start: int) -> None:
        """Trace ``t`` is about to be written from ``start`` on (the other side of a
        decision, and the rest of its run through its own joins) after earlier
        joins: see _branches (later decisions after a join)."""
        end = len(t.nodes)
        active = [M for M in self._merges if _branches.follows(M, t, start)]
        for M in active:
            if _branches.reads_before_join(M, t, start, end):
                u = self.tree.find(_branches.oth_path(M, t))
                if u is not None and not _branches.same_continuation(M, t, u, start, end):
                    raise _MergeFailed  # the code after the join depends on the side taken
        if active and start - 1 in t.markers:
            # the same later side with every earlier join's other side taken: one more
            # trace per decision, which shows Python state (a counter, a flag) set in
            # an earlier branch and used on this side
            p = _branches.all_other_sides(active, t)
            u = self.tree.find(p)
            if u is not None:
                e = t.markers.index(start - 1) + len(p) - len(t.path)
                if not (0 <= e < len(u.markers)
                        and _branches.same_code_after(t, start, u, u.markers[e] + 1)):
                    raise _MergeFailed

    def convert_range(self, t: Trace, start: int, end: int, vals: list[Any]) -> list[Any] | None:
        nodes = t.nodes
        for i in range(start, end):
            n = nodes[i]
            if n.op == "output":
                return [self._value(t, a, vals) if isinstance(a, fx.Node) else a for a in n.args[0]]
            vals[i] = self.convert_node(t, n, vals)  # in-place ops: readers were redirected (_mutation)
        return None

    def convert_node(self, t: Trace, n: fx.Node, vals: list[Any]) -> Any:
        if n.op == "get_attr":
            tensor = getattr(t.gm, n.target)
            arr = tensor_to_numpy(tensor)
            if arr.size > 64 and self.builder is self.root:
                v = self.root.initializer(arr)
            else:
                v = self.constant(arr if arr.dtype != np.float64 or tensor.dtype == torch.float64 else arr)
            v.type = TensorType(to_onnx(tensor.dtype), list(arr.shape))
            return v
        if n.op != "call_function":
            raise self.node_error(n, f"internal: unexpected traced node kind {n.op!r}")
        target = n.target
        if target is _custom_ops.branch:
            return None
        rule = find_rule(target)
        if rule is None:
            raise _no_rule(n)
        args = fx.node.map_arg(n.args, lambda a: self._value(t, a, vals))
        kwargs = fx.node.map_arg(n.kwargs, lambda a: self._value(t, a, vals))
        self.ctx.node = n
        try:
            out = rule(self.ctx, *args, **kwargs)
        except ExportError as e:
            if e.source is None and n.meta.get("onnxkit_src"):
                raise ExportError(str(e), source=n.meta["onnxkit_src"]) from None
            raise
        val = n.meta.get("val")
        if isinstance(out, Value):
            ty = self.type_of(val)
            if ty is not None:
                out.type = ty
        elif isinstance(out, (list, tuple)) and isinstance(val, (list, tuple)):
            for o, v in zip(out, val):
                if isinstance(o, Value):
                    ty = self.type_of(v)
                    if ty is not None:
                        o.type = ty
        return out


class _FixedTree:
    """A :class:`~._trace.TraceTree`'s interface over traces already made."""

    def __init__(self, traces: list[Trace]) -> None:
        self.traces = traces
        self.failures: list = []

    def find(self, prefix: Sequence[bool] = ()) -> Trace | None:
        got = self.with_prefix(prefix)
        return got[0] if got else None

    def with_prefix(self, prefix: Sequence[bool]) -> list[Trace]:
        prefix = list(prefix)
        return [t for t in self.traces if t.path[:len(prefix)] == prefix]

    def first(self) -> Trace:
        return self.traces[0]


def _tail_agreement(a: list[bool], b: list[bool]) -> int:
    k = 0
    for x, y in zip(reversed(a), reversed(b)):
        if x != y:
            break
        k += 1
    return k


def _np_dtype(dt: DataType) -> Any:
    return DataType(dt).numpy_dtype


def _target_name(target: Any) -> str:
    if isinstance(target, torch._ops.OpOverload):
        return f"{target.namespace}::{target._opname}.{target._overloadname}"
    return getattr(target, "__qualname__", None) or str(target)


def _no_rule(n: fx.Node) -> ExportError:
    name = _target_name(n.target)
    src = n.meta.get("onnxkit_src")
    ref = (f"torch.ops.{n.target.namespace}.{n.target._opname}.{n.target._overloadname}"
           if isinstance(n.target, torch._ops.OpOverload) else name)
    return ExportError(
        f"no conversion rule for {name}"
        + (f", called at {src}" if src else "")
        + f"; add one: `@onnxkit.export.conversion_rule({ref})` on a function "
        "`def rule(ctx, *args, **kwargs)` that adds ONNX nodes with ctx.o.<Op>(...) and returns "
        "the output value(s)", source=src)


def _prune(graph: Any) -> None:
    """Drop nodes whose outputs nothing reads (subgraphs included) and unused initializers."""
    outputs = {id(v) for v in graph.outputs}
    changed = True
    while changed:
        changed = False
        for g in graph.all_graphs():
            keep = {id(v) for v in g.outputs}
            for node in reversed(list(g)):
                if any(v.uses() or id(v) in keep or id(v) in outputs for v in node.outputs):
                    continue
                g.remove(node, safe=False)
                changed = True
    graph.initializers = {k: v for k, v in graph.initializers.items() if v.uses() or id(v) in outputs}
