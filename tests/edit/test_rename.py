"""onnxkit.rename: every reader follows, in every subgraph (If branches, Loop
bodies); checked by onnx and run by onnxruntime under the new names."""

from __future__ import annotations

import numpy as np
import pytest

import onnxkit
from onnxkit.errors import EditError

from ._helpers import close, onnx_check, ort_run

TEXT = '''<ir_version: 10, opset_import: ["" : 21]>
g (float[N] x, bool c, int64 trips) => (float[N] y, float[N] acc) <float[1] w = {2}> {
   t = Mul (x, w)
   y = If (c) <then_branch = g1 () => (float[N] a) { a = Add (t, x) },
               else_branch = g2 () => (float[N] b) {
                   inner = If (c) <then_branch = g3 () => (float[N] d) { d = Neg (x) },
                                   else_branch = g4 () => (float[N] e) { e = Sub (x, t) }>
                   b = Identity (inner)
               }>
   acc = Loop (trips, c, t) <body = body (int64 i, bool cond, float[N] s) => (bool co, float[N] so) {
       co = Identity (cond)
       so = Add (s, x)
   }>
}'''


def _feeds(x_name="x"):
    return {x_name: np.float32([1, -2, 3]), "trips": np.array(3, np.int64)}


def test_renaming_an_input_keeps_every_reader_in_every_subgraph():
    m = onnxkit.parse(TEXT)
    r = onnxkit.rename(m, {"x": "pixels", "t": "scaled", "w": "weight", "acc": "total"})
    assert [v.name for v in r.graph.inputs] == ["pixels", "c", "trips"]
    assert list(r.graph.initializers) == ["weight"]
    assert [v.name for v in r.graph.outputs] == ["y", "total"]
    text = onnxkit.to_text(r)
    for old in ("(x", " x)", "(t,", "(x,"):
        assert old not in text
    onnx_check(r)
    for c in (True, False):
        want = ort_run(m, {**_feeds(), "c": np.array(c)})
        got = ort_run(r, {**_feeds("pixels"), "c": np.array(c)})
        close(got["y"], want["y"])
        close(got["total"], want["acc"])
    # the original keeps its names
    assert [v.name for v in m.graph.inputs] == ["x", "c", "trips"]


def test_nodes_are_renamed_and_swaps_work():
    m = onnxkit.parse(TEXT)
    m.graph.nodes[0].name = "scale"
    r = onnxkit.rename(m, {"scale": "mul", "y": "acc", "acc": "y"})
    assert r.graph.nodes[0].name == "mul"
    assert [v.name for v in r.graph.outputs] == ["acc", "y"]
    onnx_check(r)


def test_collisions_and_unknown_names_are_refused():
    m = onnxkit.parse(TEXT)
    with pytest.raises(EditError, match="two values the name 't'"):
        onnxkit.rename(m, {"x": "t"})
    with pytest.raises(EditError, match="two values the name 'inner'"):   # inside a subgraph
        onnxkit.rename(m, {"x": "inner"})
    with pytest.raises(EditError, match="no value or node named 'xx'.*did you mean 'x'"):
        onnxkit.rename(m, {"xx": "z"})
    with pytest.raises(EditError, match="non-empty"):
        onnxkit.rename(m, {"x": ""})


def test_a_value_inside_a_subgraph_can_be_renamed():
    m = onnxkit.parse(TEXT)
    r = onnxkit.rename(m, {"inner": "deep", "so": "s_next"})
    onnx_check(r)
    feeds = {**_feeds(), "c": np.array(False)}
    close(ort_run(r, feeds)["y"], ort_run(m, feeds)["y"])
