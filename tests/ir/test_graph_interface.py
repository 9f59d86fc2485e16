"""The IR tracks where a value is a graph input or output, and a graph's node
list may be changed (nodes removed and inserted again) while it is iterated."""

from __future__ import annotations

import pytest

from onnxkit.errors import IRError
from onnxkit.ir import Graph, Node, Value


def _chain(n: int):
    x = Value("x")
    vals, nodes = [x], []
    for i in range(n):
        node = Node("Relu", [vals[-1]], [Value(f"v{i}")], name=f"n{i}")
        nodes.append(node)
        vals.append(node.outputs[0])
    return Graph([x], [vals[-1]], nodes), nodes, vals


def test_inputs_and_outputs_are_tracked_however_the_lists_change():
    g, nodes, vals = _chain(3)
    x, out = vals[0], vals[-1]
    assert x.is_graph_input() and x.is_graph_input(g) and not x.is_graph_output()
    assert out.is_graph_output(g) and out.output_of() == [g]
    g.outputs.append(vals[1])
    assert vals[1].is_graph_output()
    g.outputs[1] = vals[2]
    assert not vals[1].is_graph_output() and vals[2].is_graph_output()
    g.outputs.pop()
    assert not vals[2].is_graph_output()
    g.outputs = [vals[1], vals[1]]
    assert not out.is_graph_output() and vals[1].is_graph_output()
    g.outputs.remove(vals[1])
    assert vals[1].is_graph_output()                  # listed twice, once left
    del g.outputs[:]
    assert not vals[1].is_graph_output()
    g.outputs.extend([out])
    g.outputs += [vals[1]]
    g.outputs.insert(0, vals[2])
    assert g.outputs == [vals[2], out, vals[1]] and all(v.is_graph_output(g) for v in g.outputs)
    g.outputs.clear()
    assert not any(v.is_graph_output() for v in vals)
    g.inputs = []
    assert not x.is_graph_input()
    with pytest.raises(IRError):
        g.outputs.append("y")


def test_a_value_output_by_a_subgraph_is_a_graph_output():
    outer = Value("outer")
    body = Graph([], [outer])
    other = Graph([], [])
    assert outer.is_graph_output() and outer.is_graph_output(body) and not outer.is_graph_output(other)


def test_replace_all_uses_with_graph_outputs():
    g, nodes, vals = _chain(2)
    y = Value("y")
    vals[2].replace_all_uses_with(y)
    assert g.outputs[0] is vals[2]                    # readers only, by default
    vals[2].replace_all_uses_with(y, replace_graph_outputs=True)
    assert g.outputs[0] is y and y.is_graph_output(g) and not vals[2].is_graph_output()
    assert y.name == "y"                              # names are the caller's business
    body = Graph([], [vals[1]])
    vals[1].replace_all_uses_with(y, replace_graph_outputs=True)
    assert body.outputs[0] is y and nodes[1].inputs[0] is y


def test_safe_remove_refuses_a_graph_output_of_a_subgraph():
    g, nodes, vals = _chain(2)
    g.outputs = [vals[2]]
    nodes[1].outputs[0].replace_all_uses_with(Value("z"), replace_graph_outputs=True)
    g.remove(nodes[1])                                # nothing reads it any more
    Graph([], [vals[1]])                              # a body passing vals[1] through
    vals[1].replace_all_uses_with(Value("w"))
    with pytest.raises(IRError, match="graph output"):
        g.remove(nodes[0])


def test_remove_and_reinsert_the_current_node_while_iterating():
    g, nodes, _ = _chain(5)
    seen = []
    for n in g:
        seen.append(n.name)
        if n.name == "n1":                            # move the node we stand on to the end
            g.remove(n, safe=False)
            g.append(n)
    assert seen == ["n0", "n1", "n2", "n3", "n4", "n1"]
    assert [n.name for n in g] == ["n0", "n2", "n3", "n4", "n1"]
    assert len(g) == 5


def test_reinsert_earlier_while_iterating_is_not_visited_again():
    g, nodes, _ = _chain(4)
    seen = []
    for n in g:
        seen.append(n.name)
        if n.name == "n2":
            g.remove(n, safe=False)
            g.insert_before(nodes[0], n)              # moved behind the cursor: not visited again
            g.remove(nodes[3], safe=False)            # removed ahead of the cursor: skipped
            g.insert_after(nodes[1], nodes[3])        # re-inserted behind it: not visited
    assert seen == ["n0", "n1", "n2"]
    assert [n.name for n in g] == ["n2", "n0", "n1", "n3"]


def test_remove_many_while_iterating_terminates():
    g, nodes, _ = _chain(6)
    seen = []
    for n in g:
        seen.append(n.name)
        if n.name == "n1":
            for m in nodes[1:4]:
                g.remove(m, safe=False)
            g.insert_after(nodes[4], nodes[2])
    assert seen == ["n0", "n1", "n4", "n2", "n5"]
    assert [n.name for n in g] == ["n0", "n4", "n2", "n5"]
