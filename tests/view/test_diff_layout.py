"""The diff page's layout: the groups of the two sides paired from the main
graphs down, each pair laid out together, so that every matched node sits at
the same place on both sides; what only one side has gets a place of its own."""

from __future__ import annotations

import onnxkit
from onnxkit.ir import Node, Value
from onnxkit.view._diff import diff_data

from .conftest import scoped_model, transformer_like


def _places(side: dict) -> dict[int, tuple[int, int]]:
    """node table index -> (group, member index) of every node drawn as a member."""
    out = {}
    for gi, g in enumerate(side["groups"]):
        for i, r in enumerate(g["it"]):
            if r >= 0:
                out.setdefault(r, (gi, i))
    return out


def _check_aligned(data: dict) -> int:
    a, b = data["sides"]
    pa, pb = _places(a), _places(b)
    n = 0
    for k, node in enumerate(a["nodes"]):
        if "mt" not in node or k not in pa or node["mt"] not in pb:
            continue
        (ga, ia), (gb, ib) = pa[k], pb[node["mt"]]
        A, B = a["groups"][ga], b["groups"][gb]
        if A.get("tw") != gb or A["tm"][ia] != ib:      # not drawn in twin groups (the scopes differ)
            continue
        assert B.get("tw") == ga and B["tm"][ib] == ia, node["n"]
        assert A["L"]["xy"][4 * ia:4 * ia + 4] == B["L"]["xy"][4 * ib:4 * ib + 4], node["n"]
        assert (A["L"]["w"], A["L"]["h"]) == (B["L"]["w"], B["L"]["h"])
        n += 1
    return n


def _check_layouts(side: dict) -> None:
    for g in side["groups"]:
        L = g["L"]
        assert len(L["xy"]) == 4 * len(g["it"])
        for a, b, _label, pts, *_ in L["e"]:
            assert 0 <= a < len(g["it"]) and 0 <= b < len(g["it"]) and len(pts) >= 4
        # no two members of a group overlap
        boxes = [L["xy"][4 * i:4 * i + 4] for i in range(len(g["it"]))]
        for i, (x, y, w, h) in enumerate(boxes):
            for (x2, y2, w2, h2) in boxes[i + 1:]:
                assert abs(x - x2) >= (w + w2) / 2 - 0.5 or abs(y - y2) >= (h + h2) / 2 - 0.5


def test_a_model_and_itself_line_up_everywhere():
    m, m2 = scoped_model(), scoped_model()
    data = diff_data(m, m2, onnxkit.diff(m, m2))
    a, b = data["sides"]
    drawn = [k for k in _places(a) if not a["nodes"][k].get("io")]     # (Constants are folded, If is a group)
    assert _check_aligned(data) == len(drawn) == 18
    assert all("tw" in g for g in a["groups"]) and all("tw" in g for g in b["groups"])
    for side in (a, b):
        _check_layouts(side)


def test_changed_added_and_removed_nodes():
    a = scoped_model()
    b = scoped_model()
    # B: layer 1's Relu becomes a Sigmoid, and a Neg is added after layer 2's Relu
    nodes = list(b.graph)
    relu1 = next(n for n in nodes if n.name == "/enc/layer.1/act/Relu")
    relu1.op_type = "Sigmoid"
    relu2 = next(n for n in nodes if n.name == "/enc/layer.2/act/Relu")
    neg = Node("Neg", [relu2.outputs[0]], [Value("/enc/layer.2/act/Neg_output_0")], name="/enc/layer.2/act/Neg")
    for c in list(relu2.outputs[0].consumers()):
        c.replace_input(relu2.outputs[0], neg.outputs[0])
    b.graph.insert_after(relu2, neg)
    data = diff_data(a, b, onnxkit.diff(a, b))
    # all but layer.1's Relu (a Sigmoid in B: removed and added) and layer.2's Relu,
    # which is inside a scope /enc/layer.2/act of two nodes in B only
    assert _check_aligned(data) == 18 - 2
    da, db = data["sides"]
    added = [n for n in db["nodes"] if n.get("df") == "added"]
    assert sorted(n["n"] for n in added) == ["/enc/layer.1/act/Relu", "/enc/layer.2/act/Neg"]
    added = [n for n in added if n["o"] == "Sigmoid"]
    for side in (da, db):
        _check_layouts(side)
    # that scope shares its place with A's Relu
    [act] = [gi for gi, g in enumerate(db["groups"]) if g.get("p") == "/enc/layer.2/act"]
    [(gb, ib)] = [(gi, i) for gi, g in enumerate(db["groups"]) for i, r in enumerate(g["it"]) if r == -1 - act]
    ka = next(k for k, n in enumerate(da["nodes"]) if n["n"] == "/enc/layer.2/act/Relu")
    ga, ia = _places(da)[ka]
    assert db["groups"][gb]["tw"] == ga and db["groups"][gb]["tm"][ib] == ia
    assert db["groups"][gb]["L"]["xy"][4 * ib:4 * ib + 2] == da["groups"][ga]["L"]["xy"][4 * ia:4 * ia + 2]
    # the added node has a place of its own: no box of A's group is there
    pb = _places(db)
    k = db["nodes"].index(added[0])
    gb, ib = pb[k]
    G = db["groups"][gb]
    A = da["groups"][G["tw"]]
    x, y = G["L"]["xy"][4 * ib:4 * ib + 2]
    assert all(A["L"]["xy"][4 * i:4 * i + 2] != [x, y] for i in range(len(A["it"])))


def test_big_generated_models_pair_every_group():
    a = transformer_like(6)
    data = diff_data(a, transformer_like(6), onnxkit.diff(a, transformer_like(6)))
    assert _check_aligned(data) == len(list(a.graph)) == 6 * 52 + 1
