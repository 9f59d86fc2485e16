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

from .._gc import gc_paused
from ..ir import Model

__all__ = ["NodeComparison", "compare_nodes", "diff_page", "profile_nodes", "view_html", "write_view"]


def _finite(x: float) -> float | str:
    return float(x) if math.isfinite(x) else str(x)


def _page_data(model: Model, extra: Mapping[int, dict] | None) -> dict:
    from ..infer import infer_shapes, types_restored
    from ._build import PageData
    with gc_paused(), types_restored(model):
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
    with gc_paused():
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
    """:func:`onnxkit.runtime._debug.compare_with_onnxruntime` going on past the
    first divergence (``keep_going``), so that every node of the main graph
    gets its max error, keyed for :func:`view_html`."""
    from ..runtime._debug import compare_with_onnxruntime
    rep = compare_with_onnxruntime(model, feeds, rtol=rtol, atol=atol, keep_going=True)
    res = NodeComparison(compared=rep.compared, skipped=rep.skipped, divergence=rep.divergence)
    nodes = list(model.graph)
    for r in rep.nodes:
        if r.status == "unread" or r.index >= len(nodes):
            continue
        if r.status == "skipped":
            entry = {"st": "skipped", "why": r.detail}
        else:
            entry = {"st": r.status, "err": _finite(r.max_abs_error), "rel": _finite(r.max_rel_error)}
            if rep.divergence is not None and r.index == rep.divergence.index:
                entry["st"] = "first"
            if r.detail:
                entry["why"] = r.detail
        res.nodes[id(nodes[r.index])] = entry
    return res


def diff_page(a: Model, b: Model, diff: Any, *, titles: tuple[str, str] = ("A", "B")) -> str:
    """Two models side by side, coloured by ``diff`` (a
    :class:`onnxkit.diff.ModelDiff` or its ``to_dict()``); see :mod:`._diff`."""
    from ._diff import diff_page as _impl
    return _impl(a, b, diff, titles=titles)
