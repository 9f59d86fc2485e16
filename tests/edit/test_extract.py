"""onnxkit.extract: cuts checked by onnx and run by onnxruntime against the
values the full model computes (Session.run_intermediate)."""

from __future__ import annotations

import numpy as np
import pytest

import onnxkit
from onnxkit.errors import EditError

from .._real_models import feeds_for
from ._helpers import close, onnx_check, ort_run

TEXT = '''<ir_version: 10, opset_import: ["" : 21]>
g (float[N, 4] x, float[N, 4] z, bool c) => (float[N, 4] y)
  <float[4] w = {1, 2, 3, 4}, float[4] unused = {0, 0, 0, 0}> {
   t = Relu (x)
   u = Add (t, z)
   v = Mul (u, w)
   y = If (c) <then_branch = g1 () => (float[N, 4] a) { a = Add (v, t) },
               else_branch = g2 () => (float[N, 4] b) { b = Neg (v) }>
}'''


@pytest.fixture
def model():
    return onnxkit.parse(TEXT)


def test_a_cut_in_the_middle(model):
    part = onnxkit.extract(model, ["t", "z"], ["v"])
    assert [v.name for v in part.graph.inputs] == ["t", "z"]
    assert [n.op_type for n in part.graph] == ["Add", "Mul"]
    assert list(part.graph.initializers) == ["w"]          # 'unused' dropped
    onnx_check(part)
    rng = np.random.default_rng(0)
    t, z = rng.standard_normal((2, 3, 4), dtype=np.float32)
    close(ort_run(part, {"t": t, "z": z})["v"], (t + z) * np.float32([1, 2, 3, 4]))


def test_weights_are_shared_and_the_model_left_alone(model):
    part = onnxkit.extract(model, ["x", "z"], ["v"])
    assert part.graph.initializers["w"].const_value is model.graph.initializers["w"].const_value
    assert len(model.graph) == 4 and [v.name for v in model.graph.inputs] == ["x", "z", "c"]
    same = onnxkit.extract(model, ["x", "z"], ["v"], inplace=True)
    assert same is model and len(model.graph) == 3


def test_a_subgraph_keeps_what_its_branches_read(model):
    part = onnxkit.extract(model, ["x", "z", "c"], ["y"])
    assert [n.op_type for n in part.graph] == ["Relu", "Add", "Mul", "If"]
    onnx_check(part)
    rng = np.random.default_rng(1)
    x, z = rng.standard_normal((2, 2, 4), dtype=np.float32)
    for c in (True, False):
        feeds = {"x": x, "z": z, "c": np.array(c)}
        full = onnxkit.Session(model).run_intermediate(feeds)
        close(ort_run(part, feeds)["y"], full["y"])


def test_the_error_names_the_value_that_cannot_be_computed(model):
    with pytest.raises(EditError, match=r"'v' cannot be computed from the given inputs \('t'\): "
                                        r"it needs 'z', a graph input.*'z' <- 'u' <- 'v'"):
        onnxkit.extract(model, ["t"], ["v"])
    # the branch of the If reads t, which needs x
    with pytest.raises(EditError, match="it needs 'x'"):
        onnxkit.extract(model, ["v", "c"], ["y"])


def test_unknown_and_inner_names(model):
    with pytest.raises(EditError, match="no value .*named 'vv'.*did you mean 'v'"):
        onnxkit.extract(model, ["x"], ["vv"])
    with pytest.raises(EditError, match="'a' is defined inside a subgraph of node"):
        onnxkit.extract(model, ["x"], ["a"])
    with pytest.raises(EditError, match="named twice"):
        onnxkit.extract(model, ["x", "x"], ["t"])


def test_a_node_output_cut_from_a_node_that_stays():
    # Split has two outputs: one becomes an input, the other is still computed
    m = onnxkit.parse('''<ir_version: 10, opset_import: ["" : 21]>
    g (float[4, 2] x) => (float[2, 2] y) {
       a, b = Split <num_outputs = 2> (x)
       y = Add (a, b)
    }''')
    part = onnxkit.extract(m, ["x", "b"], ["y"])
    onnx_check(part)
    x = np.arange(8, dtype=np.float32).reshape(4, 2)
    b = np.full((2, 2), 10, np.float32)
    close(ort_run(part, {"x": x, "b": b})["y"], x[:2] + b)


def _every_tenth(path: str, seq: int = 8, typed: bool = False):
    m = onnxkit.load(path)
    if typed:   # as a file with value_info: extract then needs no inference of its own
        onnxkit.infer_shapes(m)
    ins = [v.name for v in m.graph.inputs]
    feeds = feeds_for(ins, 2, seq, 0)
    full = onnxkit.Session(m, optimize="none").run_intermediate(feeds)
    nodes = m.graph.nodes
    picked = [n.outputs[0].name for n in nodes[::10]]
    return m, ins, feeds, full, picked


@pytest.mark.parametrize("name", ["bert", "gpt2", "resnet"])
def test_every_tenth_node_output_of_a_real_model(exported, name):
    m, ins, feeds, full, picked = _every_tenth(exported(name, "torchscript"), typed=name != "resnet")
    assert len(picked) >= 3
    for out in picked:
        part = onnxkit.extract(m, ins, [out])
        got = ort_run(part, feeds)[out]
        close(got, full[out])
        assert got.dtype == full[out].dtype
    onnx_check(part)


@pytest.mark.parametrize("name", ["bert", "gpt2"])
def test_from_an_intermediate_to_a_later_one(exported, name):
    """Cut a transformer between two layers: feed the first layer's output (and
    the mask chain it still needs) and get the value the full model computes."""
    m, ins, feeds, full, _ = _every_tenth(exported(name, "torchscript"))
    nodes = m.graph.nodes
    start = next(n.outputs[0].name for n in nodes if "layer.0" in n.outputs[0].name
                 or "h.0/" in n.outputs[0].name)
    end = nodes[-2].outputs[0].name
    with pytest.raises(EditError, match="cannot be computed"):
        onnxkit.extract(m, [start], [end])
    part = onnxkit.extract(m, [start, *ins], [end])
    assert len(part.graph) < len(onnxkit.extract(m, ins, [end]).graph)
    got = ort_run(part, {start: full[start], **feeds})[end]
    close(got, full[end])
