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
* refuses ``int(t)`` / ``float(t)`` on traced values, naming the line.

:func:`trace_program` runs the program once per combination of decisions (a
depth-first walk of the decision tree, True first), up to a bound.
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

#: decisions along one run of the program, and runs in all, before giving up
MAX_DECISIONS = 6
MAX_TRACES = 16

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

    def _decide(self, cond: torch.Tensor, loc: str | None) -> bool:
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
        answer = self.answers[k] if k < len(self.answers) else True
        self.path.append(answer)
        self.srcs.append(loc)
        return answer


_SDPA = torch._C._nn.scaled_dot_product_attention
_LINEAR = torch._C._nn.linear
_SCALAR_READS = {torch.Tensor.__int__: "int", torch.Tensor.__index__: "int",
                 torch.Tensor.__float__: "float", torch.Tensor.tolist: "tolist"}


def _too_many(srcs: list, bound: int) -> ExportError:
    counts: dict[Any, int] = {}
    for s in srcs:
        counts[s] = counts.get(s, 0) + 1
    top, n = max(counts.items(), key=lambda kv: kv[1])
    if n > 1 and n * 2 > len(srcs):
        return ExportError(
            f"the loop at {top} decides whether to go on from a tensor's value (more than {bound} "
            "data-dependent decisions in one run): its trip count depends on data, which a traced "
            "graph cannot hold; give the loop a fixed trip count (a Python int, e.g. from a shape), "
            "or replace the loop by tensor operations", source=top)
    lines = ", ".join(dict.fromkeys(str(s) for s in srcs))
    return ExportError(
        f"more than {bound} data-dependent branch decisions in one run of the program (at {lines}); "
        "onnxkit explores both outcomes of each, so their number is bounded: compute the "
        "alternatives with torch.where instead of `if`, or raise the bound with "
        "export(..., max_branches=N)", source=top)


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

    fakes, names = [], {}
    for t, dyn in zip(tensors, dynamic):
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
        fakes.append(f)
    return fakes, names


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
    fakes, names = _fake_inputs(fm, tensors, dynamic)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gm = make_fx(run,
                         decomposition_table(), tracing_mode="symbolic")(*fakes)
    except ExportError:
        raise
    except _PathFailed:
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
    functionalize(gm.graph, lambda i: labels[i] if 0 <= i < len(labels) else f"graph input {i}")
    nodes = list(gm.graph.nodes)
    pos = {n: i for i, n in enumerate(nodes)}
    markers = [i for i, n in enumerate(nodes) if n.op == "call_function" and n.target is _custom_ops.branch]
    if len(markers) != len(mode.path):
        raise ExportError("internal: branch markers and decisions disagree", source=mode.loc)
    return Trace(gm, nodes, pos, mode.path, mode.srcs, markers, names, shape_env)


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
