"""onnxkit.diff on models with known edits: each edit is reported as what it
is (an attribute, an added node, a renamed node matched by structure, a
weight with its exact largest difference, a subgraph, a function), and
nothing else is; a model and itself are equal without reading weights."""

from __future__ import annotations

import json

import numpy as np
import pytest

import onnxkit
from onnxkit.diff import ModelDiff
from onnxkit.ir import ProtoTensor, Tensor

HEAD = '<ir_version: 10, opset_import: ["" : 21]>\n'

BASE = HEAD + '''g (float[2,8] x) => (float[2,8] y) <float[8] w = {1,2,3,4,5,6,7,8}> {
  [relu1] a = Relu(x)
  [add1] b = Add(a, w)
  [sm] y = Softmax<axis=1>(b)
}'''


def _nodes(d: ModelDiff, status: str) -> list[dict]:
    return [e for e in d.nodes if e["status"] == status]


def _only_change(d: ModelDiff) -> dict:
    changed = [e for e in d.nodes if e["status"] != "same"]
    assert len(changed) == 1, changed
    return changed[0]


def test_equal_to_itself():
    d = onnxkit.diff(onnxkit.parse(BASE), onnxkit.parse(BASE))
    assert d.equal and not d
    assert [e["status"] for e in d.nodes] == ["same"] * 3
    assert [w["status"] for w in d.weights] == ["same"]
    assert "equal" in d.summary()
    json.dumps(d.to_dict())


def test_attribute_change():
    d = onnxkit.diff(onnxkit.parse(BASE), onnxkit.parse(BASE.replace("axis=1", "axis=0")))
    assert not d.equal
    e = _only_change(d)
    assert e["status"] == "changed" and e["a"]["name"] == "sm" and e["b"]["name"] == "sm"
    assert e["changes"] == ["attribute axis: 1 -> 0"]
    assert "attribute axis: 1 -> 0" in d.summary()


def test_added_node():
    edited = BASE.replace("[add1] b = Add(a, w)", "[neg] n = Neg(a)\n  [add1] b = Add(n, w)")
    d = onnxkit.diff(onnxkit.parse(BASE), onnxkit.parse(edited))
    added = _nodes(d, "added")
    assert [(e["b"]["name"], e["b"]["op_type"], e["b"]["index"]) for e in added] == [("neg", "Neg", 1)]
    changed = _nodes(d, "changed")
    assert [e["a"]["name"] for e in changed] == ["add1"]
    assert changed[0]["changes"] == ["input 0: 'a' -> 'n'"]
    assert not _nodes(d, "removed") and not d.fusions


def test_removed_node_and_renamed_values():
    edited = BASE.replace("[add1] b = Add(a, w)\n  [sm] y = Softmax<axis=1>(b)", "[sm] y = Softmax<axis=1>(a)")
    d = onnxkit.diff(onnxkit.parse(BASE), onnxkit.parse(edited))
    assert [e["a"]["name"] for e in _nodes(d, "removed")] == ["add1"]
    assert [(e["a"]["name"], e["changes"]) for e in _nodes(d, "changed")] == [("sm", ["input 0: 'b' -> 'a'"])]
    assert d.fusions[0]["kind"] == "bypassed" and d.fusions[0]["b"] == []
    assert "bypassed: 1 node removed, readers read their input (add1 (Add))" in d.summary()


def test_renamed_node_is_matched_by_structure():
    # every node and value renamed: matched through the inputs, the weight by its slot
    edited = (HEAD + '''g (float[2,8] x) => (float[2,8] y) <float[8] weight = {1,2,3,4,5,6,7,8}> {
  [first] p = Relu(x)
  [second] q = Add(p, weight)
  [sm] y = Softmax<axis=1>(q)
}''')
    d = onnxkit.diff(onnxkit.parse(BASE), onnxkit.parse(edited))
    statuses = [(e["status"], e["a"]["name"], e["b"]["name"]) for e in d.nodes]
    assert statuses == [("changed", "relu1", "first"), ("changed", "add1", "second"), ("same", "sm", "sm")]
    assert d.nodes[0]["changes"] == ["renamed 'relu1' -> 'first'"]
    assert d.weights == [{"name": "w", "b_name": "weight", "graph": "main", "a_shape": [8], "b_shape": [8],
                          "dtype": "float32", "max_abs": 0.0, "max_rel": 0.0, "differing": 0,
                          "status": "same"}]


def test_same_name_other_op_is_not_a_match():
    edited = BASE.replace("[relu1] a = Relu(x)", "[relu1] a = Sigmoid(x)")
    d = onnxkit.diff(onnxkit.parse(BASE), onnxkit.parse(edited))
    assert [e["a"]["op_type"] for e in _nodes(d, "removed")] == ["Relu"]
    assert [e["b"]["op_type"] for e in _nodes(d, "added")] == ["Sigmoid"]


def test_changed_weight_exact_difference():
    rng = np.random.default_rng(0)
    wa = rng.standard_normal((16, 8)).astype(np.float32)
    wb = wa.copy()
    wb[3, 5] += np.float32(0.25)
    wb[7, 1] = -wa[7, 1]                                  # relative difference 2
    text = HEAD + '''g (float[2,16] x) => (float[2,8] y) {
  [mm] y = MatMul(x, w)
}'''
    a, b = onnxkit.parse(text), onnxkit.parse(text)
    a.graph.add_initializer(onnxkit.Value("w", const_value=Tensor(wa, "w")))
    b.graph.add_initializer(onnxkit.Value("w", const_value=Tensor(wb, "w")))
    a.graph.nodes[0].set_input(1, a.graph.initializers["w"])
    b.graph.nodes[0].set_input(1, b.graph.initializers["w"])
    d = onnxkit.diff(a, b)
    assert not d.equal and all(e["status"] == "same" for e in d.nodes)
    (w,) = d.weights
    x, y = wa.astype(np.float64), wb.astype(np.float64)
    want_abs = float(np.abs(x - y).max())
    want_rel = float((np.abs(x - y) / np.maximum(np.abs(x), np.abs(y))).max())
    assert w["status"] == "changed" and w["differing"] == 2
    assert w["max_abs"] == want_abs and w["max_rel"] == want_rel == 2.0
    assert w["a_shape"] == w["b_shape"] == [16, 8]
    s = d.summary()
    assert "different (weights only)" in s and f"max abs {want_abs:.3g}" in s
    # a reshaped weight: shapes, no values
    b.graph.initializers["w"].const_value = Tensor(np.zeros((16, 4), np.float32), "w")
    (w,) = onnxkit.diff(a, b).weights
    assert w["status"] == "shape" and w["b_shape"] == [16, 4] and w["max_abs"] is None


def test_weights_false_reads_no_tensor(tmp_path, monkeypatch):
    m = onnxkit.parse(BASE)
    m.graph.initializers["w"].const_value = Tensor(np.linspace(0, 1, 8, dtype=np.float32), "w")
    onnxkit.save(m, tmp_path / "a.onnx")       # raw bytes in the file
    m.graph.initializers["w"].const_value = Tensor(np.arange(8, dtype=np.float32), "w")
    onnxkit.save(m, tmp_path / "b.onnx")

    def refuse(self, *a, **k):
        raise AssertionError("a tensor was read")

    monkeypatch.setattr(ProtoTensor, "numpy", refuse)
    monkeypatch.setattr(ProtoTensor, "raw_view", refuse)
    d = onnxkit.diff(tmp_path / "a.onnx", tmp_path / "b.onnx", weights=False)
    assert d.equal and [w["status"] for w in d.weights] == ["unchecked"]
    # the same file twice: the same bytes, known without reading them
    d = onnxkit.diff(tmp_path / "a.onnx", tmp_path / "a.onnx")
    assert d.equal and [w["status"] for w in d.weights] == ["same"]


def test_external_data_same_range_is_not_read(tmp_path, monkeypatch):
    from onnxkit.ir import ExternalTensor
    rng = np.random.default_rng(1)
    text = HEAD + '''g (float[2,64] x) => (float[2,64] y) {
  [mm] y = MatMul(x, w)
}'''
    m = onnxkit.parse(text)
    w = rng.standard_normal((64, 64)).astype(np.float32)
    m.graph.add_initializer(onnxkit.Value("w", const_value=Tensor(w, "w")))
    m.graph.nodes[0].set_input(1, m.graph.initializers["w"])
    onnxkit.save(m, tmp_path / "a.onnx", external_data=True)
    a = onnxkit.load(tmp_path / "a.onnx")
    assert isinstance(a.graph.initializers["w"].const_value, ExternalTensor)
    # a second model file naming the same external bytes
    (tmp_path / "b.onnx").write_bytes((tmp_path / "a.onnx").read_bytes())
    calls = []
    real = ExternalTensor.raw_view
    monkeypatch.setattr(ExternalTensor, "raw_view", lambda self: calls.append(self.name) or real(self))
    d = onnxkit.diff(tmp_path / "a.onnx", tmp_path / "b.onnx")
    assert d.equal and calls == []
    # other bytes in another folder: read and measured
    other = tmp_path / "other"
    other.mkdir()
    b = onnxkit.load(tmp_path / "a.onnx")
    wb = b.graph.initializers["w"].const_value.numpy().copy()
    wb[0, 0] += 1.0
    b.graph.initializers["w"].const_value = Tensor(wb, "w")
    onnxkit.save(b, other / "b.onnx", external_data=True)
    d = onnxkit.diff(tmp_path / "a.onnx", other / "b.onnx")
    (w,) = d.weights
    assert w["status"] == "changed" and w["differing"] == 1 and calls
    assert abs(w["max_abs"] - 1.0) < 1e-6


IF_MODEL = HEAD + '''g (bool c, float[4] x) => (float[4] y) {
  [gate] y = If(c) <then_branch = t () => (float[4] ty) { [t_relu] ty = Relu(x) },
                    else_branch = e () => (float[4] ey) { [e_neg] ey = Neg(x) }>
}'''


def test_subgraph_changes():
    edited = IF_MODEL.replace("[e_neg] ey = Neg(x)", "[e_neg] en = Neg(x)\n [e_abs] ey = Abs(en)")
    d = onnxkit.diff(onnxkit.parse(IF_MODEL), onnxkit.parse(edited))
    assert not d.equal
    gate = next(e for e in d.nodes if e["a"] and e["a"]["name"] == "gate")
    assert gate["status"] == "changed"
    assert gate["changes"][0].startswith("else_branch: the subgraph differs")
    added = _nodes(d, "added")
    assert [(e["b"]["graph"], e["b"]["name"]) for e in added] == [("main/gate.else_branch", "e_abs")]
    inner = next(e for e in d.nodes if e["a"] and e["a"]["name"] == "t_relu")
    assert inner["status"] == "same" and inner["a"]["graph"] == "main/gate.then_branch"
    # a change of the outer value a subgraph reads is seen through the outer match
    outer = IF_MODEL.replace("g (bool c, float[4] x)", "g (bool c, float[4] x, float[4] z)") \
        .replace("ty = Relu(x)", "ty = Relu(z)")
    d = onnxkit.diff(onnxkit.parse(IF_MODEL), onnxkit.parse(outer))
    relu = next(e for e in d.nodes if e["a"] and e["a"]["name"] == "t_relu")
    assert relu["changes"] == ["input 0: 'x' -> 'z'"]
    assert d.model["inputs"] == ["added 'z': float[4]"]


FUNC_MODEL = '''<ir_version: 10, opset_import: ["" : 21, "local" : 1]>
g (float[4] x) => (float[4] y) {
  [call] y = local.act(x)
}
<domain: "local", opset_import: ["" : 21]>
act (a) => (b) { [f_tanh] b = Tanh(a) }
'''


def test_function_changes():
    edited = FUNC_MODEL.replace("Tanh", "Sigmoid")
    d = onnxkit.diff(onnxkit.parse(FUNC_MODEL), onnxkit.parse(edited))
    assert not d.equal
    assert d.model["functions"]["changed"] == {"local.act": ["2 node(s) differ"]}
    path = {e["a"]["graph"] for e in _nodes(d, "removed")}
    assert path == {"function:local.act"}
    renamed = FUNC_MODEL.replace("act (a)", "act2 (a)").replace("local.act(x)", "local.act2(x)")
    d = onnxkit.diff(onnxkit.parse(FUNC_MODEL), onnxkit.parse(renamed))
    assert d.model["functions"] == {"added": ["local.act2"], "removed": ["local.act"]}
    assert "functions added: local.act2" in d.summary()


def test_model_fields():
    edited = BASE.replace("ir_version: 10", "ir_version: 9").replace('"" : 21', '"" : 20')
    b = onnxkit.parse(edited)
    b.metadata_props["author"] = "me"
    b.producer_name = "other"
    d = onnxkit.diff(onnxkit.parse(BASE), b)
    assert d.model["ir_version"] == [10, 9]
    assert d.model["opsets"] == {"ai.onnx": [21, 20]}
    assert d.model["metadata"] == {"producer_name": ["", "other"], "author": [None, "me"]}
    assert all(e["status"] == "same" for e in d.nodes) and not d.equal
    s = d.summary()
    assert "ir_version: 10 -> 9" in s and "opset ai.onnx: 21 -> 20" in s


def test_retyped_input_and_output_order():
    edited = BASE.replace("g (float[2,8] x)", "g (float[3,8] x)")
    d = onnxkit.diff(onnxkit.parse(BASE), onnxkit.parse(edited))
    assert d.model["inputs"] == ["'x': float[2,8] -> float[3,8]"]


def test_bad_source():
    with pytest.raises(onnxkit.OnnxkitError, match="cannot read"):
        onnxkit.diff(onnxkit.parse(BASE), "/nonexistent/model.onnx")
    with pytest.raises(onnxkit.OnnxkitError, match="model B is a int"):
        onnxkit.diff(onnxkit.parse(BASE), 3)


def test_nan_and_infinity_in_weights():
    text = HEAD + '''g (float[2,4] x) => (float[2,4] y) {
  [add] y = Add(x, w)
}'''
    wa = np.array([np.nan, 1.0, np.inf, 2.0], np.float32)

    def model(w):
        m = onnxkit.parse(text)
        m.graph.add_initializer(onnxkit.Value("w", const_value=Tensor(w, "w")))
        m.graph.nodes[0].set_input(1, m.graph.initializers["w"])
        return m

    # NaN where both have NaN and equal infinities are equal; only the 2.0 -> 2.5 differs
    (w,) = onnxkit.diff(model(wa), model(np.array([np.nan, 1.0, np.inf, 2.5], np.float32))).weights
    assert (w["status"], w["max_abs"], w["max_rel"], w["differing"]) == ("changed", 0.5, 0.2, 1)
    # NaN on one side only: an infinite difference, written "inf" in JSON
    d = onnxkit.diff(model(wa), model(np.array([0.0, 1.0, np.inf, 2.0], np.float32)))
    (w,) = d.to_dict()["weights"]
    assert (w["max_abs"], w["max_rel"], w["differing"]) == ("inf", "inf", 1)
    json.loads(json.dumps(d.to_dict(), allow_nan=False))


def test_defaults_and_float32_attributes_are_not_changes():
    # Softmax's axis written as its default (-1) or left out: one node
    d = onnxkit.diff(onnxkit.parse(BASE.replace("axis=1", "axis=-1")),
                     onnxkit.parse(BASE.replace("<axis=1>", "")))
    assert d.equal, d.nodes
    # an attribute float as written (0.1) and as read back from a file (float32)
    text = HEAD + '''g (float[2] x) => (float[2] y) {
  [lr] y = LeakyRelu<alpha=0.1>(x)
}'''
    m = onnxkit.parse(text)
    back = onnxkit.load(onnxkit.to_bytes(m))
    assert back.graph.nodes[0].attributes["alpha"].value != 0.1
    assert onnxkit.diff(m, back).equal
    d = onnxkit.diff(m, onnxkit.parse(text.replace("0.1", "0.2")))
    assert [e["changes"] for e in d.nodes] == [["attribute alpha: 0.1 -> 0.2"]]


def test_swapped_operands_of_a_commutative_op():
    edited = BASE.replace("b = Add(a, w)", "b = Add(w, a)")
    d = onnxkit.diff(onnxkit.parse(BASE), onnxkit.parse(edited))
    assert d.equal, d.nodes
    renamed = edited.replace("[add1]", "[plus]")
    d = onnxkit.diff(onnxkit.parse(BASE), onnxkit.parse(renamed))
    assert [e["changes"] for e in d.nodes if e["status"] != "same"] == [["renamed 'add1' -> 'plus'"]]
    # not for an op whose operands do not commute
    sub = BASE.replace("Add(a, w)", "Sub(a, w)")
    d = onnxkit.diff(onnxkit.parse(sub), onnxkit.parse(sub.replace("Sub(a, w)", "Sub(w, a)")))
    changes = [e["changes"] for e in d.nodes if e["status"] != "same"]
    assert changes == [["input 0: 'a' -> 'w'", "input 1: 'w' -> 'a'"]]
