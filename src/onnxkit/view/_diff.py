"""The diff page: the two models side by side, coloured by an
:class:`onnxkit.diff.ModelDiff` (its ``to_dict()`` is the contract, see
:mod:`onnxkit.diff`).

Each side is a full graph view of its model.  Nodes are coloured by their
status (changed amber, added green, removed red; the same stay plain), a
node's details say what changed, which fusion replaced it and by what, and
a node whose only change is that it reads what replaced a removed node
(``via_fusion``) is drawn with a dashed border, and each matched node knows
its counterpart: selecting a node on one side opens
the other side's groups down to the match, selects it and scrolls to it;
opening or closing a name scope on one side does the same to the scope of
that name on the other.  The two models are laid out separately (their
shapes differ wherever something changed), so matched nodes are aligned by
this navigation, not by a shared coordinate system.
"""

from __future__ import annotations

import html
from typing import Any

from ..ir import Model

_LEGEND = ('<span class="legend"><span style="background:#ffe9a8">changed</span>'
           '<span style="background:#c9f2cf">added</span><span style="background:#ffd0d0">removed</span>'
           '<span style="border:1.5px dashed #c08a00;color:#fff">reads a replacement</span></span>')


def _side(model: Model) -> tuple[dict, dict[str, list[int]]]:
    from ..infer import infer_shapes, types_restored
    from ._build import PageData
    with types_restored(model):
        infer_shapes(model)
        data = PageData(model)
        return data.to_dict(), data.by_graph


def _locate(by_graph: dict[str, list[int]], nid: dict | None) -> int | None:
    if not nid:
        return None
    table = by_graph.get(nid.get("graph", ""))
    i = nid.get("index")
    if table is None or i is None or not 0 <= i < len(table):
        return None
    return table[i]


def diff_page(a: Model, b: Model, diff: Any, *, titles: tuple[str, str] = ("A", "B")) -> str:
    """The page of two models and their diff (``diff`` a ModelDiff or its dict)."""
    from ._page import page
    d = diff.to_dict() if hasattr(diff, "to_dict") else dict(diff)
    (da, ga), (db, gb) = _side(a), _side(b)
    na, nb = da["nodes"], db["nodes"]
    for entry in d.get("nodes", ()):
        ka, kb = _locate(ga, entry.get("a")), _locate(gb, entry.get("b"))
        why = "; ".join(entry.get("changes") or ())
        for k, nodes, other in ((ka, na, kb), (kb, nb, ka)):
            if k is None:
                continue
            # a node whose only change is reading what replaced a removed node: "rewired", drawn quietly
            nodes[k]["df"] = "rewired" if entry.get("via_fusion") else entry["status"]
            if why:
                nodes[k]["dfw"] = why
            if other is not None:
                nodes[k]["mt"] = other
    for f in d.get("fusions", ()):
        added = ", ".join(f"{x['op_type']} {x['name']!r}" for x in f.get("b", ()))
        removed = len(f.get("a", ()))
        for x in f.get("a", ()):
            k = _locate(ga, x)
            if k is not None:
                na[k]["dfw"] = f"{f.get('kind', 'fusion')}: {f.get('label', '')}" + \
                    (f" (replaced by {added})" if added else "")
        for x in f.get("b", ()):
            k = _locate(gb, x)
            if k is not None:
                nb[k]["dfw"] = f"{f.get('kind', 'fusion')} of {removed} nodes: {f.get('label', '')}"
    counts: dict[str, int] = {}
    for entry in d.get("nodes", ()):
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
    state = "equal" if d.get("equal") else ", ".join(f"{v} {k}" for k, v in sorted(counts.items()) if k != "same")
    weights = [w for w in d.get("weights", ()) if w.get("status") not in ("same", "unchecked")]
    title = f"{titles[0]} \u2194 {titles[1]}"
    body = (f'<div class="pair"><div class="side" id="side0"></div><div class="side" id="side1"></div></div>')
    legend = f"<small>{html.escape(state)}" + (f"; {len(weights)} weights differ" if weights else "") + \
        f"</small>{_LEGEND}"
    da["diffside"] = db["diffside"] = 1
    data = {"diff": 1, "sides": [da, db], "summary": {"equal": d.get("equal"), "counts": counts}}
    return page(title, data, body, legend)
