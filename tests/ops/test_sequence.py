"""Sequence ops: kernels against onnxruntime, shape rules against onnx.shape_inference."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as TP, helper as h

import onnxkit
from onnxkit.infer import infer_shapes

F, I64 = TP.FLOAT, TP.INT64
X = np.arange(24, dtype=np.float32).reshape(4, 6)


def build(nodes, inputs, out_names, opset=18):
    outs = [h.make_value_info(n, onnx.TypeProto()) for n in out_names]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info(n, t, s) for n, t, s in inputs], outs)
    return h.make_model(g, opset_imports=[h.make_opsetid("", opset)], ir_version=8)


def check(m, feeds, expect_shapes: dict | None = None):
    """Same outputs as onnxruntime; inferred shapes at least as specific as onnx's."""
    want = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    got = onnxkit.Session(m.SerializeToString()).run(None, feeds)
    for w, g in zip(want, got):
        if isinstance(w, list):
            assert len(g) == len(w)
            for a, b in zip(g, w):
                np.testing.assert_array_equal(a, b)
                assert a.dtype == b.dtype
        else:
            np.testing.assert_array_equal(g, w)
            assert g.dtype == w.dtype and g.shape == w.shape
    theirs = onnx.shape_inference.infer_shapes(m, data_prop=True)
    ours = infer_shapes(onnxkit.load(m.SerializeToString()))
    types = {v.name: v.type for n in ours.graph for v in n.outputs}
    for v in list(theirs.graph.value_info) + list(theirs.graph.output):
        t = v.type
        while t.HasField("sequence_type"):
            t = t.sequence_type.elem_type
        if not t.HasField("tensor_type") or not t.tensor_type.HasField("shape"):
            continue
        mine = types[v.name]
        while hasattr(mine, "elem_type") and not hasattr(mine, "shape"):
            mine = mine.elem_type
        assert mine.shape is not None, v.name
        for a, d in zip(mine.shape.dims, t.tensor_type.shape.dim, strict=True):
            if d.HasField("dim_value"):
                assert a == d.dim_value, (v.name, mine, t)
    for name, dims in (expect_shapes or {}).items():
        t = types[name]
        while not hasattr(t, "shape"):
            t = t.elem_type
        assert (None if t.shape is None else list(t.shape.dims)) == dims, (name, t)
    return got


@pytest.mark.parametrize("split,keepdims,elem", [(None, 0, [6]), (None, 1, [1, 6]), (3, 1, [None, 6]),
                                                 (2, 1, [2, 6]), ([1, 3], 1, [None, 6])])
def test_split_to_sequence_then_concat(split, keepdims, elem):
    inits = [] if split is None else [h.make_tensor("s", I64, [] if np.ndim(split) == 0 else [len(split)],
                                                    np.atleast_1d(split).tolist())]
    nodes = [h.make_node("SplitToSequence", ["x"] + (["s"] if split is not None else []), ["seq"], axis=0,
                         keepdims=keepdims),
             h.make_node("SequenceLength", ["seq"], ["n"]),
             h.make_node("ConcatFromSequence", ["seq"], ["back"], axis=0),
             h.make_node("SplitToSequence", ["x"], ["rows"], axis=0, keepdims=0),
             h.make_node("ConcatFromSequence", ["rows"], ["stacked"], axis=-1, new_axis=1)]
    m = build(nodes, [("x", F, [4, 6])], ["seq", "n", "back", "stacked"])
    m.graph.initializer.extend(inits)
    check(m, {"x": X}, {"seq": elem, "n": [], "stacked": [6, None]})


def test_positions_insert_erase_at():
    pos = [h.make_tensor(n, I64, [], [v]) for n, v in (("m1", -1), ("p0", 0), ("m2", -2))]
    nodes = [h.make_node("SequenceConstruct", ["x", "x", "y"], ["s"]),
             h.make_node("SequenceInsert", ["s", "y", "m1"], ["s2"]),
             h.make_node("SequenceErase", ["s2", "p0"], ["s3"]),
             h.make_node("SequenceErase", ["s3"], ["s4"]),
             h.make_node("SequenceAt", ["s4", "m2"], ["a"]),
             h.make_node("ConcatFromSequence", ["s4"], ["c"], axis=1)]
    m = build(nodes, [("x", F, [4, 6]), ("y", F, [4, 6])], ["s4", "a", "c"])
    m.graph.initializer.extend(pos)
    check(m, {"x": X, "y": X + 100}, {"a": [4, 6], "c": [4, None]})


def test_sequence_map_with_tensor_and_sequence():
    body = h.make_graph([h.make_node("Add", ["e", "t"], ["o1"]), h.make_node("Shape", ["e"], ["o2"])], "b",
                        [h.make_tensor_value_info("e", F, ["n"]), h.make_tensor_value_info("t", F, [1])],
                        [h.make_tensor_value_info("o1", F, ["n"]), h.make_tensor_value_info("o2", I64, [1])])
    nodes = [h.make_node("SplitToSequence", ["x"], ["seq"], axis=0, keepdims=0),
             h.make_node("SequenceMap", ["seq", "t"], ["r1", "r2"], body=body)]
    m = build(nodes, [("x", F, [4, 6]), ("t", F, [1])], ["r1", "r2"])
    check(m, {"x": X, "t": np.array([0.5], np.float32)}, {"r1": [6], "r2": [1]})


def test_empty_sequence_type_and_errors():
    m = build([h.make_node("SequenceEmpty", [], ["e"], dtype=TP.INT64),
               h.make_node("SequenceLength", ["e"], ["n"])], [], ["n"])
    check(m, {})
    e = next(iter(infer_shapes(onnxkit.load(m.SerializeToString())).graph)).outputs[0]
    assert e.type.elem_type.elem_type == onnxkit.ir.DataType.INT64
    bad = build([h.make_node("SequenceConstruct", ["x"], ["s"]), h.make_node("SequenceAt", ["s", "p"], ["a"])],
                [("x", F, [2]), ("p", I64, [])], ["a"])
    with pytest.raises(onnxkit.errors.RunError, match="out of range"):
        onnxkit.Session(bad.SerializeToString()).run(None, {"x": X[0, :2], "p": np.array(3, np.int64)})
