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

import dataclasses
import hashlib
from typing import Any

import torch
import torch.fx as fx


def _const_key(n: fx.Node) -> Any:
    """A get_attr node's tensor by value (dtype, shape, a digest of the bytes).

    Constants are compared by value, never by name: each trace names its
    constants ``_tensor_constant0, 1, ...`` in the order it made them, and a
    constant chosen inside a branch (``scale = torch.tensor(100.0)`` on one
    side, ``torch.tensor(1.0)`` on the other) must not pass for the same node
    in the code after it."""
    key = n.meta.get("onnxkit_const_key")
    if key is None:
        gm = n.graph.owning_module
        t = getattr(gm, n.target, None) if gm is not None else None
        if isinstance(t, torch.Tensor):
            data = t.detach().cpu().contiguous()
            raw = data.reshape(-1).view(torch.uint8).numpy().tobytes() if data.numel() else b""
            key = (str(t.dtype), tuple(t.shape), hashlib.sha1(raw).hexdigest())
        else:
            key = ("object", id(t))
        n.meta["onnxkit_const_key"] = key
    return key


def _signature(n: fx.Node) -> Any:
    def shape(a: Any) -> Any:
        if isinstance(a, fx.Node):
            return "<node>"
        if isinstance(a, (list, tuple)):
            return (type(a).__name__, tuple(shape(x) for x in a))
        if isinstance(a, dict):
            return tuple((k, shape(v)) for k, v in a.items())
        return (type(a).__name__, repr(a))

    return (n.op, n.target if n.op != "get_attr" else _const_key(n), shape(n.args), shape(n.kwargs))


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


# ---------------------------------------------------------------- later decisions after a join
#
# align() proves that rep and oth run the same code after the join *on the
# path both take later* (their later decisions agree).  A later decision's
# other side is then traced from rep only (one trace per decision, not one
# per combination), and written once, after the join, for inputs of either
# side.  That is right when that code reads only values the join returns (or
# its own, or the graph's inputs) — not when it reads a value from before the
# join that the tail of rep and oth did not: ``if a: s = 2.0`` ... ``if b: s =
# 3.0 else: y = x * s`` — on the path both took, ``s`` was overwritten and never
# joined — nor when a Python value set in an earlier branch (a counter, a flag)
# changes the code on the later decision's other side.  Two checks, each
# costing a trace of the program:
#
# * :func:`reads_before_join` spots reads of values from before a join; the
#   converter traces the same later path from that join's other side and
#   :func:`same_continuation` checks that it mirrors rep's node for node,
#   reading the corresponding values;
# * for every later decision, the run that takes the other side of every
#   earlier join and then this side (:func:`all_other_sides`) must run the
#   same ops with the same constants (:func:`same_code_after`).
#
# If either fails, the converter writes every side out to the end instead
# (merge=False: one trace per path, always right).  The checks compare runs
# that flip one decision or all earlier ones at once, not every combination: a
# program whose later code depends on a combination of earlier sides that
# neither run shows (and cancels out in both) would pass them.


@dataclasses.dataclass
class Merge:
    rep: Any
    oth: Any
    m: int                  # position of the decision (shared by both)
    s_rep: int              # where the common tail starts in rep
    s_oth: int              # ... and in oth
    joins: dict             # rep position -> oth position, values the If returns
    shared: set             # prefix positions both tails read at the same place
    k_rep: int              # decisions of rep before the tail
    k_oth: int              # decisions of oth before the tail


def merge_record(A: Any, B: Any, m: int, K: int, joins: list[tuple[int, int]]) -> Merge:
    sA, sB = len(A.nodes) - K, len(B.nodes) - K
    shared: set[int] = set()
    for j in range(K):
        for x, y in zip(_node_args(A.nodes[sA + j]), _node_args(B.nodes[sB + j])):
            px, py = A.pos[x], B.pos[y]
            if px == py and px <= m:
                shared.add(px)
    k_rep = sum(1 for p in A.markers if p < sA)
    k_oth = sum(1 for p in B.markers if p < sB)
    return Merge(A, B, m, sA, sB, dict(joins), shared, k_rep, k_oth)


def follows(M: Merge, t: Any, start: int) -> bool:
    """Whether nodes [start, ...) of trace t (another trace than M.rep) are code
    after M's join: t took rep's decisions up to the join, and start is past it."""
    return t is not M.rep and start >= M.s_rep and t.path[:M.k_rep] == M.rep.path[:M.k_rep]


def reads_before_join(M: Merge, t: Any, start: int, end: int) -> bool:
    """Whether t's nodes [start, end) read a value from before M's join other than
    a joined one or a graph input / weight.  (A Python variable bound to one
    input or weight on one side of M and to another on the other, and read only
    on a later decision's other side, is the case this lets through.)"""
    for i in range(start, min(end, len(t.nodes))):
        for a in _node_args(t.nodes[i]):
            q = t.pos[a]
            if q >= M.s_rep or q in M.joins or t.nodes[q].op == "placeholder":
                continue
            return True
    return False


def oth_path(M: Merge, t: Any) -> list[bool]:
    """The decisions of the run that takes oth's side of M and then t's."""
    return M.oth.path[:M.k_oth] + t.path[M.k_rep:]


def same_continuation(M: Merge, t: Any, u: Any, start: int, end: int) -> bool:
    """Whether u (oth's side, then t's decisions) runs nodes [start, end) of t
    node for node, reading the corresponding values: the same tail node, the
    same prefix node, or the two values of one join."""
    off = M.s_oth - M.s_rep
    if len(u.nodes) - len(t.nodes) != off:
        return False
    for i in range(start, min(end, len(t.nodes))):
        a, b = t.nodes[i], u.nodes[i + off]
        if _signature(a) != _signature(b):
            return False
        for x, y in zip(_node_args(a), _node_args(b)):
            q, r = t.pos[x], u.pos[y]
            if q >= M.s_rep:
                if r != q + off:
                    return False
            elif q <= M.m:
                if r != q:
                    return False
            elif M.joins.get(q) != r:
                return False
    return True


def all_other_sides(merges: list[Merge], t: Any) -> list[bool]:
    """The decisions of the run that takes the other side of every merge in
    ``merges`` (all joins on t's way, earliest first) and then t's own."""
    p = list(t.path)
    for M in sorted(merges, key=lambda M: M.m, reverse=True):
        p = M.oth.path[:M.k_oth] + p[M.k_rep:]
    return p


def same_code_after(t: Any, start: int, u: Any, u_start: int) -> bool:
    """Whether u runs, from u_start to its end, the same ops with the same
    constant arguments as t from start: a Python value set on one side of an
    earlier branch (a counter, a flag) and used after a later decision shows
    up as a different constant or a different op."""
    a, b = t.nodes[start:], u.nodes[u_start:]
    return len(a) == len(b) and all(_signature(x) == _signature(y) for x, y in zip(a, b))
