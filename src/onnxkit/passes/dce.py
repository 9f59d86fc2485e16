"""Dead code elimination: drop nodes and initializers nothing reads.

A node is dead when none of its outputs is read by any node (a reader inside
a subgraph counts, since its use is recorded on the outer value) and none is
an output of any graph (a subgraph may output an outer value directly, with
no node reading it).  An initializer is dead when nobody reads it and it is
neither a graph input (it can be fed) nor a graph output.

One sweep, readers before producers: nodes are visited last to first, so
removing a reader can make its producer dead in the same sweep.  A node that
stays has its subgraphs swept before earlier nodes are looked at, so a dead
reader inside a branch frees the outer value it read.
"""

from __future__ import annotations

from ..ir import Graph, Model, Node
from ._base import Pass

__all__ = ["DeadCodeElimination"]


class DeadCodeElimination(Pass):
    """Remove nodes none of whose outputs are used, and unused initializers."""

    name = "dce"

    def __call__(self, model: Model) -> bool:
        tops = [model.graph] + [f.graph for f in model.functions]
        outputs: set[int] = set()
        for top in tops:
            for g in top.all_graphs():
                outputs.update(id(v) for v in g.outputs)
        changed = False
        for top in tops:
            changed |= _sweep(top, outputs)
        return changed


def _sweep(graph: Graph, outputs: set[int]) -> bool:
    changed = False
    for node in reversed(list(graph)):
        if node.graph is not graph:
            continue
        if any(v._uses or id(v) in outputs for v in node.outputs):
            for sub in node.subgraphs():
                changed |= _sweep(sub, outputs)
            continue
        _drop(node)
        changed = True
    for name, v in list(graph.initializers.items()):
        if not v._uses and id(v) not in outputs and not any(x is v for x in graph.inputs):
            del graph.initializers[name]
            changed = True
    return changed


def _drop(node: Node) -> None:
    """Remove ``node``; the reads of its subgraphs' nodes go with it, so the
    outer values they read no longer count them as uses."""
    for sub in node.subgraphs():
        for inner in sub.all_nodes():
            inner._drop_inputs()
    node.graph.remove(node, safe=False)
