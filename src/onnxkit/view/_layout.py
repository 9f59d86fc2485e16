"""A layered (Sugiyama-style) layout of one small directed graph, top to bottom.

The view lays out each group of the hierarchy on its own (a few dozen to a
few hundred boxes), so this module only needs to be good on small graphs, and
linear enough that thousands of groups lay out in a second.  Steps:

1. cycles are broken by ignoring edges that point backwards in the given
   order (the items come in topological order, so there are none in a valid
   model);
2. layering by longest path from the sources;
3. an edge spanning k layers gets k-1 dummy points, so that it bends around
   boxes instead of crossing them;
4. the order within each layer: barycenter sweeps down and up, keeping the
   best order seen (crossings counted between adjacent layers);
5. x coordinates: each layer is placed at the mean of its neighbours'
   positions, then pushed apart to the minimum gap (the mean of a left-packed
   and a right-packed pass keeps the order and the gaps); y: layer bands as
   tall as their tallest box.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

#: horizontal gap between boxes and vertical gap between layers (pixels)
H_GAP = 24.0
V_GAP = 46.0
DUMMY_W = 12.0
SWEEPS = 4


@dataclass
class Layout:
    """Boxes as centers (``x``, ``y`` of the box's center; its size is the
    caller's), each edge as the polyline of its bend points (from the bottom of
    the source to the top of the target), and the bounding size."""
    x: list[float]
    y: list[float]
    layer: list[int]
    edges: list[list[tuple[float, float]]] = field(default_factory=list)
    width: float = 0.0
    height: float = 0.0


def layout(sizes: Sequence[tuple[float, float]], edges: Sequence[tuple[int, int]]) -> Layout:
    """Lay out boxes of the given (width, height) with directed ``edges`` (pairs
    of box indices; self loops and duplicates allowed, drawn once)."""
    n = len(sizes)
    if n == 0:
        return Layout([], [], [], [[] for _ in edges], 0.0, 0.0)
    # 1-2: longest-path layering over forward edges
    succ: list[list[int]] = [[] for _ in range(n)]
    pred: list[list[int]] = [[] for _ in range(n)]
    seen = set()
    for a, b in edges:
        if a == b or (a, b) in seen:
            continue
        seen.add((a, b))
        if a > b:                      # backwards in topological order: reverse it
            a, b = b, a
        succ[a].append(b)
        pred[b].append(a)
    layer = [0] * n
    for b in range(n):                 # indices are a topological order
        for a in pred[b]:
            if layer[a] + 1 > layer[b]:
                layer[b] = layer[a] + 1
    # pull sources down next to their first consumer (graph inputs, constants)
    for a in range(n - 1, -1, -1):
        if succ[a] and not pred[a]:
            layer[a] = max(layer[a], min(layer[b] for b in succ[a]) - 1)
    nl = max(layer) + 1
    # 3: dummies; node ids >= n are dummies, chains recorded per edge
    widths = [float(w) for w, _ in sizes]
    heights = [float(h) for _, h in sizes]
    lay = list(layer)
    up: list[list[int]] = [list(p) for p in pred]     # neighbours in the layer above
    down: list[list[int]] = [[] for _ in range(n)]
    chains: dict[tuple[int, int], list[int]] = {}
    for b in range(n):
        new_up = []
        for a in up[b]:
            if lay[b] - lay[a] == 1:
                new_up.append(a)
                down[a].append(b)
                chains[(a, b)] = []
                continue
            prev, chain = a, []
            for L in range(lay[a] + 1, lay[b]):
                d = len(lay)
                lay.append(L)
                widths.append(DUMMY_W)
                heights.append(0.0)
                up.append([prev])
                down.append([])
                down[prev].append(d)
                chain.append(d)
                prev = d
            down[prev].append(b)
            new_up.append(prev)
            chains[(a, b)] = chain
        up[b] = new_up
    total = len(lay)
    layers: list[list[int]] = [[] for _ in range(nl)]
    for v in range(total):
        layers[lay[v]].append(v)
    if all(len(row) == 1 for row in layers):      # a chain: one column, nothing to order
        w = max(widths)
        band, cur = [], 0.0
        for row in layers:
            h = heights[row[0]]
            band.append(cur + h / 2)
            cur += h + V_GAP
        X = [w / 2] * n
        Y = [band[layer[v]] for v in range(n)]
        out = []
        for a, b in edges:
            if a == b:
                out.append([])
                continue
            lo, hi = (a, b) if a < b else (b, a)
            pts = [(X[lo], Y[lo] + heights[lo] / 2), (X[hi], Y[hi] - heights[hi] / 2)]
            out.append(pts if a < b else pts[::-1])
        return Layout(X, Y, layer, out, w, max(cur - V_GAP, 0.0))
    # 4: barycenter ordering
    pos = [0.0] * total
    for row in layers:
        for i, v in enumerate(row):
            pos[v] = float(i)

    def crossings() -> int:
        c = 0
        for L in range(nl - 1):
            es = sorted((pos[a], pos[b]) for a in layers[L] for b in down[a])
            # count inversions of the lower ends (small layers: quadratic is fine up to ~200)
            lows = [b for _, b in es]
            if len(lows) > 400:
                continue
            for i in range(len(lows)):
                li = lows[i]
                for j in range(i + 1, len(lows)):
                    if lows[j] < li:
                        c += 1
        return c

    def sweep(rows: range, nbrs: list[list[int]]) -> None:
        for L in rows:
            row = layers[L]
            keys = {}
            for v in row:
                ns = nbrs[v]
                keys[v] = sum(pos[u] for u in ns) / len(ns) if ns else pos[v]
            row.sort(key=lambda v: (keys[v], pos[v]))
            for i, v in enumerate(row):
                pos[v] = float(i)

    best = [list(r) for r in layers]
    best_c = crossings()
    for _ in range(SWEEPS):
        if best_c == 0:
            break
        sweep(range(1, nl), up)
        sweep(range(nl - 2, -1, -1), down)
        c = crossings()
        if c < best_c:
            best_c, best = c, [list(r) for r in layers]
    layers = best
    # 5: coordinates
    x = [0.0] * total
    for row in layers:
        cur = 0.0
        for v in row:
            x[v] = cur + widths[v] / 2
            cur += widths[v] + H_GAP

    def place(rows: range, nbrs: list[list[int]]) -> None:
        for L in rows:
            row = layers[L]
            want = []
            for v in row:
                ns = nbrs[v]
                want.append(sum(x[u] for u in ns) / len(ns) if ns else x[v])
            k = len(row)
            left = [0.0] * k
            right = [0.0] * k
            for i in range(k):
                lo = left[i - 1] + (widths[row[i - 1]] + widths[row[i]]) / 2 + H_GAP if i else -1e18
                left[i] = max(want[i], lo)
            for i in range(k - 1, -1, -1):
                hi = right[i + 1] - (widths[row[i + 1]] + widths[row[i]]) / 2 - H_GAP if i < k - 1 else 1e18
                right[i] = min(want[i], hi)
            for i, v in enumerate(row):
                x[v] = (left[i] + right[i]) / 2

    both = [up[v] + down[v] for v in range(total)]
    for _ in range(2):
        place(range(1, nl), up)
        place(range(nl - 2, -1, -1), down)
    place(range(nl), both)
    xmin = min(x[v] - widths[v] / 2 for v in range(total))
    xmax = max(x[v] + widths[v] / 2 for v in range(total))
    band_y = []
    cur = 0.0
    for L in range(nl):
        h = max((heights[v] for v in layers[L]), default=0.0)
        band_y.append(cur + h / 2)
        cur += h + V_GAP
    X = [x[v] - xmin for v in range(n)]
    Y = [band_y[layer[v]] for v in range(n)]
    out_edges = []
    for a, b in edges:
        if a == b:
            out_edges.append([])
            continue
        key = (a, b) if a < b else (b, a)
        chain = chains.get(key, [])
        pts = [(x[d] - xmin, band_y[lay[d]]) for d in chain]
        if a > b:
            pts.reverse()
        s = (X[a], Y[a] + heights[a] / 2)
        t = (X[b], Y[b] - heights[b] / 2)
        out_edges.append([s, *pts, t])
    return Layout(X, Y, layer, out_edges, xmax - xmin, max(cur - V_GAP, 0.0))
