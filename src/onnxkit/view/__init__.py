"""The HTML graph view: one self-contained file that draws a model, a
comparison with onnxruntime or a diff of two models.

>>> from onnxkit.view import view_html
>>> html = view_html(model)                          # doctest: +SKIP
>>> html = view_html(model, profile=profile_nodes(model, feeds))   # doctest: +SKIP

What is where:

* :mod:`._layout`: the layered layout of one group (Python, ahead of time);
* :mod:`._build`: the model as nested groups (name scopes, subgraphs,
  functions), each laid out, and the details of every node (attributes,
  inputs and outputs with inferred types, weight summaries, the source line
  recorded at export, the schema's signature);
* ``page.js`` / ``page.css``: the page's script and style (no framework, no
  network), inlined by :mod:`._page`;
* :func:`profile_nodes` / :func:`compare_nodes`: per-node numbers drawn on
  the graph (time and output bytes; max error against onnxruntime);
* :func:`diff_page`: two models side by side, coloured by a
  :class:`onnxkit.diff.ModelDiff`.

Shapes are inferred for the page without changing the model given
(:func:`onnxkit.infer.types_restored`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from ..ir import Model, Node

__all__ = ["NodeComparison", "compare_nodes", "diff_page", "profile_nodes", "view_html", "write_view"]


def _finite(x: float) -> float | str:
    return float(x) if math.isfinite(x) else str(x)


def _page_data(model: Model, extra: Mapping[int, dict] | None) -> dict:
    from ..infer import infer_shapes, types_restored
    from ._build import PageData
    with types_restored(model):
        infer_shapes(model)
        info = (lambda n: extra.get(id(n))) if extra else None
        return PageData(model, node_info=info).to_dict()


def view_html(model: Model, *, title: str = "", profile: Mapping[int, dict] | None = None,
              compare: NodeComparison | None = None) -> str:
    """The page of ``model``: ``profile`` from :func:`profile_nodes` colours
    nodes by their share of time; ``compare`` from :func:`compare_nodes` marks
    each node's error and the first divergence."""
    from ._page import page
    extra: dict[int, dict] = {}
    legend = ""
    if profile:
        extra.update(profile)
        legend = ('<span class="legend">time share: <span style="background:hsl(8,85%,96%)">0</span>'
                  '<span style="background:hsl(8,85%,73%)">20 %</span><span style="background:hsl(8,85%,50%)">'
                  '40 %+</span></span>')
    if compare is not None:
        for k, v in compare.nodes.items():
            extra.setdefault(k, {}).update(v)
        legend = ('<span class="legend"><span style="border:2px solid #2a8a3a;color:#fff">agrees</span>'
                  '<span style="border:2px solid #d00;color:#fff">diverges</span>'
                  '<span style="border:3.5px solid #d00;color:#fff">first divergence</span></span>')
    data = _page_data(model, extra)
    if profile:
        data["profile"] = 1
    if compare is not None:
        data["compare"] = compare.summary
    return page(title or model.graph.name or "model", data, '<div id="view"></div>', legend)


def write_view(model: Model, path: str | os.PathLike, **kw: Any) -> None:
    """Write :func:`view_html` to ``path``."""
    text = view_html(model, **kw)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def profile_nodes(model: Model, feeds: Mapping[str, Any]) -> dict[int, dict]:
    """Run ``model`` once, unoptimized (so every node of the page is a step of
    the run), and return ``{id(node): {"t": seconds, "ts": share, "b": output
    bytes}}`` for the nodes of the main graph (a node with subgraphs counts
    its bodies' time)."""
    from ..runtime import Session
    sess = Session(model, optimize="none")
    prof = sess.profile(feeds)
    nodes = list(model.graph)
    total = sum(p.seconds for p in prof) or 1.0
    out: dict[int, dict] = {}
    for p in prof:
        if p.index < len(nodes) and nodes[p.index].op_type == p.op_type:
            out[id(nodes[p.index])] = {"t": p.seconds, "ts": p.seconds / total, "b": int(p.output_bytes)}
    return out


@dataclass
class NodeComparison:
    """Each main-graph node's comparison with onnxruntime (``nodes``: id(node) ->
    ``{"st": "ok" | "diverged" | "first" | "skipped", "err", "rel", "why"}``),
    the first divergence (a :class:`onnxkit.runtime._debug.Divergence`) and the
    lines ``onnxkit compare`` prints."""
    nodes: dict[int, dict] = field(default_factory=dict)
    compared: int = 0
    skipped: list[str] = field(default_factory=list)
    divergence: Any = None

    @property
    def summary(self) -> dict:
        return {"compared": self.compared, "skipped": len(self.skipped),
                "first": str(self.divergence) if self.divergence is not None else None}


def compare_nodes(model: Model, feeds: Mapping[str, Any], *, rtol: float = 1e-3,
                  atol: float = 1e-4) -> NodeComparison:
    """Like :func:`onnxkit.runtime._debug.compare_with_onnxruntime` (each node run
    alone in onnxruntime on the inputs onnxkit gave it, the same tolerance),
    but going on past the first divergence so that every node gets its max
    error: a node after the first divergence still ran on onnxkit's inputs, so
    its error is its own kernel's."""
    try:
        import onnxruntime as ort
    except ImportError:
        from ..errors import OnnxkitError
        raise OnnxkitError("onnxkit compare needs onnxruntime: pip install onnxruntime") from None
    from .._io import to_bytes
    from ..runtime import Session
    from ..runtime._debug import Divergence, _errors, _single_node_model

    sess = Session(model, optimize="none")
    env = sess._bind(feeds)
    read = {v.name for g in model.graph.all_graphs() for n in g for v in n.inputs if v is not None}
    read |= {v.name for v in model.graph.outputs}
    res = NodeComparison()
    nodes = list(model.graph)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    state = {"i": 0}

    def on_node(node: Node, args: list, results: tuple) -> None:
        i = state["i"]
        state["i"] += 1
        key = id(nodes[i]) if i < len(nodes) else id(node)
        label = f"node {i} {node.name!r} ({node.op_type})"
        if any(a.subgraphs() for a in node.attributes.values()) or \
                any(a is not None and not isinstance(a, np.ndarray) for a in args) or \
                any(r is not None and not isinstance(r, np.ndarray) for r in results):
            res.skipped.append(f"{label}: subgraphs, sequences or maps are not compared")
            res.nodes[key] = {"st": "skipped", "why": "subgraphs, sequences or maps are not compared"}
            return
        names = [o.name for o in node.outputs if o.name in read]
        if not names:
            return
        try:
            m = _single_node_model(model, node, args, results)
            s = ort.InferenceSession(to_bytes(m), opts, providers=["CPUExecutionProvider"])
            feed = {v.name: np.asarray(a) for v, a in zip(node.inputs, args) if v is not None}
            want = s.run(names, feed)
        except Exception as e:
            why = f"onnxruntime could not run it ({' '.join(str(e).split())[:160]})"
            res.skipped.append(f"{label}: {why}")
            res.nodes[key] = {"st": "skipped", "why": why}
            return
        res.compared += 1
        outs = {o.name: r for o, r in zip(node.outputs, results) if o.name}
        worst, worst_rel, bad, why = 0.0, 0.0, None, ""
        for name, w in zip(names, want):
            g = outs[name]
            if g.shape != w.shape or g.dtype != w.dtype:
                why = f"onnxkit gives {g.dtype}{list(g.shape)}, onnxruntime {w.dtype}{list(w.shape)}"
                worst, worst_rel, bad = math.inf, math.inf, (name, math.inf, math.inf, why)
                break
            abs_err, rel_err = _errors(g, w)
            scale = float(np.max(np.abs(w.astype(np.float64)))) if w.size and w.dtype.kind in "fiuc" else 0.0
            worst, worst_rel = max(worst, abs_err), max(worst_rel, rel_err)
            if bad is None and abs_err > atol + rtol * scale:
                bad = (name, abs_err, rel_err, "")
        entry = {"st": "ok", "err": _finite(worst), "rel": _finite(worst_rel)}
        if bad is not None:
            entry["st"] = "diverged"
            if why:
                entry["why"] = why
            if res.divergence is None:
                entry["st"] = "first"
                res.divergence = Divergence(i, node.name, node.op_type, bad[0], bad[1], bad[2], bad[3])
        res.nodes[key] = entry

    sess._plan.run(env, on_node=on_node)
    return res


def diff_page(a: Model, b: Model, diff: Any, *, titles: tuple[str, str] = ("A", "B")) -> str:
    """Two models side by side, coloured by ``diff`` (a
    :class:`onnxkit.diff.ModelDiff` or its ``to_dict()``); see :mod:`._diff`."""
    from ._diff import diff_page as _impl
    return _impl(a, b, diff, titles=titles)
