"""Debugging helpers: random inputs of the declared shapes, and a node-by-node
comparison with onnxruntime.

:func:`compare_with_onnxruntime` runs the model in onnxkit; after each node it
runs that node alone in onnxruntime on the very same input values and compares
the outputs.  So the first divergence it reports is the first *kernel* that
disagrees, not the place where small differences have piled up.  Values are
freed as soon as no later node reads them, so memory stays bounded by what the
model itself needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from ..errors import InvalidInputError, OnnxkitError
from ..ir import DataType, Graph, Model, Node, TensorType, Value

__all__ = ["CompareReport", "Divergence", "NodeResult", "compare_with_onnxruntime", "random_inputs"]


def random_inputs(model: Model, dims: Mapping[str, int] | None = None, seed: int = 0,
                  default_dim: int = 1) -> dict[str, np.ndarray]:
    """Random arrays for every graph input (not initializers): symbolic dims
    from ``dims`` (e.g. ``{"batch": 4}``), else ``default_dim``; floats standard
    normal, integers in [0, 2) (safe as token or type ids), bools random."""
    rng = np.random.default_rng(seed)
    dims = dict(dims or {})
    feeds: dict[str, np.ndarray] = {}
    g = model.graph
    for v in g.inputs:
        if v.name in g.initializers:
            continue
        t = v.type
        if not isinstance(t, TensorType) or t.elem_type is None:
            raise InvalidInputError(f"input {v.name!r} is not a typed tensor ({t}); give it with --input")
        shape = []
        for d in (t.shape.dims if t.shape is not None else ()):
            if isinstance(d, int):
                shape.append(d)
            elif isinstance(d, str) and d in dims:
                shape.append(int(dims[d]))
            else:
                shape.append(default_dim)
        dt = DataType(t.elem_type)
        npdt = dt.numpy_dtype
        if dt == DataType.BOOL:
            a = rng.random(shape) < 0.5
        elif dt.is_floating or dt.is_complex:
            a = rng.standard_normal(shape).astype(npdt)
        elif dt.is_integer:
            a = rng.integers(0, 2, size=shape).astype(npdt)
        elif dt == DataType.STRING:
            a = np.array(rng.choice(["a", "b"], size=shape), dtype=object)
        else:
            raise InvalidInputError(f"cannot make random values of type {dt.short_name} for input {v.name!r}")
        feeds[v.name] = a
    return feeds


@dataclass
class Divergence:
    """The first node whose outputs differ from onnxruntime's."""
    index: int
    node_name: str
    op_type: str
    output: str
    max_abs_error: float
    max_rel_error: float
    detail: str

    def __str__(self) -> str:
        return (f"node {self.index} {self.node_name!r} ({self.op_type}) output {self.output!r}: "
                f"max abs error {self.max_abs_error:.3g}, max rel error {self.max_rel_error:.3g}"
                + (f" ({self.detail})" if self.detail else ""))


@dataclass
class NodeResult:
    """One main-graph node's comparison: ``status`` is ``"ok"``,
    ``"diverged"`` (``output`` the first output past the tolerance, ``detail``
    what differs when not the values), ``"skipped"`` (``detail`` why) or
    ``"unread"`` (no node or graph output reads its outputs: not compared);
    the errors are the largest over the outputs compared."""
    index: int
    node_name: str
    op_type: str
    status: str
    max_abs_error: float = 0.0
    max_rel_error: float = 0.0
    output: str = ""
    detail: str = ""


@dataclass
class CompareReport:
    compared: int
    skipped: list[str]
    divergence: Divergence | None
    #: every node compared or skipped, in the order run (up to the first divergence unless keep_going)
    nodes: list[NodeResult] = field(default_factory=list)


def _single_node_model(model: Model, node: Node, args: list, results: tuple) -> Model:
    ins = []
    new_inputs: list[Value | None] = []
    for v, a in zip(node.inputs, args):
        if v is None:
            new_inputs.append(None)
            continue
        arr = np.asarray(a)
        nv = Value(v.name, TensorType(DataType.from_numpy(arr.dtype), arr.shape))
        ins.append(nv)
        new_inputs.append(nv)
    outs = []
    for v, r in zip(node.outputs, results):
        if isinstance(r, np.ndarray):
            outs.append(Value(v.name, TensorType(DataType.from_numpy(r.dtype), r.shape)))
        else:
            outs.append(Value(v.name))
    # inputs named twice (the same value read twice) are one graph input
    seen: dict[str, Value] = {}
    uniq = []
    for nv in ins:
        if nv.name not in seen:
            seen[nv.name] = nv
            uniq.append(nv)
    new_inputs = [seen[v.name] if v is not None else None for v in new_inputs]
    n = Node(node.op_type, new_inputs, outs, domain=node.domain, name=node.name,
             attributes=list(node.attributes.values()))
    g = Graph(uniq, [o for o in outs if o.name], [n], name="single_node")
    return Model(g, ir_version=min(model.ir_version, 10), opset_imports=dict(model.opset_imports),
                 functions=list(model.functions))


def _errors(got: np.ndarray, want: np.ndarray) -> tuple[float, float]:
    if got.dtype.kind in "OUS" or want.dtype.kind in "OUS":
        return (0.0, 0.0) if np.array_equal(got.astype(str), want.astype(str)) else (np.inf, np.inf)
    g = got.astype(np.float64) if got.dtype.kind != "c" else got.astype(np.complex128)
    w = want.astype(np.float64) if want.dtype.kind != "c" else want.astype(np.complex128)
    if g.size == 0:
        return 0.0, 0.0
    with np.errstate(all="ignore"):     # inf - inf, inf / inf: a NaN here is an infinite error
        both_nan = np.isnan(g) & np.isnan(w) if g.dtype.kind == "f" else np.zeros(g.shape, bool)
        diff = np.where(both_nan | (g == w), 0.0, np.abs(g - w))
        abs_err = float(np.max(np.where(np.isnan(diff), np.inf, diff)))
        rel = diff / np.maximum(np.abs(w), 1e-12)
        return abs_err, float(np.max(np.where(np.isnan(rel), np.inf, rel)))


def compare_with_onnxruntime(model: Model, feeds: Mapping[str, Any], *, rtol: float = 1e-3,
                             atol: float = 1e-4, progress: Any = None, keep_going: bool = False) -> CompareReport:
    """Run ``model`` in onnxkit and check every node against onnxruntime run on
    the same inputs; stops at the first divergence (outputs differing by more
    than ``atol + rtol * scale``, scale the largest magnitude of onnxruntime's
    output), or with ``keep_going`` goes on to the end so that every node gets
    its max error (a node after a divergence still ran on onnxkit's inputs, so
    its error is its own kernel's)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise OnnxkitError("onnxkit compare needs onnxruntime: pip install onnxruntime") from None
    from .._io import to_bytes
    from ._session import Session

    sess = Session(model, optimize="none")     # node by node, as written
    env = sess._bind(feeds)
    # outputs nobody reads (Dropout's mask, say) are no part of the result: not compared
    read = {v.name for g in model.graph.all_graphs() for n in g for v in n.inputs if v is not None}
    read |= {v.name for v in model.graph.outputs}
    report = CompareReport(0, [], None)

    class _Stop(Exception):
        pass

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3

    def skip(res: NodeResult, why: str) -> None:
        res.status, res.detail = "skipped", why
        report.skipped.append(f"node {res.index} {res.node_name!r} ({res.op_type}): {why}")
        report.nodes.append(res)

    def on_node(node: Node, args: list, results: tuple) -> None:
        res = NodeResult(len(report.nodes), node.name, node.op_type, "ok")
        if any(a.subgraphs() for a in node.attributes.values()) or \
                any(a is not None and not isinstance(a, np.ndarray) for a in args) or \
                any(r is not None and not isinstance(r, np.ndarray) for r in results):
            return skip(res, "subgraphs, sequences or maps are not compared")
        names = [o.name for o in node.outputs if o.name in read]
        if not names:               # nothing reads its outputs: nothing to compare
            res.status = "unread"
            report.nodes.append(res)
            return
        try:
            m = _single_node_model(model, node, args, results)
            s = ort.InferenceSession(to_bytes(m), opts, providers=["CPUExecutionProvider"])
            feed = {v.name: np.asarray(a) for v, a in zip(node.inputs, args) if v is not None}
            want = s.run(names, feed)
        except Exception as e:  # onnxruntime refused this node: say so, go on
            return skip(res, f"onnxruntime could not run it ({' '.join(str(e).split())[:160]})")
        report.compared += 1
        report.nodes.append(res)
        outs = {o.name: r for o, r in zip(node.outputs, results) if o.name}
        for name, w in zip(names, want):
            g = outs[name]
            if g.shape != w.shape or g.dtype != w.dtype:
                abs_err = rel_err = np.inf
                detail = f"onnxkit gives {g.dtype}{list(g.shape)}, onnxruntime {w.dtype}{list(w.shape)}"
            else:
                abs_err, rel_err = _errors(g, w)
                detail = ""
            res.max_abs_error = max(res.max_abs_error, abs_err)
            res.max_rel_error = max(res.max_rel_error, rel_err)
            scale = float(np.max(np.abs(w.astype(np.float64)))) if not detail and w.size and \
                w.dtype.kind in "fiuc" else 0.0
            if res.status == "ok" and (detail or abs_err > atol + rtol * scale):
                res.status, res.output, res.detail = "diverged", name, detail
                if report.divergence is None:
                    report.divergence = Divergence(res.index, node.name, node.op_type, name, abs_err, rel_err, detail)
                if not keep_going:
                    raise _Stop
            if detail:
                break
        if progress is not None:
            progress(res.index)

    try:
        sess._plan.run(env, on_node=on_node)
    except _Stop:
        pass
    return report
