"""Record what a PyTorch program executes, as aten-level graphs, exploring data-dependent branches.

One trace is ``make_fx`` (symbolic sizes for the dims named dynamic, static
for the rest) of the program under :class:`_TraceMode` (in-place writes made
out-of-place afterwards by :mod:`._mutation`), a
``TorchFunctionMode`` that

* answers ``Tensor.__bool__`` (``if t.sum() > 0:``) from a list of decisions
  instead of reading data, and records an ``onnxkit::branch(cond)`` node there,
  so the condition stays computed in the graph;
* keeps ``nn.LSTM`` / ``nn.GRU`` whole (``onnxkit::lstm`` / ``onnxkit::gru``), and
  ``F.scaled_dot_product_attention`` / ``F.linear`` (``onnxkit::sdpa`` /
  ``onnxkit::linear``: their decompositions were half the trace time of a transformer);
* tags every recorded node with the user's source line (``meta["onnxkit_src"]``);
* refuses ``int(t)`` / ``float(t)`` on traced values, naming the line;
* sees the Python decisions the user's own code takes on values that are not
  tensors (:mod:`._sizes`): a comparison of a ``.item()`` value
  (``if x.max().item() > 0.5:``) is a data-dependent decision like a tensor's;
  a comparison of symbolic sizes (``if x.size(0) == 1:``) is a decision too,
  its condition computed from the shapes (an If on the size); a size read as a
  number (``range(x.shape[0])``, ``int(n * 0.5)``) is recorded as a
  :class:`SizeDecision`, which the converter turns into a run-time check
  (:mod:`._guards`).

:class:`TraceTree` runs the program on demand: once with every decision taken
True, then once more for each decision the converter meets whose other side it
has not seen (the flipped decision, True after it), and once more for each
decision after a join to check that its other side does not depend on the
earlier sides (``_branches``).  Sequential independent branches so cost about
2n traces, not 2^n; nested or dependent ones cost what they must.
:func:`trace_program` walks the whole tree (kept for tools and tests).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import warnings
from typing import Any, Callable, Sequence

import torch
from torch.overrides import TorchFunctionMode

from . import _custom_ops
from ._errors import ExportError
from ._mutation import functionalize
from ._sizes import (SizeDecision, Unreliable, can_break, eq, in_library, only_below_two,
                     sym_hooks)

#: decisions along one run of the program, and runs in all, before giving up.
#: Sequential branches need one trace each (plus one), nested ones double per
#: level; the trace bound grows with ``max_branches`` (:func:`trace_bound`).
MAX_DECISIONS = 16
MAX_TRACES = 64


def trace_bound(max_decisions: int) -> int:
    return max(MAX_TRACES, 4 * max_decisions)

_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
_HERE = os.path.dirname(os.path.abspath(__file__)) + os.sep
_SKIP = (_TORCH_DIR, _HERE, os.path.dirname(os.__file__) + os.sep + "contextlib.py")


def user_location(depth: int = 2) -> str | None:
    """``file:line in function`` of the innermost frame outside torch and this package."""
    f = sys._getframe(depth)
    while f is not None:
        fn = f.f_code.co_filename
        if not fn.startswith(_SKIP) and not fn.startswith("<"):
            return f"{fn}:{f.f_lineno} in {f.f_code.co_name}"
        f = f.f_back
    return None


@dataclasses.dataclass
class Trace:
    gm: torch.fx.GraphModule
    nodes: list            # every fx node, in order (placeholders first, output last)
    pos: dict              # node -> index in nodes
    path: list[bool]       # the decisions taken
    decision_src: list     # source line of each decision
    markers: list[int]     # index (in nodes) of each decision's onnxkit::branch node
    sym_names: dict[str, str]  # symbol ("s0") -> user's dim name ("batch")
    shape_env: Any
    sym_dims: dict = dataclasses.field(default_factory=dict)   # symbol -> (placeholder, dim)
    size_exprs: list = dataclasses.field(default_factory=list)  # per decision: size condition or None
    size_decisions: list = dataclasses.field(default_factory=list)  # SizeDecision
    assumptions: list = dataclasses.field(default_factory=list)     # SizeDecision kept as traced


@dataclasses.dataclass
class Failure:
    path: list[bool]
    decision_src: list
    error: BaseException


class _PathFailed(Exception):
    """The program raised after taking some data-dependent decisions."""

    def __init__(self, path: list[bool], srcs: list, error: BaseException) -> None:
        super().__init__(str(error))
        self.path, self.srcs, self.error = path, srcs, error


class _TraceMode(TorchFunctionMode):
    def __init__(self, answers: Sequence[bool], max_decisions: int) -> None:
        super().__init__()
        self.answers = list(answers)
        self.max_decisions = max_decisions
        self.path: list[bool] = []
        self.srcs: list[str | None] = []
        self.loc: str | None = None
        self._graph = None
        self.size_decisions: list[SizeDecision] = []
        self.size_exprs: list[Any] = []   # per decision: the size condition, None for data
        self.memo: dict[str, bool] = {}   # size conditions decided in this run
        self.lies: list[tuple] = []       # size decisions taken against the example's sizes
        self.assumptions: list[SizeDecision] = []  # size-1 checks in libraries, kept as traced

    def _tracer_graph(self):
        if self._graph is None:
            from torch.fx.experimental.proxy_tensor import get_proxy_mode

            mode = get_proxy_mode()
            if mode is not None:
                self._graph = mode.tracer.graph
        return self._graph

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        loc = user_location()
        if loc is not None:
            self.loc = loc
        if func is torch.Tensor.__bool__ or func is torch.is_nonzero:
            return self._decide(args[0], loc)
        if func in _SCALAR_READS:
            raise ExportError(
                f"{_SCALAR_READS[func]}(tensor) reads a traced tensor's value into a Python number, "
                "which the exported graph cannot keep; use t.item() where the number is a size "
                "(it stays symbolic), or keep computing with tensors", source=loc)
        if func is _SDPA or func is _LINEAR:
            kept = (_custom_ops.sdpa_args if func is _SDPA else _custom_ops.linear_args)(*args, **kwargs)
            if kept is not None:
                func, args, kwargs = _custom_ops.sdpa if func is _SDPA else _custom_ops.linear, kept, {}
        elif func is torch._C._VariableFunctions.lstm and len(args) == 9 and isinstance(args[1], (list, tuple)):
            func, args = _custom_ops.lstm, (args[0], list(args[1]), list(args[2]), *args[3:5], *args[7:9])
        elif func is torch._C._VariableFunctions.gru and len(args) == 9 and isinstance(args[1], torch.Tensor) \
                and isinstance(args[2], (list, tuple)):
            func, args = _custom_ops.gru, (args[0], args[1], list(args[2]), *args[3:5], *args[7:9])
        graph = self._tracer_graph()
        if graph is None:
            return func(*args, **kwargs)
        root = graph._root
        last = root._prev
        out = func(*args, **kwargs)
        n = last._next
        while n is not root:
            if "onnxkit_src" not in n.meta:
                n.meta["onnxkit_src"] = loc
            n = n._next
        return out

    def sym_decision(self, node: Any, loc: str, kind: str, original: Callable) -> Any:
        """``bool()`` / ``int()`` / ``float()`` of a symbolic value, straight from the user's code.

        * on a value read from data (``.item()``): a comparison is a data-dependent
          decision like a tensor's (an ONNX If);
        * a comparison of sizes (``if x.size(0) == 1:``): also a decision, taken
          first the way the example's sizes take it, its condition computed from
          the shapes in the graph, so the model follows the real sizes.  The same
          condition met again in the same run is answered the same way without
          a new decision (a check repeated in every layer costs one);
        * a size read as a number (``range(n)``, ``int(n * 0.5)``) cannot branch:
          recorded as a :class:`SizeDecision`, checked at run time."""
        from torch.fx.experimental.symbolic_shapes import free_unbacked_symbols

        expr = node.expr
        if free_unbacked_symbols(expr):
            if kind != "bool":
                return original(node)  # refused as before (a size read from data)
            # a comparison of .item() values: the same decision as on the tensor
            cond = torch.scalar_tensor(torch.SymBool(node), dtype=torch.bool)
            return self._decide(cond, loc)
        if not getattr(expr, "free_symbols", None):
            return original(node)
        if kind != "bool":
            out = original(node)
            self.size_decisions.append(SizeDecision(expr, out, loc))
            return out
        import sympy

        key = str(expr)
        if key in self.memo:
            return self.memo[key]
        hint = bool(node.hint) if node.has_hint() else bool(original(node))
        if in_library(loc) and only_below_two(expr, node.shape_env, hint):
            # Library code (transformers' ``q_length > 1``, ``batch != 1``) deciding
            # what to do at size 1: torch's tracer assumes dynamic dims are >= 2
            # (as torch.export does), and tracing the size-1 side of such checks
            # would double the export of every transformer and duplicate its
            # layers inside an If.  Kept as an assumption: listed in the model's
            # metadata, and verify=True runs size 1 to check it.
            self.assumptions.append(SizeDecision(expr, hint, loc))
            self.memo[key] = hint
            return hint
        cond = torch.scalar_tensor(torch.SymBool(node), dtype=torch.bool)
        answer = self._decide(cond, loc, default=hint, size_expr=expr)
        self.memo[key] = answer
        self.memo[str(sympy.Not(expr))] = not answer
        if answer != hint:
            # traced against the example's sizes: only right while torch decides
            # nothing more from these dims that differs on this side (checked after the run)
            assumed = expr if answer else sympy.Not(expr)
            self.lies.append((assumed, len(node.shape_env.guards), len(self.size_decisions), loc,
                              node.shape_env))
        return answer

    def check_lies(self) -> None:
        for assumed, n_guards, n_dec, loc, env in self.lies:
            later = [g.expr for g in env.guards[n_guards:]]
            later += [d.expr if isinstance(d.value, bool) else eq(d.expr, d.value)
                      for d in self.size_decisions[n_dec:]]
            for e in later:
                if can_break(assumed, e, env):
                    raise Unreliable(loc)

    def _decide(self, cond: torch.Tensor, loc: str | None, default: bool = True,
                size_expr: Any = None) -> bool:
        k = len(self.path)
        if k >= self.max_decisions:
            raise _too_many(self.srcs + [loc], self.max_decisions)
        if cond.numel() != 1:
            raise ExportError(f"bool() of a tensor with {cond.numel()} elements is ambiguous "
                              "(PyTorch refuses it too); use .any() or .all()", source=loc)
        graph = self._tracer_graph()
        root = graph._root if graph is not None else None
        last = root._prev if root is not None else None
        _custom_ops.branch(cond.reshape(()).to(torch.bool))
        if root is not None:
            n = last._next
            while n is not root:
                n.meta.setdefault("onnxkit_src", loc)
                n = n._next
        answer = self.answers[k] if k < len(self.answers) else default
        self.path.append(answer)
        self.srcs.append(loc)
        self.size_exprs.append(size_expr)
        return answer


_SDPA = torch._C._nn.scaled_dot_product_attention
_LINEAR = torch._C._nn.linear
_SCALAR_READS = {torch.Tensor.__int__: "int", torch.Tensor.__index__: "int",
                 torch.Tensor.__float__: "float", torch.Tensor.tolist: "tolist"}


def _too_many(srcs: list, bound: int) -> ExportError:
    """More than ``bound`` decisions in one run.  A ``while`` whose condition is a
    tensor keeps deciding True at one line: its trip count depends on data.
    Anything else is a program with many branches, and the bound can be raised."""
    counts: dict[Any, int] = {}
    for s in srcs:
        counts[s] = counts.get(s, 0) + 1
    top, n = max(counts.items(), key=lambda kv: kv[1])
    if n > 1 and n * 2 > len(srcs) and _is_while(top):
        return ExportError(
            f"the loop at {top} decides whether to go on from a tensor's value (more than {bound} "
            "data-dependent decisions in one run): its trip count depends on data, which a traced "
            "graph cannot hold; give the loop a fixed trip count (a Python int, e.g. from a shape), "
            "or replace the loop by tensor operations", source=top)
    lines = ", ".join(dict.fromkeys(str(s) for s in srcs))
    return ExportError(
        f"more than {bound} data-dependent branch decisions in one run of the program (at {lines}); "
        "onnxkit explores both outcomes of each, so their number is bounded: raise the bound with "
        "export(..., max_branches=N), or compute the alternatives with torch.where instead of `if`",
        source=top)


def _too_many_traces(traces: list, bound: int) -> ExportError:
    srcs = [s for t in traces for s in t.decision_src]
    lines = ", ".join(dict.fromkeys(str(s) for s in srcs)) or "?"
    return ExportError(
        f"the data-dependent branches at {lines} need more than {bound} traces of the program: "
        "onnxkit traces each combination of outcomes that later code depends on (branches "
        "nested in branches, or code after a branch that differs with the side taken); raise "
        "the bound with export(..., max_branches=N) (it allows 4*N traces), or compute the "
        "alternatives with torch.where instead of `if`", source=srcs[0] if srcs else None)


def _is_while(src: Any) -> bool:
    """Whether ``file:line in fn`` is a ``while`` statement."""
    import linecache

    try:
        path, rest = str(src).rsplit(":", 1)
        line = linecache.getline(path, int(rest.split()[0]))
    except (ValueError, IndexError):
        return True
    return not line or line.lstrip().startswith("while")


# ---------------------------------------------------------------- one trace


_DECOMP: dict | None = None


def decomposition_table() -> dict:
    global _DECOMP
    if _DECOMP is None:
        import torch._decomp as decomp

        # The core table without its composite-implicit entries: those only call the
        # op's own CompositeImplicitAutograd kernel, which the dispatcher runs anyway
        # when an op is not in the table, and collecting them costs ~70 ms a process.
        post_autograd = getattr(decomp, "_core_aten_decompositions_post_autograd", None)
        table = dict(post_autograd() if post_autograd is not None else decomp.core_aten_decompositions())
        aten = torch.ops.aten
        # kept whole: their ONNX forms are better than the decompositions
        for op in (aten.native_layer_norm.default, aten.gelu.default, aten.hardswish.default,
                   aten.hardsigmoid.default, aten.silu.default, aten.leaky_relu.default,
                   aten.elu.default, aten.upsample_nearest2d.default, aten.upsample_bilinear2d.default,
                   aten.upsample_nearest2d.vec, aten.upsample_bilinear2d.vec,
                   aten.native_group_norm.default, aten.pixel_shuffle.default,
                   aten.logsumexp.default, aten.softplus.default, aten.mish.default,
                   aten.linalg_vector_norm.default, aten.cumsum.default, aten.avg_pool2d.default,
                   aten.im2col.default, aten.roll.default, aten.diff.default, aten.var_mean.correction,
                   aten.hardtanh.default, aten.addmm.default, aten.baddbmm.default):
            table.pop(op, None)
        _DECOMP = table
    return _DECOMP


def _fake_inputs(fm, tensors: Sequence[torch.Tensor], dynamic: Sequence[dict[int, str] | None]):
    from torch.fx.experimental.symbolic_shapes import DimDynamic, StatelessSymbolicContext

    fakes, names, dims = [], {}, {}
    for k, (t, dyn) in enumerate(zip(tensors, dynamic)):
        if not dyn:
            fakes.append(fm.from_tensor(t, static_shapes=True))
            continue
        ctx = StatelessSymbolicContext(
            dynamic_sizes=[DimDynamic.DYNAMIC if i in dyn else DimDynamic.STATIC for i in range(t.dim())])
        f = fm.from_tensor(t, symbolic_context=ctx)
        for i, name in dyn.items():
            d = f.shape[i]
            if isinstance(d, torch.SymInt):
                names[str(d.node.expr)] = name
                dims.setdefault(str(d.node.expr), (k, i))
        fakes.append(f)
    return fakes, names, dims


def trace_once(fn: Callable, tensors: Sequence[torch.Tensor], dynamic: Sequence[dict[int, str] | None],
               answers: Sequence[bool], max_decisions: int, labels: Sequence[str] = ()) -> Trace:
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.proxy_tensor import make_fx
    from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode, ShapeEnv

    mode = _TraceMode(answers, max_decisions)

    def run(*flat):
        with mode:
            return fn(*flat)

    shape_env = ShapeEnv()
    fm = FakeTensorMode(shape_env=shape_env, allow_non_fake_inputs=True)
    fakes, names, dims = _fake_inputs(fm, tensors, dynamic)
    try:
        with torch.no_grad(), warnings.catch_warnings(), sym_hooks(mode):
            warnings.simplefilter("ignore")
            gm = make_fx(run,
                         decomposition_table(), tracing_mode="symbolic")(*fakes)
    except (ExportError, _PathFailed):
        raise
    except GuardOnDataDependentSymNode as e:
        raise ExportError(
            "the program decides something from a value read out of a tensor (.item() or "
            f"similar) in Python: {str(e).splitlines()[0]}; keep that decision in tensors "
            "(torch.where) or use a tensor condition (`if t > 0:` is exported as an ONNX If)",
            source=mode.loc) from None
    except Exception as e:
        if not mode.path:
            raise
        raise _PathFailed(list(mode.path), list(mode.srcs), e) from e
    mode.check_lies()
    functionalize(gm.graph, lambda i: labels[i] if 0 <= i < len(labels) else f"graph input {i}")
    _hoist_input_sizes(gm.graph, dynamic)
    nodes = list(gm.graph.nodes)
    pos = {n: i for i, n in enumerate(nodes)}
    markers = [i for i, n in enumerate(nodes) if n.op == "call_function" and n.target is _custom_ops.branch]
    if len(markers) != len(mode.path):
        raise ExportError("internal: branch markers and decisions disagree", source=mode.loc)
    return Trace(gm, nodes, pos, mode.path, mode.srcs, markers, names, shape_env, dims,
                 mode.size_exprs, mode.size_decisions, mode.assumptions)


def _hoist_input_sizes(graph: torch.fx.Graph, dynamic: Sequence[dict[int, str] | None]) -> None:
    """One ``sym_size(input, dim)`` node per dynamic dim, right after the
    placeholders, in every trace.  make_fx places such a node where the size is
    first needed, which can be before a decision in a run that only needs it
    after one: two runs that took the same decisions would then differ in the
    nodes before the decision, which the converter takes to be the same."""
    sym_size = torch.ops.aten.sym_size.int
    phs = [n for n in graph.nodes if n.op == "placeholder"]
    if not phs:
        return
    found: dict[tuple, torch.fx.Node] = {}
    for n in list(graph.nodes):
        if n.op == "call_function" and n.target is sym_size and n.args[0] in phs and not n.kwargs:
            key = (n.args[0], n.args[1])
            if key in found:
                n.replace_all_uses_with(found[key])
                graph.erase_node(n)
            else:
                found[key] = n
    anchor = phs[-1]
    for ph, dyn in zip(phs, dynamic):
        val = ph.meta.get("val")
        for d in sorted(dyn or {}):
            n = found.get((ph, d))
            if n is None:
                with graph.inserting_after(anchor):
                    n = graph.call_function(sym_size, (ph, d))
                n.meta["val"] = val.shape[d] if val is not None else None
            else:
                anchor.append(n)
            anchor = n


def trace_program(fn: Callable, tensors: Sequence[torch.Tensor], dynamic: Sequence[dict[int, str] | None],
                  *, max_decisions: int = MAX_DECISIONS, max_traces: int = MAX_TRACES,
                  labels: Sequence[str] = ()) -> tuple[list[Trace], list[Failure]]:
    """Every run of ``fn`` over the decision tree: successful traces (in
    depth-first order, True before False) and runs that raised.  ``labels`` name
    the tensors (``"input 'x'"``) for errors about writing into them."""
    traces: list[Trace] = []
    failures: list[Failure] = []
    stack: list[list[bool]] = [[]]
    while stack:
        prefix = stack.pop()
        if len(traces) + len(failures) >= max_traces:
            srcs = [s for t in traces for s in t.decision_src]
            raise _too_many(srcs or [None], max_decisions) if srcs else ExportError("too many traces")
        try:
            t = trace_once(fn, tensors, dynamic, prefix, max_decisions, labels)
        except Unreliable:
            continue
        except _PathFailed as e:  # the program raised on this path
            failures.append(Failure(e.path, e.srcs, e.error))
            mode_path = e.path
        else:
            traces.append(t)
            mode_path = t.path
        for i in reversed(range(len(prefix), len(mode_path))):
            stack.append(mode_path[:i] + [not mode_path[i]])
    if not traces:
        raise failures[0].error
    return traces, failures


class TraceTree:
    """The program's runs over the decision tree, traced when first asked for.

    :meth:`find` returns a trace whose decisions start with a given prefix
    (the decisions after it answered True), tracing it if none is known yet;
    a run that raises is recorded in :attr:`failures` and the subtree below
    the prefix is searched depth-first for one that does not.  The converter
    asks only for the other side of each decision it meets, so the tree is
    traced as far as the model needs and no further.
    """

    def __init__(self, fn: Callable, tensors: Sequence[torch.Tensor],
                 dynamic: Sequence[dict[int, str] | None], *, max_decisions: int = MAX_DECISIONS,
                 max_traces: int | None = None, labels: Sequence[str] = ()) -> None:
        self.fn, self.tensors, self.dynamic, self.labels = fn, tensors, dynamic, labels
        self.max_decisions = max_decisions
        self.max_traces = trace_bound(max_decisions) if max_traces is None else max_traces
        self.traces: list[Trace] = []
        self.failures: list[Failure] = []
        self._dead: set[tuple[bool, ...]] = set()  # prefixes with no run that succeeds
        self.unreliable = 0

    def find(self, prefix: Sequence[bool] = ()) -> Trace | None:
        prefix = list(prefix)
        n = len(prefix)
        for t in self.traces:
            if t.path[:n] == prefix:
                return t
        if tuple(prefix) in self._dead:
            return None
        stack = [prefix]
        while stack:
            p = stack.pop()
            if len(self.traces) + len(self.failures) >= self.max_traces:
                raise _too_many_traces(self.traces, self.max_traces)
            try:
                t = trace_once(self.fn, self.tensors, self.dynamic, p, self.max_decisions, self.labels)
            except Unreliable:  # a size decision's other side that the tracer cannot follow
                self.unreliable += 1
                continue
            except _PathFailed as e:  # the program raised on this path: try its siblings below p
                self.failures.append(Failure(e.path, e.srcs, e.error))
                for i in reversed(range(len(p), len(e.path))):
                    stack.append(e.path[:i] + [not e.path[i]])
                continue
            self.traces.append(t)
            return t
        self._dead.add(tuple(prefix))
        return None

    def with_prefix(self, prefix: Sequence[bool]) -> list[Trace]:
        prefix = list(prefix)
        return [t for t in self.traces if t.path[:len(prefix)] == prefix]

    def first(self) -> Trace:
        """The run with every decision True (or the first that does not raise)."""
        t = self.find([])
        if t is None:
            raise self.failures[0].error
        return t
