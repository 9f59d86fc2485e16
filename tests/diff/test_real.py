"""onnxkit.diff on what people diff: a model against ``onnxkit.optimize`` of it
(each fusion named, with the nodes it replaced), a BERT exported by
torch.onnx against itself, its optimized form and another checkpoint, and
one module exported by torch.onnx and by onnxkit.export."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import onnxkit
from onnxkit.ir import Tensor

H = 8
LN_OPS = ["ReduceMean", "Sub", "Pow", "ReduceMean", "Add", "Sqrt", "Div", "Mul", "Add"]
GELU_OPS = ["Div", "Erf", "Add", "Mul", "Mul"]


def _stack(layers: int) -> onnxkit.Model:
    """``layers`` blocks of a decomposed layer norm, MatMul + Add and an erf GELU,
    their nodes named in scopes ``/layer.i/ln``, ``/layer.i/fc``, ``/layer.i/act``."""
    rng = np.random.default_rng(0)

    def c(name, value):
        return numpy_helper.from_array(np.asarray(value, np.float32), name)

    inits = [c("two", 2.0), c("eps", 1e-5), c("sqrt2", np.sqrt(2.0)), c("one", 1.0), c("half", 0.5),
             numpy_helper.from_array(np.array([-1], np.int64), "axes")]
    nodes = []
    x = "x"
    for i in range(layers):
        p = f"/layer.{i}"
        inits += [c(f"g{i}", rng.uniform(0.5, 1.5, H)), c(f"b{i}", rng.uniform(-0.5, 0.5, H)),
                  c(f"w{i}", rng.standard_normal((H, H)) / 3), c(f"bias{i}", rng.standard_normal(H))]

        def node(op, ins, out, scope, k):
            nodes.append(helper.make_node(op, ins, [f"{p}/{scope}/{out}"], name=f"{p}/{scope}/{op}_{k}"))
            return f"{p}/{scope}/{out}"

        mu = node("ReduceMean", [x, "axes"], "mu", "ln", 0)
        d = node("Sub", [x, mu], "d", "ln", 0)
        sq = node("Pow", [d, "two"], "sq", "ln", 0)
        var = node("ReduceMean", [sq, "axes"], "var", "ln", 1)
        ve = node("Add", [var, "eps"], "ve", "ln", 0)
        sd = node("Sqrt", [ve], "sd", "ln", 0)
        n = node("Div", [d, sd], "n", "ln", 0)
        g = node("Mul", [f"g{i}", n], "g", "ln", 0)
        y = node("Add", [g, f"b{i}"], "y", "ln", 1)
        mm = node("MatMul", [y, f"w{i}"], "mm", "fc", 0)
        fc = node("Add", [mm, f"bias{i}"], "out", "fc", 0)
        u = node("Div", [fc, "sqrt2"], "u", "act", 0)
        e = node("Erf", [u], "e", "act", 0)
        e1 = node("Add", [e, "one"], "e1", "act", 0)
        t = node("Mul", [fc, e1], "t", "act", 0)
        x = node("Mul", [t, "half"], "out", "act", 1)
    nodes.append(helper.make_node("Relu", [x], ["y"], name="/out"))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, H])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, H])], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    m.ir_version = 9
    return onnxkit.load(m.SerializeToString())


def _ops(ids):
    return [x["op_type"] for x in ids]


def test_fusions_of_optimize_are_named():
    a = _stack(3)
    b = onnxkit.optimize(_stack(3), "extended")
    d = onnxkit.diff(a, b)
    assert not d.equal
    fusions = [f for f in d.fusions if f["kind"] == "fusion"]
    got = sorted((f["label"], tuple(_ops(f["a"])), f["a"][0]["name"].split("/")[1]) for f in fusions)
    want = sorted([(label, tuple(ops), f"layer.{i}") for i in range(3)
                   for label, ops in (("LayerNormalization", LN_OPS), ("Gemm", ["MatMul", "Add"]),
                                      ("Gelu", GELU_OPS))])
    assert got == want
    # each group holds exactly the nodes of its scope, and B's node is the one optimize made
    for f in fusions:
        scope = f["a"][0]["name"].rsplit("/", 1)[0]
        assert all(x["name"].startswith(scope + "/") for x in f["a"])
        (new,) = f["b"]
        assert b.graph.nodes[new["index"]].op_type == f["label"]
    # nodes: the fused ones removed/added, the rest the same; every node listed once
    assert len([e for e in d.nodes if e["a"] is not None]) == len(a.graph)
    assert len([e for e in d.nodes if e["b"] is not None]) == len(b.graph)
    in_fusion = {x["index"] for f in fusions for x in f["a"]}
    for e in d.nodes:
        if e["status"] == "removed":
            assert e["a"]["index"] in in_fusion
    summary = d.summary()
    assert f"{', '.join(LN_OPS)} (/layer.{{0..2}}/ln) -> LayerNormalization  \u00d7 3" in summary
    assert f"{', '.join(GELU_OPS)} (/layer.{{0..2}}/act) -> Gelu  \u00d7 3" in summary
    assert "MatMul, Add (/layer.{0..2}/fc) -> Gemm  \u00d7 3" in summary


# ---------------------------------------------------------------- BERT


@pytest.fixture(scope="module")
def bert(exported):
    return exported("bert", "torchscript")


def test_bert_against_itself_and_optimized(bert):
    d = onnxkit.diff(bert, bert)
    assert d.equal and "equal" in d.summary()
    b = onnxkit.optimize(onnxkit.load(bert), "runtime")
    d = onnxkit.diff(bert, b)
    assert not d.equal
    labels = {f["label"] for f in d.fusions if f["kind"] == "fusion"}
    assert "FusedMatMul" in labels and any("Attention" in x for x in labels), labels
    # every removed node of A is accounted for by a group
    grouped = {x["index"] for f in d.fusions for x in f["a"]}
    assert all(e["a"]["index"] in grouped for e in d.nodes if e["status"] == "removed")
    lines = d.summary().splitlines()
    assert len(lines) <= 40, "\n".join(lines)
    assert any("-> FusedMatMul  \u00d7 2" in x for x in lines), "\n".join(lines)


def test_bert_two_checkpoints(bert, tmp_path):
    m = onnxkit.load(bert)
    rng = np.random.default_rng(0)
    want = {}
    for name, v in m.graph.initializers.items():
        arr = v.const_value.numpy()
        if arr.dtype == np.float32 and arr.size > 1:
            new = (arr + rng.normal(0, 0.01, arr.shape)).astype(np.float32)
            v.const_value = Tensor(new, name)
            want[name] = float(np.abs(new.astype(np.float64) - arr.astype(np.float64)).max())
    onnxkit.save(m, tmp_path / "b.onnx")
    d = onnxkit.diff(bert, tmp_path / "b.onnx")
    assert not d.equal
    assert all(e["status"] == "same" for e in d.nodes) and not d.fusions and not d.model
    changed = {w["name"]: w["max_abs"] for w in d.weights if w["status"] == "changed"}
    assert changed == want
    assert {w["status"] for w in d.weights if w["name"] not in want} <= {"same"}
    text = d.summary()
    assert "different (weights only)" in text and "nodes:" not in text
    assert text.count("  changed  ") == min(30, len(want))


def test_torch_and_onnxkit_exports_read_sensibly(tmp_path):
    torch = pytest.importorskip("torch")

    class MLP(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.l1 = torch.nn.Linear(8, 16)
            self.l2 = torch.nn.Linear(16, 4)

        def forward(self, x):
            return torch.softmax(self.l2(torch.relu(self.l1(x))), -1)

    torch.manual_seed(0)
    module, x = MLP().eval(), torch.randn(2, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), tmp_path / "t.onnx", dynamo=False, input_names=["x"],
                          output_names=["y"], opset_version=17)
    mine = onnxkit.export(module, (x,), input_names=["x"], output_names=["y"])
    d = onnxkit.diff(tmp_path / "t.onnx", mine)
    # the same parameters under the same names, the same values
    assert sorted(w["name"] for w in d.weights) == ["l1.bias", "l1.weight", "l2.bias", "l2.weight"]
    assert all(w["status"] == "same" for w in d.weights), d.weights
    assert d.model["metadata"]["producer_name"] == ["pytorch", "onnxkit"]
    # the graph output's producer is matched through the output, whatever its attributes
    soft = [e for e in d.nodes if e["a"] is not None and e["a"]["op_type"] == "Softmax"]
    assert len(soft) == 1 and soft[0]["b"] is not None and soft[0]["b"]["op_type"] == "Softmax"
    # what differs in the middle reads as one rewrite of the Linear layers
    text = d.summary()
    assert "Gemm" in text and len(text.splitlines()) <= 20, text
