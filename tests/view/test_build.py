"""The page data: groups from name scopes, subgraphs and functions; edge labels
against onnx's shape inference; weight summaries against numpy; schema lines
against onnx's schemas; profile and comparison numbers."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnx.defs
import onnx.shape_inference
import pytest

import onnxkit
from onnxkit.ir import DataType, Tensor
from onnxkit.view import compare_nodes, profile_nodes, view_html
from onnxkit.view._build import BLOCK, BLOCKS, EXACT_ELEMENTS, PageData, weight_summary

from .conftest import scoped_model, transformer_like, wrong_relu


def _data(model):
    from onnxkit.infer import infer_shapes
    infer_shapes(model)
    return PageData(model).to_dict()


def _members(d, gi):
    return [("n", d["nodes"][r]) if r >= 0 else ("g", d["groups"][-1 - r]) for r in d["groups"][gi]["it"]]


def _group(d, label):
    [g] = [i for i, g in enumerate(d["groups"]) if g["l"] == label]
    return g


def test_groups_follow_scopes_subgraphs_and_functions():
    m = scoped_model()
    d = _data(m)
    root = _members(d, d["root"])
    assert [x["l"] if k == "g" else x["o"] for k, x in root] == ["Input", "enc", "head", "Output"]
    enc = _group(d, "enc")
    assert [x["l"] for _, x in _members(d, enc)] == ["layer.0", "layer.1", "layer.2"]
    assert d["groups"][enc]["c"] == 9 and d["groups"][_group(d, "head")]["c"] == 8
    # /enc/layer.0/act holds one node: dissolved into layer.0; fc stays a group
    assert [x["l"] if k == "g" else x["o"] for k, x in _members(d, _group(d, "layer.0"))] == ["fc", "Relu"]
    # If: a box that opens onto both branches; the function call onto the body
    [iff] = [g for g in d["groups"] if g["k"] == "node" and g["l"] == "If"]
    assert [d["groups"][-1 - r]["l"] for r in iff["it"]] == ["then_branch", "else_branch"]
    [call] = [g for g in d["groups"] if g["k"] == "node" and g["l"] == "Scale"]
    [body] = [d["groups"][-1 - r] for r in call["it"]]
    assert body["k"] == "function" and {d["nodes"][r]["o"] for r in body["it"] if r >= 0} >= {"Mul"}
    # the Constant is no box: its value is listed in the Add that reads it
    assert all(d["nodes"][r]["o"] != "Constant" for g in d["groups"] if g["k"] != "function"
               for r in g["it"] if r >= 0)
    [add] = [n for n in d["nodes"] if n["n"] == "/head/Add"]
    assert add["i"][1][2] == "const" and add["i"][1][3]["value"] == [0.5]
    # the source line and the weights
    [mm] = [n for n in d["nodes"] if n["n"] == "/enc/layer.0/fc/MatMul"]
    assert mm["s"] == "model.py:12 in forward: h = self.fc(x)"
    w0 = m.graph.initializers["W0"].const_value.numpy()
    info = mm["i"][1][3]
    assert mm["i"][1][2] == "init" and info["shape"] == [8, 8] and info["count"] == 64
    assert info["zeros"] == pytest.approx(np.mean(w0 == 0)) and info["zeros"] == 0.25
    assert (info["min"], info["max"]) == (float(w0.min()), float(w0.max()))
    json.dumps(d, allow_nan=False)


def test_layouts_place_every_member_and_every_edge_joins_two_members():
    d = _data(transformer_like(4))
    for g in d["groups"]:
        L = g["L"]
        assert len(L["xy"]) == 4 * len(g["it"])
        for a, b, label, pts, names, below_a, below_b in L["e"]:
            assert 0 <= a < len(g["it"]) and 0 <= b < len(g["it"]) and a != b and len(pts) >= 4
            # the member paths below the two ends lead to a node that makes / reads one of the values
            for ref, below, side in ((g["it"][a], below_a, "out"), (g["it"][b], below_b, "i")):
                for i in below:
                    ref = d["groups"][-1 - ref]["it"][i]
                assert ref >= 0
                node = d["nodes"][ref]
                assert {v[0] for v in node["out" if node.get("io") else side]} & set(names)  # (an Output box)
    # big groups are cut: no layout holds more than MAX_ITEMS members
    from onnxkit.view._build import MAX_ITEMS
    assert max(len(g["it"]) for g in d["groups"]) <= MAX_ITEMS


def test_values_read_inside_bodies_are_edges_to_the_node():
    """The If's branches read the Softmax's output from the graph around them:
    the page draws that as an edge into the If, as onnx counts it an input of
    the If for ordering."""
    d = _data(scoped_model())
    edges = [(d["groups"][gi], e) for gi, g in enumerate(d["groups"]) for e in g["L"]["e"]]
    into_if = [(g, e) for g, e in edges if "/head/Softmax_output_0" in e[4]
               and g["it"][e[1]] < 0 and d["groups"][-1 - g["it"][e[1]]]["l"] == "If"]
    assert len(into_if) == 1
    g, e = into_if[0]
    assert d["nodes"][g["it"][e[0]]]["n"] == "/head/Softmax"


def test_flat_graph_is_cut_into_runs():
    m = transformer_like(4)
    for n in m.graph:
        n.name = ""                      # no scopes at all
    d = _data(m)
    from onnxkit.view._build import MAX_ITEMS
    root = d["groups"][d["root"]]
    assert len(root["it"]) <= MAX_ITEMS and any(g["k"] == "run" for g in d["groups"])
    assert root["c"] == len(m.graph)


def _onnx_types(path):
    """{value name: (elem type, dims)} from onnx's shape inference (the oracle)."""
    inferred = onnx.shape_inference.infer_shapes(onnx.load(path))
    out = {}
    for vi in [*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input]:
        t = vi.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim] \
            if t.HasField("shape") else None
        out[vi.name] = (t.elem_type, dims)
    return out


def _check_labels(path):
    want = _onnx_types(path)
    m = onnxkit.load(path)
    d = _data(m)
    by_name = {}
    for g in m.graph.all_graphs():
        for n in g:
            for v in n.outputs:
                by_name[v.name] = v
        for v in g.inputs:
            by_name[v.name] = v
    checked = 0
    for g in d["groups"]:
        for a, b, label, pts, names, *_ in g["L"]["e"]:
            if len(names) != 1 or names[0] not in want:
                continue
            elem, dims = want[names[0]]
            t = onnxkit.ir.DataType(elem).short_name
            assert label.startswith(t + "[") or label == t, (names[0], label, elem)
            if dims is not None:
                inner = label[len(t) + 1:-1] if "[" in label else ""
                got = inner.split(",") if inner else []
                assert len(got) == len(dims) or label == t, (names[0], label, dims)
                for x, y in zip(got, dims):
                    if isinstance(y, int) and y > 0:
                        assert x == str(y), (names[0], label, dims)
            checked += 1
    return checked


def test_edge_labels_agree_with_onnx_shape_inference(tmp_path):
    p = str(tmp_path / "scoped.onnx")
    onnxkit.save(scoped_model(), p)
    assert _check_labels(p) >= 10


def test_edge_labels_of_a_real_bert(bert_path):
    assert _check_labels(bert_path) >= 50


def test_schema_line_against_onnx():
    d = _data(scoped_model())
    [sm] = [n for n in d["nodes"] if n["o"] == "Softmax"]
    s = onnx.defs.get_schema("Softmax", 17)
    assert sm["sch"].startswith(f"Softmax-{s.since_version} (ai.onnx): ({', '.join(i.name for i in s.inputs)})")
    assert "axis" in sm["sch"] and sm["a"]["axis"] == "1"
    [call] = [n for n in d["nodes"] if n["o"] == "Scale"]
    assert call["sch"].startswith("model-local function custom.Scale: (X) -> (Y)")


class _NoWhole(Tensor):
    """A tensor whose whole array must not be read."""
    def numpy(self):
        raise AssertionError("read whole")


def test_weight_summary_exact_and_sampled():
    rng = np.random.default_rng(3)
    a = rng.standard_normal(1000).astype(np.float32)
    a[::4] = 0
    s = weight_summary(Tensor(a))
    assert s["min"] == float(a.min()) and s["max"] == float(a.max())
    assert s["mean"] == pytest.approx(float(a.astype(np.float64).mean()))
    assert s["zeros"] == 0.25 and "sampled" not in s
    n = EXACT_ELEMENTS * 3 + 17
    big = rng.standard_normal(n).astype(np.float16)
    s = weight_summary(_NoWhole(big))
    step = n // BLOCKS
    sample = np.concatenate([big[k * step:k * step + BLOCK] for k in range(BLOCKS)]).astype(np.float64)
    assert s["sampled"] and s["count"] == n and s["dtype"] == DataType.FLOAT16.short_name
    assert (s["min"], s["max"]) == (sample.min(), sample.max())
    assert s["mean"] == pytest.approx(sample.mean())
    ints = np.arange(12, dtype=np.int64).reshape(3, 4)
    assert weight_summary(Tensor(ints))["zeros"] == pytest.approx(1 / 12)
    nan = weight_summary(Tensor(np.array([np.nan, np.inf], np.float32)))
    assert nan["max"] == "inf"


def test_profile_numbers():
    m = scoped_model()
    x = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    prof = profile_nodes(m, {"x": x})
    nodes = list(m.graph)
    assert set(prof) == {id(n) for n in nodes}
    assert sum(p["ts"] for p in prof.values()) == pytest.approx(1.0)
    # output bytes: a [3, 8] float tensor, a scalar bool for the If's flag
    by_name = {n.name: prof[id(n)] for n in nodes}
    assert by_name["/enc/layer.0/fc/MatMul"]["b"] == 3 * 8 * 4
    assert by_name["/head/Cast_1"]["b"] == 1
    page = view_html(m, profile=prof)
    assert '"profile":1' in page


def test_compare_marks_the_first_wrong_kernel_and_goes_on():
    m = scoped_model()
    x = np.random.default_rng(1).standard_normal((3, 8)).astype(np.float32)
    with wrong_relu():
        res = compare_nodes(m, {"x": x})
    st = {n.name: res.nodes.get(id(n), {}).get("st") for n in m.graph}
    assert st["/enc/layer.0/act/Relu"] == "first"
    assert st["/enc/layer.1/act/Relu"] == "diverged" and st["/enc/layer.2/act/Relu"] == "diverged"
    assert st["/enc/layer.1/fc/MatMul"] == "ok" and st["/head/If"] == "skipped"
    assert res.divergence.node_name == "/enc/layer.0/act/Relu"
    # the error is |abs(h) - relu(h)| = max of -2h over the negative entries: onnxruntime's Relu is the oracle
    [err] = [res.nodes[id(n)]["err"] for n in m.graph if n.name == "/enc/layer.0/act/Relu"]
    h = x @ m.graph.initializers["W0"].const_value.numpy() + m.graph.initializers["B0"].const_value.numpy()
    assert err == pytest.approx(float(np.max(np.abs(h) - np.maximum(h, 0))), rel=1e-5)
    assert '"st":"first"' in view_html(m, compare=res)


def test_compare_stops_at_the_first_divergence_unless_told_to_go_on():
    """The page's comparison is onnxkit compare's, going on: both find the same
    first divergence; without keep_going nothing after it is compared."""
    from onnxkit.runtime._debug import compare_with_onnxruntime
    m = scoped_model()
    x = np.random.default_rng(1).standard_normal((3, 8)).astype(np.float32)
    with wrong_relu():
        first = compare_with_onnxruntime(m, {"x": x})
        full = compare_with_onnxruntime(m, {"x": x}, keep_going=True)
    assert str(first.divergence) == str(full.divergence)
    assert first.divergence.node_name == "/enc/layer.0/act/Relu"
    assert [r.index for r in first.nodes] == list(range(first.divergence.index + 1))
    assert [r.node_name for r in full.nodes] == [n.name for n in m.graph]
    assert full.compared > first.compared
    # every node after the first divergence still ran on onnxkit's inputs: its own kernel decides
    st = {r.node_name: r.status for r in full.nodes}
    assert st["/enc/layer.2/act/Relu"] == "diverged" and st["/head/If"] == "skipped"
    assert st["/enc/layer.2/fc/Add"] == "ok"


def test_page_is_self_contained(tmp_path):
    html = view_html(scoped_model())
    low = html.lower()
    # nothing fetched at view time: no external scripts, styles, images or fonts
    for needle in ("<script src", "<link", "<img", "@import", "url(http", "https://", "http://"):
        assert needle not in low, needle
    assert "<\\/" in html or "</script>" not in html.split('id="data">', 1)[1].split("</script>", 1)[0]
    # a value named to end the data block cannot end it
    m = scoped_model()
    m.graph.outputs[0].name = "</script><b>y"
    html = view_html(m)
    data = html.split('<script type="application/json" id="data">', 1)[1].split("</script>", 1)[0]
    assert json.loads(data)["nodes"]
    assert "<b>y" not in html.replace("<\\/script><b>y", "")


def loop_and_scan_model() -> bytes:
    """A Loop (summing x three times, its body holding an If) and a Scan
    (a running sum over rows), written with onnx.helper and checked by onnx."""
    from onnx import TensorProto, helper as h
    f = TensorProto.FLOAT
    then_g = h.make_graph([h.make_node("Identity", ["acc_in"], ["t"])], "then", [],
                          [h.make_tensor_value_info("t", f, [2])])
    else_g = h.make_graph([h.make_node("Neg", ["acc_in"], ["e"])], "else", [],
                          [h.make_tensor_value_info("e", f, [2])])
    body = h.make_graph(
        [h.make_node("Add", ["acc_in", "x"], ["acc_sum"], name="body_add"),
         h.make_node("Identity", ["cond_in"], ["cond_out"]),
         h.make_node("If", ["cond_in"], ["branch"], name="body_if", then_branch=then_g, else_branch=else_g),
         h.make_node("Add", ["acc_sum", "branch"], ["acc_out"], name="body_add2")],
        "loop_body",
        [h.make_tensor_value_info("i", TensorProto.INT64, []), h.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         h.make_tensor_value_info("acc_in", f, [2])],
        [h.make_tensor_value_info("cond_out", TensorProto.BOOL, []), h.make_tensor_value_info("acc_out", f, [2])])
    scan_body = h.make_graph(
        [h.make_node("Add", ["s_in", "row"], ["s_out"], name="scan_add"),
         h.make_node("Identity", ["s_out"], ["s_each"])],
        "scan_body",
        [h.make_tensor_value_info("s_in", f, [2]), h.make_tensor_value_info("row", f, [2])],
        [h.make_tensor_value_info("s_out", f, [2]), h.make_tensor_value_info("s_each", f, [2])])
    g = h.make_graph(
        [h.make_node("Loop", ["n", "c", "zero"], ["acc"], name="/loop/Loop", body=body),
         h.make_node("Scan", ["acc", "rows"], ["final", "each"], name="/scan/Scan", body=scan_body,
                     num_scan_inputs=1)],
        "control_flow",
        [h.make_tensor_value_info("x", f, [2]), h.make_tensor_value_info("rows", f, [3, 2])],
        [h.make_tensor_value_info("final", f, [2]), h.make_tensor_value_info("each", f, [3, 2])],
        initializer=[h.make_tensor("n", TensorProto.INT64, [], [3]), h.make_tensor("c", TensorProto.BOOL, [], [True]),
                     h.make_tensor("zero", f, [2], [0, 0])])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)], ir_version=9)
    onnx.checker.check_model(m, full_check=True)
    return m.SerializeToString()


def test_loop_scan_and_nested_if_bodies():
    m = onnxkit.load(loop_and_scan_model())
    d = _data(m)
    bodies = {g["l"]: g for g in d["groups"] if g["k"] == "body"}
    assert set(bodies) == {"body", "then_branch", "else_branch"}
    [loop] = [g for g in d["groups"] if g["k"] == "node" and g["l"] == "Loop"]
    [lbody] = [d["groups"][-1 - r] for r in loop["it"]]
    ops = [d["nodes"][r]["o"] if r >= 0 else d["groups"][-1 - r]["l"] for r in lbody["it"]]
    assert ops.count("Add") == 2 and "If" in ops and "Input" in ops and "Output" in ops
    # inside the body, the edge from the first Add to the second carries the inferred type
    labels = {tuple(e[4]): e[2] for e in lbody["L"]["e"]}
    assert labels[("acc_sum",)] == "float[2]"
    [scan] = [g for g in d["groups"] if g["k"] == "node" and g["l"] == "Scan"]
    [sbody] = [d["groups"][-1 - r] for r in scan["it"]]
    assert sbody["c"] == 2
    # the types onnx infers for the Loop's and Scan's outputs label their edges
    want = _onnx_types_from_bytes(loop_and_scan_model())
    root_labels = {tuple(e[4]): e[2] for e in d["groups"][d["root"]]["L"]["e"]}
    assert want["acc"][0] == onnx.TensorProto.FLOAT and root_labels[("acc",)].startswith("float")


def _onnx_types_from_bytes(data: bytes):
    inferred = onnx.shape_inference.infer_shapes(onnx.load_from_string(data))
    return {vi.name: (vi.type.tensor_type.elem_type, [d.dim_value for d in vi.type.tensor_type.shape.dim])
            for vi in [*inferred.graph.value_info, *inferred.graph.output]}
