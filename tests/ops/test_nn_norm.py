"""Normalizations and Dropout against onnxruntime / onnx.reference on cases the
conformance suite lacks (old opsets, training outputs, dtypes, stash types),
and their shape rules."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto

from tests.ops.nn_testutil import check_op, check_shapes, node_model, run_onnxkit

rng = np.random.default_rng(2)
F = TensorProto.FLOAT


def r(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def test_batch_norm_inference_opsets_and_training():
    x, s, b, m, v = r(2, 3, 4, 5), r(3), r(3), r(3), np.abs(r(3)) + 0.5
    inputs = [("x", x), ("s", s), ("b", b), ("m", m), ("v", v)]
    for opset in (7, 9, 15):
        check_op("BatchNormalization", inputs, opset=opset, epsilon=1e-3)
    check_op("BatchNormalization", inputs, 3, opset=15, training_mode=1, momentum=0.8, oracle="ref")
    check_op("BatchNormalization", [("x", r(4, 3, dtype=np.float64))] + [(k, v.astype(np.float64))
                                                                       for k, v in inputs[1:]], opset=9)


def test_batch_norm_float16_with_float_stats():
    x = r(2, 3, 4, dtype=np.float16)
    check_op("BatchNormalization", [("x", x), ("s", r(3)), ("b", r(3)), ("m", r(3)), ("v", np.abs(r(3)) + 1)],
             opset=15, rtol=1e-2, atol=1e-2, oracle="ref")


def test_instance_group_layer_rms():
    check_op("InstanceNormalization", [("x", r(2, 3, 4, 5)), ("s", r(3)), ("b", r(3))])
    check_op("GroupNormalization", [("x", r(2, 6, 4)), ("s", r(6)), ("b", r(6))], opset=21, num_groups=3,
             oracle="ref")
    check_op("GroupNormalization", [("x", r(2, 6, 4)), ("s", r(3)), ("b", r(3))], opset=18, num_groups=3,
             oracle="ref")
    check_op("LayerNormalization", [("x", r(2, 3, 4)), ("s", r(3, 4)), ("b", r(4))], 3, opset=17, axis=1,
             epsilon=1e-3)
    check_op("LayerNormalization", [("x", r(2, 5, dtype=np.float16)), ("s", r(5, dtype=np.float16))], 3,
             opset=17, rtol=1e-2, atol=1e-2)
    check_op("RMSNormalization", [("x", r(2, 3, 4)), ("s", r(4))], opset=23, axis=-1, oracle="ref")
    check_op("RMSNormalization", [("x", r(2, 3, 4, dtype=np.float64)), ("s", r(3, 4, dtype=np.float64))],
             opset=23, axis=1, oracle="ref")


def test_lrn_lp_mvn():
    check_op("LRN", [("x", r(2, 7, 3, 3))], size=5, alpha=1e-3, beta=0.6, bias=2.0)
    # an even size (onnxruntime refuses it; onnx.reference sums over the wrong axis): the spec's formula
    x = r(2, 7, 3)
    sq = np.stack([(x[:, max(0, c - 1):c + 3] ** 2).sum(axis=1) for c in range(7)], axis=1)
    want = x / (2.0 + 1e-3 / 4 * sq) ** 0.6
    got = run_onnxkit(node_model("LRN", [("x", x)], size=4, alpha=1e-3, beta=0.6, bias=2.0), {"x": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    check_op("LpNormalization", [("x", r(3, 4))], axis=0, p=1)
    check_op("LpNormalization", [("x", np.zeros((2, 3), np.float32))], axis=1, p=2, oracle="ref")
    check_op("MeanVarianceNormalization", [("x", r(2, 3, 4, 5))], axes=[1, 3], opset=13)


def test_dropout_inference_training_and_mask():
    x = r(3, 4)
    # in inference the mask is all ones (onnx.reference and the conformance data; onnxruntime says zeros)
    check_op("Dropout", [("x", x)], 2, opset=10, oracle="ref")
    check_op("Dropout", [("x", x), ("r", np.array(0.3, np.float32)), ("t", np.array(False))], 2, opset=13,
             oracle="ref")
    y, mask = run_onnxkit(node_model("Dropout", [("x", x), ("r", np.array(0.5, np.float32)),
                                               ("t", np.array(True))], 2, opset=13, seed=3),
                          {"x": x, "r": np.array(0.5, np.float32), "t": np.array(True)})
    assert mask.dtype == bool and 0 < mask.sum() < mask.size
    np.testing.assert_allclose(y, np.where(mask, x * 2, 0), rtol=1e-6)
    y0, m0 = run_onnxkit(node_model("Dropout", [("x", x)], 2, opset=7), {"x": x})
    assert m0.dtype == np.float32 and (y0 == x).all()


# ------------------------------------------------------------------ shape rules
def test_norm_shapes():
    m = node_model("BatchNormalization", [("x", (F, ["N", 3, "H"])), ("s", (F, [3])), ("b", (F, [3])),
                                          ("m", (F, [3])), ("v", (F, [3]))], 3, opset=15, training_mode=1)
    assert check_shapes(m) == ["float[N,3,H]", "float[3]", "float[3]"]
    m = node_model("LayerNormalization", [("x", (TensorProto.FLOAT16, ["N", "S", 8])),
                                          ("s", (TensorProto.FLOAT16, [8]))], 3, opset=17, axis=-1)
    assert check_shapes(m) == ["float16[N,S,8]", "float[N,S,1]", "float[N,S,1]"]
    m = node_model("Dropout", [("x", (F, ["N", 4]))], 2, opset=13)
    assert check_shapes(m) == ["float[N,4]", "bool[N,4]"]
    for op, extra, opset in (("GroupNormalization", {"num_groups": 2}, 21), ("RMSNormalization", {}, 23),
                             ("InstanceNormalization", {}, 22)):
        ins = [("x", (F, ["N", 4, "L"])), ("s", (F, [4]))] + ([("b", (F, [4]))] if op != "RMSNormalization" else [])
        assert check_shapes(node_model(op, ins, opset=opset, **extra)) == ["float[N,4,L]"]


@pytest.mark.parametrize("op", ["LRN", "LpNormalization", "MeanVarianceNormalization"])
def test_elementwise_norm_shapes(op):
    attrs = {"size": 3} if op == "LRN" else {}
    assert check_shapes(node_model(op, [("x", (F, ["N", 3, "H", "W"]))], opset=13, **attrs)) == ["float[N,3,H,W]"]


def test_batch_norm_per_activation_opset_6():
    x = r(4, 2, 3)
    s, b, m, v = r(2, 3), r(2, 3), r(2, 3), np.abs(r(2, 3)) + 0.5
    got = run_onnxkit(node_model("BatchNormalization", [("x", x), ("s", s), ("b", b), ("m", m), ("v", v)],
                                 opset=6, spatial=0, is_test=1), {"x": x, "s": s, "b": b, "m": m, "v": v})[0]
    np.testing.assert_allclose(got, (x - m) / np.sqrt(v + 1e-5) * s + b, rtol=1e-5, atol=1e-6)


def test_dropout_training_narrow_floats():
    import ml_dtypes
    for dt in (np.float16, ml_dtypes.bfloat16, ml_dtypes.float8_e4m3fn):
        x = r(4, 5).astype(dt)
        feeds = {"x": x, "r": np.array(0.25, np.float32), "t": np.array(True)}
        y, mask = run_onnxkit(node_model("Dropout", [(k, v) for k, v in feeds.items()], 2, opset=22, seed=1),
                              feeds)
        assert y.dtype == x.dtype and mask.dtype == bool
        want = (x.astype(np.float32) * mask / 0.75).astype(dt)
        np.testing.assert_array_equal(y.astype(np.float32), want.astype(np.float32))
