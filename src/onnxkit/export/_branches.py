"""Where the two sides of a data-dependent branch meet again.

Two traces that took different sides of one decision share every node up to
the decision (position ``m``) and, usually, a common tail: after the ``if``
the program runs the same code on the values either side produced.
:func:`align` finds the longest such tail — node for node the same op with the
same constant arguments, reading the same tail nodes or shared prefix nodes —
and the *joins*: pairs (value on side A, value on side B) that the tail reads
from the two sides.  The ONNX ``If`` then computes only the two differing
middles and returns the joins; the tail is written once, after it.
"""

from __future__ import annotations

from typing import Any

import torch.fx as fx


def _signature(n: fx.Node) -> Any:
    def shape(a: Any) -> Any:
        if isinstance(a, fx.Node):
            return "<node>"
        if isinstance(a, (list, tuple)):
            return (type(a).__name__, tuple(shape(x) for x in a))
        if isinstance(a, dict):
            return tuple((k, shape(v)) for k, v in a.items())
        return (type(a).__name__, repr(a))

    return (n.op, n.target if n.op != "get_attr" else None, shape(n.args), shape(n.kwargs))


def _node_args(n: fx.Node) -> list[fx.Node]:
    out: list[fx.Node] = []
    fx.node.map_arg((n.args, n.kwargs), out.append)
    return out


def _compatible(a: fx.Node, b: fx.Node) -> bool:
    va, vb = a.meta.get("val"), b.meta.get("val")
    if va is None or vb is None:
        return False
    if hasattr(va, "dtype") and hasattr(vb, "dtype"):
        return va.dtype == vb.dtype and va.dim() == vb.dim()
    return type(va) is type(vb) or (isinstance(va, int) and isinstance(vb, int))


def align(A: Any, B: Any, m: int, min_k: int) -> tuple[int, list[tuple[int, int]]] | None:
    """The common tail of traces A and B (which share nodes up to position m):
    its length K (counted from the end, the output node included) and the join
    pairs of positions; None when no tail of at least ``min_k`` nodes works."""
    LA, LB = A.nodes, B.nodes
    nA, nB = len(LA), len(LB)
    limit = min(nA, nB) - m - 1
    K = 0
    while K < limit and _signature(LA[nA - 1 - K]) == _signature(LB[nB - 1 - K]):
        K += 1
    while K >= min_k and K > 0:
        sA, sB = nA - K, nB - K
        joins: dict[int, int] = {}
        bad = -1
        for j in range(K):
            a, b = LA[sA + j], LB[sB + j]
            xa, xb = _node_args(a), _node_args(b)
            for x, y in zip(xa, xb):
                px, py = A.pos[x], B.pos[y]
                if px >= sA and py >= sB:
                    if px - sA != py - sB:
                        bad = j
                        break
                elif px < sA and py < sB:
                    if px == py and px <= m:
                        continue
                    if px <= m or joins.get(px, py) != py or not _compatible(x, y) \
                            or isinstance(x.meta.get("val"), (list, tuple)):
                        bad = j
                        break
                    joins[px] = py
                else:
                    bad = j
                    break
            if bad >= 0:
                break
        if bad < 0:
            return K, sorted(joins.items())
        K = K - bad - 1
    return None
