"""The diff page: the two models side by side, coloured by an
:class:`onnxkit.diff.ModelDiff` (its ``to_dict()`` is the contract, see
:mod:`onnxkit.diff`).

Each side is a full graph view of its model.  Nodes are coloured by their
status (changed amber, added green, removed red; the same stay plain), a
node's details say what changed, which fusion replaced it and by what, and
a node whose only change is that it reads what replaced a removed node
(``via_fusion``) is drawn with a dashed border, and each matched node knows
its counterpart: selecting a node on one side selects the match on the
other; opening or closing a group does the same to its twin.

Matched nodes line up: the groups of the two sides are paired from the main
graphs down (a node with its match, a group with the group of the other side
that holds most of its members' matches, see :func:`_pair`), and each pair is
laid out once as the union of its two member lists, a matched pair sharing
one slot (:func:`_union_layout`).  Each side then draws its own members at
their slots, so that a node and its match sit at the same place in both
panes; the script grows an opened group to the larger of it and its twin, so
that opening keeps the alignment, and scrolls the panes together.
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
    from . import gc_paused
    from ._build import PageData
    with gc_paused(), types_restored(model):
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


def _descendants(groups: list[dict], gi: int, memo: dict[int, set[int]]) -> set[int]:
    """The nodes (table indices) drawn inside group ``gi``."""
    hit = memo.get(gi)
    if hit is None:
        memo[gi] = hit = set()          # (a recursive function call: drawn as a node)
        g = groups[gi]
        if "nd" in g:
            hit.add(g["nd"])
        for r in g["it"]:
            if r >= 0:
                hit.add(r)
            else:
                hit |= _descendants(groups, -1 - r, memo)
    return hit


def _pair(da: dict, db: dict) -> list[tuple[int, int, list[int]]]:
    """Pair the groups of two sides from their roots down: returns ``(group of
    A, group of B, twin of each A member: index among B's members or -1)``.

    A node member pairs with its match; a group member with the B member of
    the same kind that holds most of its descendants' matches (a name scope
    with the scope of the same place, an If with its match's If, a run of
    consecutive nodes with the run that holds their matches).  Where a scope
    has one member on one side and more on the other, a node pairs with the
    group that holds its match (or the reverse): they share a slot, and the
    group's contents are not aligned further."""
    na, nb, GA, GB = da["nodes"], db["nodes"], da["groups"], db["groups"]
    ma: dict[int, set[int]] = {}
    mb: dict[int, set[int]] = {}
    out, seen_a, seen_b = [], set(), set()
    todo = [(da["root"], db["root"])]
    while todo:
        ga, gb = todo.pop()
        if ga in seen_a or gb in seen_b:      # (a function's body, drawn at each call)
            continue
        seen_a.add(ga)
        seen_b.add(gb)
        ra, rb = GA[ga]["it"], GB[gb]["it"]
        where_b: dict[int, int] = {}            # B node -> the B member drawing it
        for j, r in enumerate(rb):
            if r >= 0:
                where_b[r] = j
            else:
                for k in _descendants(GB, -1 - r, mb):
                    where_b.setdefault(k, j)
        tm = [-1] * len(ra)
        used: set[int] = set()
        io_b = {(nb[r]["o"], nb[r]["n"]): j for j, r in enumerate(rb) if r >= 0 and nb[r].get("io")}
        for i, r in enumerate(ra):
            if r >= 0:          # a node with its match, a graph input or output with that of the same name
                # (a B group holding the match: a scope that has one member in A, two in B)
                j = io_b.get((na[r]["o"], na[r]["n"])) if na[r].get("io") else where_b.get(na[r].get("mt", -1))
                if j is not None and j not in used:
                    tm[i] = j
                    used.add(j)
        for i, r in enumerate(ra):
            if r >= 0:
                continue
            kind = GA[-1 - r]["k"]
            votes: dict[int, int] = {}
            for k in _descendants(GA, -1 - r, ma):
                j = where_b.get(na[k].get("mt", -1))
                if j is not None and j not in used and (rb[j] >= 0 or GB[-1 - rb[j]]["k"] == kind):
                    votes[j] = votes.get(j, 0) + 1
            if not votes:      # nothing inside matched (all changed): the group of the same label
                votes = {j: 1 for j, q in enumerate(rb) if q < 0 and j not in used
                         and GB[-1 - q]["k"] == kind and GB[-1 - q]["l"] == GA[-1 - r]["l"]}
            if votes:
                j = max(votes, key=lambda j: (votes[j], -j))
                tm[i] = j
                used.add(j)
                if rb[j] < 0:
                    todo.append((-1 - r, -1 - rb[j]))
        out.append((ga, gb, tm))
    return out


def _union_layout(A: dict, B: dict, tm: list[int]) -> None:
    """Lay out groups ``A`` and ``B`` (twins, ``tm`` as from :func:`_pair`)
    as one graph, a matched pair of members in one slot, and give each side
    its members' slots: then matched members have the same coordinates."""
    from ._layout import layout
    na, nb = len(A["it"]), len(B["it"])
    twin_a = {j: i for i, j in enumerate(tm) if j >= 0}
    keys: list[tuple] = [(i, 0, 0) for i in range(na)]
    b_key: list[tuple] = []
    prev = -1
    for j in range(nb):
        if j in twin_a:
            prev = twin_a[j]
            b_key.append(keys[prev])
        else:
            b_key.append((prev, 1, j))
    slots = sorted(set(keys) | set(b_key))
    slot_of = {k: s for s, k in enumerate(slots)}
    sa = [slot_of[k] for k in keys]
    sb = [slot_of[k] for k in b_key]
    sizes = [[0.0, 0.0] for _ in slots]
    for side, sl in ((A, sa), (B, sb)):
        xy = side["L"]["xy"]
        for i, s in enumerate(sl):
            sizes[s][0] = max(sizes[s][0], xy[4 * i + 2])
            sizes[s][1] = max(sizes[s][1], xy[4 * i + 3])
    ea, eb = A["L"]["e"], B["L"]["e"]
    edges = [(sa[e[0]], sa[e[1]]) for e in ea] + [(sb[e[0]], sb[e[1]]) for e in eb]
    lay = layout([tuple(z) for z in sizes], edges)
    for side, sl, es, off in ((A, sa, ea, 0), (B, sb, eb, len(ea))):
        xy = []
        for s in sl:
            xy += [round(lay.x[s], 1), round(lay.y[s], 1), round(sizes[s][0], 1), round(sizes[s][1], 1)]
        side["L"] = {"w": round(lay.width, 1), "h": round(lay.height, 1), "xy": xy,
                     "e": [[e[0], e[1], e[2], [round(c, 1) for p in lay.edges[off + k] for c in p], *e[4:]]
                           for k, e in enumerate(es)]}


def align(da: dict, db: dict) -> None:
    """Pair the groups of two sides' page data and lay each pair out together
    (see the module's docstring); each paired group gets ``tw`` (its twin's
    index) and ``tm`` (each member's twin among the twin's members, or -1)."""
    GA, GB = da["groups"], db["groups"]
    for ga, gb, tm in _pair(da, db):
        _union_layout(GA[ga], GB[gb], tm)
        back = [-1] * len(GB[gb]["it"])
        for i, j in enumerate(tm):
            if j >= 0:
                back[j] = i
        GA[ga]["tw"], GA[ga]["tm"] = gb, tm
        GB[gb]["tw"], GB[gb]["tm"] = ga, back


def diff_page(a: Model, b: Model, diff: Any, *, titles: tuple[str, str] = ("A", "B")) -> str:
    """The page of two models and their diff (``diff`` a ModelDiff or its dict)."""
    from ._page import page
    data = diff_data(a, b, diff)
    d = diff.to_dict() if hasattr(diff, "to_dict") else dict(diff)
    counts = data["summary"]["counts"]
    state = "equal" if d.get("equal") else ", ".join(f"{v} {k}" for k, v in sorted(counts.items()) if k != "same")
    weights = [w for w in d.get("weights", ()) if w.get("status") not in ("same", "unchecked")]
    title = f"{titles[0]} \u2194 {titles[1]}"
    body = (f'<div class="pair"><div class="side" id="side0"></div><div class="side" id="side1"></div></div>')
    legend = f"<small>{html.escape(state)}" + (f"; {len(weights)} weights differ" if weights else "") + \
        f"</small>{_LEGEND}"
    return page(title, data, body, legend)


def diff_data(a: Model, b: Model, diff: Any) -> dict:
    """The data of the diff page: each side's page data, its nodes marked
    with their status and match, the two aligned (:func:`align`)."""
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
    align(da, db)
    da["diffside"] = db["diffside"] = 1
    return {"diff": 1, "sides": [da, db], "summary": {"equal": d.get("equal"), "counts": counts}}
