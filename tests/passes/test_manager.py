"""The pass manager and ``onnxkit.optimize``: levels, fixed point, copies that
share weights, the command line, and models past 2 GiB optimized without
reading their weights."""

from __future__ import annotations

import os
import resource

import numpy as np
import pytest

import onnxkit
from onnxkit import GraphBuilder
from onnxkit.ir import ExternalTensor, Graph, Model, Node, Value, clone_model
from onnxkit.passes import LEVELS, Pass, PassManager, optimize, passes_for


def _model():
    b = GraphBuilder("g")
    x = b.input("x", "float", ["n", 4])
    w = b.initializer(np.arange(16, dtype=np.float32).reshape(4, 4), "w")
    y = b.node("Identity", b.node("MatMul", x, w))
    b.node("Relu", x)                                   # dead
    b.output(b.node("Relu", y), "y", dtype="float", shape=["n", 4])
    return b.model(opset=21)


class _CountDown(Pass):
    """Removes one Identity per round, to see the manager iterate."""
    name = "count-down"

    def apply(self, graph, model, opsets):
        for n in graph:
            if n.op_type == "Identity":
                n.outputs[0].replace_all_uses_with(n.inputs[0])
                graph.remove(n)
                return True
        return False


def test_manager_runs_to_a_fixed_point_and_reports():
    b = GraphBuilder("g")
    x = b.input("x", "float", [2])
    y = x
    for _ in range(4):
        y = b.node("Identity", y)
    b.output(b.node("Neg", y), "y")
    m = b.model(opset=21)
    rep = PassManager([_CountDown()], max_rounds=10)(m)
    assert rep.rounds == 5 and rep.changes == {"count-down": 4}
    assert [n.op_type for n in m.graph] == ["Neg"] and rep.nodes_before == 5 and rep.nodes_after == 1
    assert "5 -> 1 nodes" in str(rep)


def test_levels_are_cumulative_and_unknown_levels_refused():
    names = [[p.name for p in passes_for(level)] for level in LEVELS]
    assert names[0] == []
    for lower, higher in zip(names, names[1:]):
        assert set(lower) <= set(higher)
    assert names[1], "the basic level has passes"
    with pytest.raises(ValueError, match="unknown optimization level 'fast'"):
        optimize(_model(), "fast")
    assert [p.name for p in passes_for(2)] == names[2]


def test_optimize_copies_and_keeps_results():
    m = _model()
    before = [n.op_type for n in m.graph]
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    want = onnxkit.Session(m, optimize="none").run(None, {"x": x})[0]
    for level in LEVELS:
        o = optimize(m, level)
        assert o is not m and [n.op_type for n in m.graph] == before      # the original is untouched
        np.testing.assert_allclose(onnxkit.Session(o, optimize="none").run(None, {"x": x})[0], want,
                                   rtol=1e-6)
        if level in ("basic", "extended"):
            assert [n.op_type for n in o.graph] == ["MatMul", "Relu"]
        if level == "runtime":               # onnxkit's own kernel: product and activation in one
            assert [(n.domain, n.op_type) for n in o.graph] == [("ai.onnxkit", "FusedMatMul")]
        if level != "none":
            # the copy shares the weight's tensor object: nothing copied
            assert o.graph.initializers["w"].const_value is m.graph.initializers["w"].const_value
    same, rep = optimize(m, "basic", inplace=True, report=True)
    assert same is m and rep.nodes_after == 2


def test_clone_model_is_independent_but_shares_tensors():
    m = _model()
    c = clone_model(m)
    assert [n.op_type for n in c.graph] == [n.op_type for n in m.graph]
    cn = next(iter(c.graph))
    assert cn is not next(iter(m.graph)) and cn.inputs[0] is c.graph.inputs[0]
    assert c.graph.initializers["w"] is not m.graph.initializers["w"]
    assert c.graph.initializers["w"].const_value is m.graph.initializers["w"].const_value
    assert onnxkit.to_bytes(c) == onnxkit.to_bytes(m)


def test_clone_keeps_subgraph_outer_reads_on_the_copy():
    text = """
    <ir_version: 10, opset_import: ["" : 21]>
    g (bool c, float[2] x) => (float[2] y) {
        y = If (c) <then_branch = t () => (float[2] a) { a = Neg (x) },
                    else_branch = e () => (float[2] b) { b = Identity (x) }>
    }
    """
    m = onnxkit.parse(text)
    c = clone_model(m)
    [if_node] = list(c.graph)
    inner = next(iter(if_node.attributes["then_branch"].value))
    assert inner.inputs[0] is c.graph.inputs[1]
    x = np.array([1, -2], np.float32)
    for cond in (True, False):
        np.testing.assert_array_equal(
            onnxkit.Session(c, optimize="none").run(None, {"c": np.array(cond), "x": x})[0],
            -x if cond else x)


def test_cli_optimize(tmp_path, capsys):
    from onnxkit.cli import main
    src, out = tmp_path / "m.onnx", tmp_path / "o.onnx"
    onnxkit.save(_model(), src)
    assert main(["optimize", str(src), str(out), "--level", "basic"]) == 0
    text = capsys.readouterr().out
    assert "nodes in" in text and f"wrote {out}" in text
    o = onnxkit.load(out)
    assert [n.op_type for n in o.graph] == ["MatMul", "Relu"]
    onnxkit.check(o)
    assert main(["optimize", str(src), str(out), "--level", "turbo"]) == 2


def test_model_past_2_gib_is_optimized_without_reading_its_weights(tmp_path, monkeypatch):
    # a 2.5 GiB weight in a sparse file: no disk space used, and any read of it
    # through the tensor is counted
    n_rows, dim = 655_360, 1024
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(n_rows * dim * 4)
    w = Value("w", dtype=1, shape=[n_rows, dim],
              const_value=ExternalTensor("big.bin", 0, n_rows * dim * 4, 1, [n_rows, dim], str(tmp_path), name="w"))
    ids = Value("ids", dtype=7, shape=["k"])
    g1 = Node("Gather", [w, ids], 1)
    g2 = Node("Gather", [w, ids], 1)                  # a duplicate (CSE merges it)
    s = Node("Add", [g1.outputs[0], g2.outputs[0]], [Value("y", dtype=1, shape=["k", dim])])
    idn = Node("Identity", [w], 1)                    # a no-op on the weight, read by nobody
    m = Model(Graph([ids], [s.outputs[0]], [g1, g2, s, idn], initializers=[w]), opset_imports={"": 21})
    # pages of the file read through the map would show in the peak RSS
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for level in ("extended", "runtime"):
        o, rep = optimize(m, level, report=True, fold_limit=1 << 20)
        assert [n.op_type for n in o.graph] == ["Gather", "Add"], rep
        assert o.graph.initializers["w"].const_value is w.const_value
    # and it runs, touching only the rows it gathers
    y = onnxkit.Session(o).run(None, {"ids": np.array([0, n_rows - 1], np.int64)})[0]
    assert y.shape == (2, dim) and not y.any()
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) / 1024
    assert grown_mb < 500, f"peak memory grew by {grown_mb:.0f} MB for a 2.5 GiB model"
    assert os.path.getsize(big) > 2 << 30
