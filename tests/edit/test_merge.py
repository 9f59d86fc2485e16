"""onnxkit.merge: a preprocessing graph glued in front of a network equals
running the two in sequence (onnxruntime), names made unique, opsets
reconciled or refused with the reason."""

from __future__ import annotations

import numpy as np
import pytest

import onnxkit
from onnxkit.builder import GraphBuilder
from onnxkit.errors import EditError

from ._helpers import close, onnx_check, ort_run

MEAN = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 1, 1, 3)
STD = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 1, 1, 3)


def preprocessing(opset: int) -> onnxkit.Model:
    """uint8 NHWC image -> float, scaled to [0, 1], normalized -> NCHW."""
    b = GraphBuilder("pre")
    img = b.input("image", "uint8", ["batch", 32, 32, 3])
    x = b.op.Div(b.op.Cast(img, to=onnxkit.DataType.FLOAT), b.initializer(np.float32(255), "scale"))
    x = b.op.Div(b.op.Sub(x, b.initializer(MEAN, "mean")), b.initializer(STD, "std"))
    b.output(b.op.Transpose(x, perm=[0, 3, 1, 2]), "normalized", dtype="float",
             shape=["batch", 3, 32, 32])
    return b.model(opset=opset, ir_version=8)


@pytest.mark.parametrize("opset", [17, 21])
def test_preprocessing_then_resnet_equals_the_two_in_sequence(exported, opset):
    net = onnxkit.load(exported("resnet", "torchscript"))          # opset 17
    pre = preprocessing(opset)
    merged = onnxkit.merge(pre, net, {"normalized": "pixels"})
    assert [v.name for v in merged.graph.inputs] == ["image"]
    assert [v.name for v in merged.graph.outputs] == ["out"]
    assert merged.opset == opset
    onnx_check(merged)
    img = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    normalized = ort_run(pre, {"image": img})["normalized"]
    expected = ort_run(net, {"pixels": normalized})["out"]
    close(ort_run(merged, {"image": img})["out"], expected)
    # the inputs were left as they were; the weights are shared
    assert net.graph.inputs[0].name == "pixels" and pre.graph.outputs[0].name == "normalized"
    w = next(iter(net.graph.initializers))
    assert merged.graph.initializers[w].const_value is net.graph.initializers[w].const_value


COLLIDE = '''<ir_version: 10, opset_import: ["" : 21]>
g (float[N] x) => (float[N] y, float[N] t) {
   t = Relu (x)
   y = Neg (t)
}'''


def test_colliding_names_are_made_unique_and_unconnected_outputs_kept():
    a = onnxkit.parse(COLLIDE)
    b = onnxkit.parse(COLLIDE)
    m = onnxkit.merge(a, b, {"y": "x"})
    names = [v.name for n in m.graph for v in n.outputs]
    assert len(set(names)) == len(names) == 4
    assert [v.name for v in m.graph.outputs] == ["b_y", "b_t", "t"]
    onnx_check(m)
    x = np.float32([-1, 2, -3])
    got = ort_run(m, {"x": x})
    close(got["b_y"], -np.maximum(-np.maximum(x, 0), 0))
    close(got["t"], np.maximum(x, 0))
    p = onnxkit.merge(a, b, {"y": "x"}, prefix=("p_", "q_"))
    assert [v.name for v in p.graph.inputs] == ["p_x"]
    assert [v.name for v in p.graph.outputs] == ["q_y", "q_t", "p_t"]
    onnx_check(p)
    same = onnxkit.merge(a, b, {"y": "x"}, inplace=True)
    assert same is a and [v.name for v in a.graph.outputs] == ["b_y", "b_t", "t"]
    assert [v.name for v in b.graph.outputs] == ["y", "t"] and len(b.graph) == 2


def test_unknown_names_and_types_that_do_not_fit():
    a, b = onnxkit.parse(COLLIDE), onnxkit.parse(COLLIDE)
    with pytest.raises(EditError, match="first model .* no value named 'yy'.*did you mean 'y'"):
        onnxkit.merge(a, b, {"yy": "x"})
    with pytest.raises(EditError, match="second model .* no input named 'y'"):
        onnxkit.merge(a, b, {"y": "y"})
    c = onnxkit.parse(COLLIDE.replace("float", "double"))
    with pytest.raises(EditError, match="element types differ"):
        onnxkit.merge(a, c, {"y": "x"})


def test_opsets_that_cannot_be_reconciled_are_refused_with_the_reason():
    # Dropout's mask at opset 9 has no later form; ReduceSum with axes as an input no earlier
    a = onnxkit.parse('''<ir_version: 4, opset_import: ["" : 9]>
    g (float[2, 3] x) => (float[2, 3] y, bool[2, 3] mask) { y, mask = Dropout <ratio = 0.5> (x) }''')
    b = onnxkit.parse('''<ir_version: 10, opset_import: ["" : 21]>
    g (float[2, 3] z, int64[1] ax) => (float[2] s) { s = ReduceSum <keepdims = 0> (z, ax) }''')
    with pytest.raises(EditError) as e:
        onnxkit.merge(a, b, {"y": "z"}, labels=("a.onnx", "b.onnx"))
    msg = str(e.value)
    assert "a.onnx: 9, b.onnx: 21" in msg and "Dropout" in msg and "ReduceSum" in msg
    assert "onnxkit convert a.onnx OUT.onnx --opset 11" in msg          # as far as a goes up
    assert "onnxkit convert b.onnx OUT.onnx --opset 13" in msg          # as far as b goes down
    # where the two can meet in between (BatchNormalization's training outputs up to 13,
    # ReduceSum's axes input from 13), both are converted there
    c = onnxkit.parse('''<ir_version: 4, opset_import: ["" : 9]>
    g (float[2, 3] x, float[3] sc, float[3] bi, float[3] mu, float[3] va) => (float[2, 3] y, float[3] mo)
    { y, mo, vo, sm, sv = BatchNormalization (x, sc, bi, mu, va) }''')
    m = onnxkit.merge(c, b, {"y": "z"})
    assert m.opset == 13 and [n.op_type for n in m.graph] == ["BatchNormalization", "ReduceSum"]
    onnx_check(m)
    # without the mask, the older model converts up and the merge runs
    a2 = onnxkit.parse('''<ir_version: 4, opset_import: ["" : 9]>
    g (float[2, 3] x) => (float[2, 3] y) { y = Relu (x) }''')
    m = onnxkit.merge(a2, b, {"y": "z"})
    assert m.opset == 21
    x = np.float32([[1, -2, 3], [-4, 5, 6]])
    close(ort_run(m, {"x": x, "ax": np.int64([1])})["s"], np.maximum(x, 0).sum(1))
