"""onnxkit.set_shapes and onnxkit.add_outputs on a BERT exported with a
dynamic batch and sequence, against onnxruntime on the original model."""

from __future__ import annotations

import collections

import pytest

import onnxkit
from onnxkit.errors import EditError

from .._real_models import feeds_for
from ._helpers import close, onnx_check, ort_run

INPUTS = ["input_ids", "attention_mask"]


@pytest.fixture(scope="module")
def bert(exported):
    return onnxkit.load(exported("bert", "torchscript"))


def _ops(m) -> collections.Counter:
    return collections.Counter(n.op_type for n in m.graph)


def test_fixed_shapes_then_optimize_fold_the_shape_chains(bert):
    assert {str(v.type) for v in bert.graph.inputs} == {"int64[batch,seq]"}
    assert _ops(bert)["Shape"] > 5
    fixed = onnxkit.set_shapes(bert, {"input_ids": [1, 8], "attention_mask": [1, 8]})
    assert str(fixed.graph.outputs[0].type) == "float[1,8,64]"
    assert all(v.shape is None or all(isinstance(d, int) for d in v.shape)
               for n in fixed.graph for v in n.outputs if v.type is not None)
    onnx_check(fixed)
    opt = onnxkit.optimize(fixed)
    ops = _ops(opt)
    assert ops["Shape"] == 0 and ops["Concat"] == 0 and len(opt.graph) < len(bert.graph) / 2
    feeds = feeds_for(INPUTS, 1, 8, 0)
    close(ort_run(opt, feeds)["out"], ort_run(bert, feeds)["out"])
    # the original is untouched and still dynamic
    assert str(bert.graph.inputs[0].type) == "int64[batch,seq]"


def test_back_to_dynamic_runs_at_other_sizes(bert):
    fixed = onnxkit.set_shapes(bert, {"input_ids": [1, 8], "attention_mask": [1, 8]})
    dyn = onnxkit.set_shapes(fixed, {"input_ids": ["batch", "seq"], "attention_mask": ["batch", "seq"]})
    assert str(dyn.graph.outputs[0].type) == "float[batch,seq,64]"
    onnx_check(dyn)
    for batch, seq in [(3, 5), (1, 11)]:
        feeds = feeds_for(INPUTS, batch, seq, 1)
        close(ort_run(dyn, feeds)["out"], ort_run(bert, feeds)["out"])


def test_value_info_that_no_longer_holds_is_dropped():
    m = onnxkit.parse('''<ir_version: 10, opset_import: ["" : 21]>
    g (float[N, 4] x) => (float[N, 4] y) <float[N, 4] t, float[N, 4] gone> {
       t = Relu (x)
       y = Neg (t)
    }''')
    assert [v.name for v in m.graph.value_info] == ["t", "gone"]
    f = onnxkit.set_shapes(m, {"x": [2, 4]})
    assert [(v.name, str(v.type)) for v in f.graph.value_info] == [("t", "float[2,4]")]
    assert str(f.graph.outputs[0].type) == "float[2,4]"
    onnx_check(f)
    # a dim freed is free everywhere after it: no 4 survives from before
    g = onnxkit.set_shapes(f, {"x": ["N", None]})
    assert [(v.name, str(v.type)) for v in g.graph.value_info] == [("t", "float[N,?]")]
    assert str(g.graph.outputs[0].type) == "float[N,?]"
    onnx_check(g)


def test_set_shapes_errors(bert):
    with pytest.raises(EditError, match="rank 2"):
        onnxkit.set_shapes(bert, {"input_ids": [1, 8, 1]})
    with pytest.raises(EditError, match="no value .*named 'input_id'.*did you mean 'input_ids'"):
        onnxkit.set_shapes(bert, {"input_id": [1, 8]})
    out = bert.graph.nodes[3].outputs[0].name
    with pytest.raises(EditError, match="not an input of the model"):
        onnxkit.set_shapes(bert, {out: [1]})
    with pytest.raises(EditError, match="negative"):
        onnxkit.set_shapes(bert, {"input_ids": [-1, 8]})
    m = onnxkit.parse('''<ir_version: 10, opset_import: ["" : 21]>
    g (float[N, 4] x) => (float[N, 4] y) <float[4] w = {1, 2, 3, 4}> { y = Add (x, w) }''')
    with pytest.raises(EditError, match="contradicts the new shapes: .*Add.*5 and 4 cannot broadcast"):
        onnxkit.set_shapes(m, {"x": [3, 5]})


def test_add_outputs_returns_intermediates_typed_by_inference(bert):
    picked = [n.outputs[0].name for n in bert.graph.nodes[5::40]]
    m = onnxkit.add_outputs(bert, picked)
    assert [v.name for v in m.graph.outputs] == ["out", *picked]
    assert len(bert.graph.outputs) == 1
    onnx_check(m)
    feeds = feeds_for(INPUTS, 2, 8, 0)
    sess = onnxkit.Session(m)
    got = dict(zip([v.name for v in m.graph.outputs], sess.run(None, feeds)))
    full = onnxkit.Session(bert, optimize="none").run_intermediate(feeds)
    ort = ort_run(m, feeds)
    sizes = {"batch": 2, "seq": 8}
    for v in m.graph.outputs[1:]:
        x = got[v.name]
        assert x.dtype == v.dtype.numpy_dtype, v.name
        assert len(x.shape) == len(v.shape), v.name
        for d, n in zip(v.shape, x.shape):
            assert sizes.get(d, n) == n if isinstance(d, str) else d in (None, n), (v.name, v.shape, x.shape)
        close(x, full[v.name])
        close(ort[v.name], full[v.name])


def test_add_outputs_leaves_outputs_alone_and_names_unknowns(bert):
    assert [v.name for v in onnxkit.add_outputs(bert, ["out"]).graph.outputs] == ["out"]
    with pytest.raises(EditError, match="no value .*named 'nope'"):
        onnxkit.add_outputs(bert, ["nope"])
