"""If / Loop / Scan: kernels against onnxruntime, shape rules against
onnx.shape_inference, on models the conformance suite does not have."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as TP, helper as h

import onnxkit
from onnxkit.infer import infer_shapes

F = TP.FLOAT


def model(nodes, inputs, outputs, opset=17) -> onnx.ModelProto:
    return h.make_model(h.make_graph(nodes, "g", inputs, outputs), opset_imports=[h.make_opsetid("", opset)],
                        ir_version=8)


def run_both(m: onnx.ModelProto, feeds: dict) -> list:
    want = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    got = onnxkit.Session(m.SerializeToString()).run(None, feeds)
    assert len(got) == len(want)
    for w, g in zip(want, got):
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype, w.dtype)
        np.testing.assert_allclose(g, w, rtol=1e-6)
    return got


def shapes(m: onnx.ModelProto) -> tuple[dict, dict]:
    """Output shapes by name: (onnxkit's, onnx's); a dim is an int, a str or None."""
    def dims(t):
        if not t.HasField("tensor_type") or not t.tensor_type.HasField("shape"):
            return None
        return [d.dim_value if d.HasField("dim_value") else d.dim_param or None for d in t.tensor_type.shape.dim]
    theirs = {v.name: dims(v.type) for v in onnx.shape_inference.infer_shapes(m, data_prop=True).graph.value_info}
    theirs.update({v.name: dims(v.type) for v in onnx.shape_inference.infer_shapes(m).graph.output})
    mine = infer_shapes(onnxkit.load(m.SerializeToString()))
    ours = {}
    for n in mine.graph:
        for v in n.outputs:
            t = v.type
            ours[v.name] = None if t is None or getattr(t, "shape", None) is None else list(t.shape.dims)
    return ours, theirs


def agrees(ours: dict, theirs: dict) -> None:
    """Every dim onnx knows, onnxkit knows the same (onnx's invented names excepted)."""
    for name, t in theirs.items():
        if t is None:
            continue
        o = ours.get(name)
        assert o is not None and len(o) == len(t), (name, o, t)
        for a, b in zip(o, t):
            if isinstance(b, int):
                assert a == b, (name, o, t)


def _body_add_scan():
    """Loop body: carried x += it; scan output x * 2; stops when x > 10."""
    nodes = [
        h.make_node("Cast", ["it"], ["itf"], to=F),
        h.make_node("Add", ["x_in", "itf"], ["x_out"]),
        h.make_node("Mul", ["x_out", "two"], ["y"]),
        h.make_node("ReduceSum", ["x_out"], ["s"], keepdims=0),
        h.make_node("Less", ["s", "ten"], ["cond_out"]),
    ]
    return h.make_graph(nodes, "body", [h.make_tensor_value_info("it", TP.INT64, []),
                                        h.make_tensor_value_info("c", TP.BOOL, []),
                                        h.make_tensor_value_info("x_in", F, [2])],
                        [h.make_tensor_value_info("cond_out", TP.BOOL, []),
                         h.make_tensor_value_info("x_out", F, [2]), h.make_tensor_value_info("y", F, [2])],
                        [h.make_tensor("ten", F, [], [10.0])])


@pytest.mark.parametrize("m_value,with_cond", [(3, True), (100, True), (4, False), (0, True)])
def test_loop_carried_scan_and_outer_scope(m_value, with_cond):
    two = h.make_node("Constant", [], ["two"], value=h.make_tensor("t", F, [], [2.0]))   # read by the body
    loop = h.make_node("Loop", ["M", "cond" if with_cond else "", "x0"], ["xf", "ys"], body=_body_add_scan())
    m = model([two, loop], [h.make_tensor_value_info("M", TP.INT64, []), h.make_tensor_value_info("cond", TP.BOOL, []),
                            h.make_tensor_value_info("x0", F, [2])],
              [h.make_tensor_value_info("xf", F, None), h.make_tensor_value_info("ys", F, None)])
    if not with_cond:
        m.graph.input.pop(1)
    feeds = {"M": np.array(m_value, np.int64), "x0": np.array([0.5, 1.0], np.float32)}
    if with_cond:
        feeds["cond"] = np.array(True)
    run_both(m, feeds)
    ours, theirs = shapes(m)
    agrees(ours, theirs)
    assert ours["xf"] == [2] and ours["ys"] == [None, 2]


def _branch(name: str, value: float, shape: list[int]) -> onnx.GraphProto:
    out = h.make_tensor_value_info(f"{name}_out", F, shape)
    node = h.make_node("Add", ["x", f"{name}_c"], [f"{name}_out"])
    return h.make_graph([node], name, [], [out], [h.make_tensor(f"{name}_c", F, [], [value])])


def test_if_reads_outer_scope_and_merges_shapes():
    node = h.make_node("If", ["c"], ["y"], then_branch=_branch("then", 1.0, [2, 3]),
                       else_branch=_branch("else", -1.0, [2, 3]))
    m = model([node], [h.make_tensor_value_info("c", TP.BOOL, []), h.make_tensor_value_info("x", F, [2, 3])],
              [h.make_tensor_value_info("y", F, None)])
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    for c in (True, False):
        run_both(m, {"c": np.array(c), "x": x})
    ours, theirs = shapes(m)
    agrees(ours, theirs)
    assert ours["y"] == [2, 3]


def test_if_differing_branch_shapes_become_unknown():
    then_g = h.make_graph([h.make_node("Identity", ["a"], ["o1"])], "t", [], [h.make_tensor_value_info("o1", F, None)])
    else_g = h.make_graph([h.make_node("Concat", ["a", "a"], ["o2"], axis=0)], "e", [],
                          [h.make_tensor_value_info("o2", F, None)])
    m = model([h.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)],
              [h.make_tensor_value_info("c", TP.BOOL, []), h.make_tensor_value_info("a", F, ["N", 3])],
              [h.make_tensor_value_info("y", F, None)])
    ours, theirs = shapes(m)
    agrees(ours, theirs)
    assert ours["y"][1] == 3 and ours["y"][0] is None


def _scan_body() -> onnx.GraphProto:
    nodes = [h.make_node("Add", ["s_in", "x"], ["s_out"]), h.make_node("Mul", ["x", "x"], ["sq"])]
    return h.make_graph(nodes, "b", [h.make_tensor_value_info("s_in", F, [3]), h.make_tensor_value_info("x", F, [3])],
                        [h.make_tensor_value_info("s_out", F, [3]), h.make_tensor_value_info("sq", F, [3])])


@pytest.mark.parametrize("in_axis,in_dir,out_axis,out_dir", [(0, 0, 0, 0), (1, 1, 1, 0), (0, 1, -1, 1)])
def test_scan9_axes_and_directions(in_axis, in_dir, out_axis, out_dir):
    node = h.make_node("Scan", ["s0", "xs"], ["s", "ys"], body=_scan_body(), num_scan_inputs=1,
                       scan_input_axes=[in_axis], scan_input_directions=[in_dir], scan_output_axes=[out_axis],
                       scan_output_directions=[out_dir])
    xs_shape = [4, 3] if in_axis == 0 else [3, 4]
    m = model([node], [h.make_tensor_value_info("s0", F, [3]), h.make_tensor_value_info("xs", F, xs_shape)],
              [h.make_tensor_value_info("s", F, None), h.make_tensor_value_info("ys", F, None)])
    xs = np.random.default_rng(0).standard_normal(xs_shape).astype(np.float32)
    run_both(m, {"s0": np.zeros(3, np.float32), "xs": xs})
    ours, theirs = shapes(m)
    agrees(ours, theirs)
    assert ours["s"] == [3] and sorted(ours["ys"]) == [3, 4]


def test_scan8_sequence_lens_pads_and_reverses():
    body = _scan_body()
    node = h.make_node("Scan", ["lens", "s0", "xs"], ["s", "ys"], body=body, num_scan_inputs=1, directions=[1])
    m = model([node], [h.make_tensor_value_info("lens", TP.INT32, [2]), h.make_tensor_value_info("s0", F, [2, 3]),
                       h.make_tensor_value_info("xs", F, [2, 4, 3])],
              [h.make_tensor_value_info("s", F, None), h.make_tensor_value_info("ys", F, None)], opset=8)
    xs = np.arange(24, dtype=np.float32).reshape(2, 4, 3)
    s, ys = onnxkit.Session(m.SerializeToString()).run(None, {"lens": np.array([4, 2], np.int32),
                                                             "s0": np.zeros((2, 3), np.float32), "xs": xs})
    np.testing.assert_array_equal(s, [xs[0].sum(0), xs[1, :2].sum(0)])
    np.testing.assert_array_equal(ys[1], np.concatenate([xs[1, :2][::-1] ** 2, np.zeros((2, 3))]))
    ours, theirs = shapes(m)
    agrees(ours, theirs)
    assert ours["s"] == [2, 3] and ours["ys"] == [2, 4, 3]


def test_loop_with_sequence_carried_value():
    body = h.make_graph(
        [h.make_node("Identity", ["c"], ["c_out"]), h.make_node("Cast", ["it"], ["f"], to=F),
         h.make_node("Unsqueeze", ["f", "zero"], ["f1"]), h.make_node("SequenceInsert", ["seq_in", "f1"], ["seq_out"])],
        "b", [h.make_tensor_value_info("it", TP.INT64, []), h.make_tensor_value_info("c", TP.BOOL, []),
              h.make_value_info("seq_in", h.make_sequence_type_proto(h.make_tensor_type_proto(F, None)))],
        [h.make_tensor_value_info("c_out", TP.BOOL, []),
         h.make_value_info("seq_out", h.make_sequence_type_proto(h.make_tensor_type_proto(F, None)))],
        [h.make_tensor("zero", TP.INT64, [1], [0])])
    nodes = [h.make_node("SequenceEmpty", [], ["e"], dtype=F), h.make_node("Loop", ["M", "", "e"], ["seq"], body=body),
             h.make_node("ConcatFromSequence", ["seq"], ["y"], axis=0)]
    m = model(nodes, [h.make_tensor_value_info("M", TP.INT64, [])], [h.make_tensor_value_info("y", F, None)])
    run_both(m, {"M": np.array(4, np.int64)})


def test_value_read_by_a_node_and_later_by_a_subgraph_stays_alive():
    """x's last direct use comes before the If whose branches read it."""
    then_g = h.make_graph([h.make_node("Neg", ["x"], ["t"])], "t", [], [h.make_tensor_value_info("t", F, [2])])
    else_g = h.make_graph([], "e", [], [h.make_tensor_value_info("x", F, [2])])     # the outer value itself
    m = model([h.make_node("Abs", ["x"], ["a"]),
               h.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)],
              [h.make_tensor_value_info("c", TP.BOOL, []), h.make_tensor_value_info("x", F, [2])],
              [h.make_tensor_value_info("a", F, None), h.make_tensor_value_info("y", F, None)])
    x = np.array([1.0, -2.0], np.float32)
    s = onnxkit.Session(m.SerializeToString())      # onnxruntime refuses a bare outer value as output
    for c, want in ((True, -x), (False, x)):
        a, y = s.run(None, {"c": np.array(c), "x": x})
        np.testing.assert_array_equal(a, np.abs(x))
        np.testing.assert_array_equal(y, want)
