"""The layered layout: edges point down, boxes of a layer do not overlap,
crossings that an order can avoid are avoided."""

from __future__ import annotations

import itertools
import random

from onnxkit.view._layout import H_GAP, layout


def _check(sizes, edges, lay):
    n = len(sizes)
    for a, b in edges:
        if a != b:
            lo, hi = min(a, b), max(a, b)       # an edge is drawn from the earlier box down
            assert lay.y[hi] > lay.y[lo], (a, b)
    for i, j in itertools.combinations(range(n), 2):
        if lay.layer[i] == lay.layer[j]:
            gap = abs(lay.x[i] - lay.x[j]) - (sizes[i][0] + sizes[j][0]) / 2
            assert gap >= H_GAP - 1e-6, (i, j, gap)
    for i in range(n):
        assert -1e-6 <= lay.x[i] - sizes[i][0] / 2 and lay.x[i] + sizes[i][0] / 2 <= lay.width + 1e-6
        assert 0 <= lay.y[i] - sizes[i][1] / 2 - 0 + 1e-6 and lay.y[i] + sizes[i][1] / 2 <= lay.height + 1e-6


def test_chain_and_diamond():
    sizes = [(60, 30)] * 5
    edges = [(0, 1), (1, 2), (1, 3), (2, 4), (3, 4)]
    lay = layout(sizes, edges)
    _check(sizes, edges, lay)
    assert lay.layer == [0, 1, 2, 2, 3]
    assert lay.x[2] != lay.x[3]
    # the ends of the diamond sit between its branches
    assert min(lay.x[2], lay.x[3]) < lay.x[4] < max(lay.x[2], lay.x[3])


def test_long_edges_bend_around_boxes():
    sizes = [(60, 30)] * 5
    edges = [(0, 1), (1, 2), (2, 3), (0, 4), (3, 4)]       # 0 -> 4 spans four layers
    lay = layout(sizes, edges)
    _check(sizes, edges, lay)
    long = lay.edges[3]
    assert len(long) == 2 + 3                                # a bend point per layer passed
    for (x, y) in long[1:-1]:
        for i in (1, 2, 3):                                  # never through a box of the chain
            if abs(y - lay.y[i]) < 1:
                assert abs(x - lay.x[i]) >= sizes[i][0] / 2


def _crossings(lay, edges):
    c = 0
    for (a, b), (p, q) in itertools.combinations(edges, 2):
        if lay.layer[a] == lay.layer[p] and lay.layer[b] == lay.layer[q] and len({a, b, p, q}) == 4:
            if (lay.x[a] - lay.x[p]) * (lay.x[b] - lay.x[q]) < 0:
                c += 1
    return c


def test_barycenter_removes_avoidable_crossings():
    # two layers of six, matched by a random permutation: some order has no crossing
    rnd = random.Random(1)
    perm = list(range(6))
    rnd.shuffle(perm)
    sizes = [(50, 30)] * 12
    edges = [(i, 6 + perm[i]) for i in range(6)]
    lay = layout(sizes, edges)
    _check(sizes, edges, lay)
    assert _crossings(lay, edges) == 0


def test_backward_edges_and_cycles_do_not_break_it():
    sizes = [(40, 20)] * 4
    edges = [(0, 1), (1, 2), (2, 1), (3, 0), (2, 2)]
    lay = layout(sizes, edges)
    _check(sizes, [e for e in edges], lay)
    assert len(lay.edges) == len(edges) and lay.edges[4] == []


def test_random_graphs():
    rnd = random.Random(0)
    for _ in range(20):
        n = rnd.randint(1, 40)
        sizes = [(rnd.randint(20, 200), rnd.choice([30, 44])) for _ in range(n)]
        edges = [(a, b) for a in range(n) for b in range(a + 1, n) if rnd.random() < 0.08]
        lay = layout(sizes, edges)
        _check(sizes, edges, lay)
