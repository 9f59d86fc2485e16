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
from ._base import Pass, PostconditionError

__all__ = ["DeadCodeElimination"]


class DeadCodeElimination(Pass):
    """Remove nodes none of whose outputs are used, and unused initializers."""

    name = "dce"

    def __call__(self, model: Model) -> bool:
        changed = False
        for top in [model.graph] + [f.graph for f in model.functions]:
            changed |= _sweep(top)
        return changed

    def ensures(self, model: Model) -> None:
        """No node is left whose outputs nobody reads."""
        for top in [model.graph] + [f.graph for f in model.functions]:
            for g in top.all_graphs():
                for node in g:
                    if _dead(node):
                        raise PostconditionError(f"dce left {node!r} in graph {g.name!r}: nothing reads it")


def _dead(node: Node) -> bool:
    return not any(v._uses or v.is_graph_output() for v in node.outputs)


def _sweep(graph: Graph) -> bool:
    changed = False
    for node in reversed(list(graph)):
        if node.graph is not graph:
            continue
        if not _dead(node):
            for sub in node.subgraphs():
                changed |= _sweep(sub)
            continue
        _drop(node)
        changed = True
    for name, v in list(graph.initializers.items()):
        if not v._uses and not v.is_graph_output() and not v.is_graph_input(graph):
            del graph.initializers[name]
            changed = True
    return changed


def _drop(node: Node) -> None:
    """Remove ``node``; the reads and outputs of its subgraphs go with it, so
    the outer values they read or passed through no longer count them."""
    for sub in node.subgraphs():
        for g in sub.all_graphs():
            g.outputs.clear()
        for inner in sub.all_nodes():
            inner._drop_inputs()
    node.graph.remove(node, safe=False)
