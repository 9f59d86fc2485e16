"""Attention, FlexAttention, LinearAttention, RotaryEmbedding against
onnxruntime / onnx.reference beyond the conformance cases, and their shape
rules (3-D and 4-D, KV cache, symbolic batch and sequence)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto

from tests.ops.nn_testutil import check_op, check_shapes, inferred, node_model

rng = np.random.default_rng(4)
F = TensorProto.FLOAT


def r(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("case", ["gqa_causal_past", "float_mask_softcap", "bool_mask_3d", "mode2_scale"])
def test_attention_against_onnxruntime(case):
    q, k, v = r(2, 4, 3, 8), r(2, 2, 3, 8), r(2, 2, 3, 6)
    if case == "gqa_causal_past":
        ins = [("q", q), ("k", k), ("v", v), ("", None), ("pk", r(2, 2, 5, 8)), ("pv", r(2, 2, 5, 6))]
        check_op("Attention", ins, 4, opset=23, is_causal=1, oracle="ref")
        check_op("Attention", ins, 3, opset=23, is_causal=1)
    elif case == "float_mask_softcap":
        check_op("Attention", [("q", q), ("k", k), ("v", v), ("m", r(3, 3))], 1, opset=23, softcap=2.0)
    elif case == "bool_mask_3d":
        q3, k3, v3 = r(2, 3, 24), r(2, 5, 8), r(2, 5, 6)
        mask = rng.random((2, 1, 3, 5)) > 0.3
        check_op("Attention", [("q", q3), ("k", k3), ("v", v3), ("m", mask)], 1, opset=23, q_num_heads=6,
                 kv_num_heads=2)
    else:
        check_op("Attention", [("q", q), ("k", k), ("v", v)], 4, opset=23, scale=0.3,
                 qk_matmul_output_mode=2, oracle="ref")


def test_attention_fully_masked_rows_are_zero_and_nonpad():
    q, k, v = r(1, 2, 2, 4), r(1, 2, 4, 4), r(1, 2, 4, 4)
    mask = np.array([[False] * 4, [True, True, False, False]])
    y = check_op("Attention", [("q", q), ("k", k), ("v", v), ("m", mask)], 1, opset=23, oracle="ref")[0]
    assert (y[:, :, 0] == 0).all()
    check_op("Attention", [("q", q), ("k", k), ("v", v), ("", None), ("", None), ("", None),
                           ("n", np.array([3], np.int64))], 1, opset=24, is_causal=1, oracle="ref")
    check_op("Attention", [("q", q), ("k", k), ("v", v)], 1, opset=25, left_window_size=1, right_window_size=1,
             oracle="ref")


def test_flex_linear_rotary():
    q, k, v = r(1, 4, 3, 8, dtype=np.float64), r(1, 2, 5, 8, dtype=np.float64), r(1, 2, 5, 4, dtype=np.float64)
    check_op("FlexAttention", [("q", q), ("k", k), ("v", v)], domain="ai.onnx.preview", opset=26, oracle="ref",
             scale=0.5)
    b, t = 2, 3
    ins = [("q", r(b, t, 4 * 4)), ("k", r(b, t, 2 * 4)), ("v", r(b, t, 2 * 3)), ("s", r(b, 2, 4, 3)),
           ("d", -np.abs(r(b, t, 2 * 4))), ("beta", rng.random((b, t, 2)).astype(np.float32))]
    check_op("LinearAttention", ins, 2, opset=27, oracle="ref", q_num_heads=4, kv_num_heads=2)
    x = r(2, 3, 5, 8)
    cos, sin = r(10, 3), r(10, 3)
    pos = rng.integers(0, 10, (2, 5)).astype(np.int64)
    check_op("RotaryEmbedding", [("x", x), ("c", cos), ("s", sin), ("p", pos)], opset=23,
             rotary_embedding_dim=6, interleaved=1)


def test_attention_shapes():
    m = node_model("Attention", [("q", (F, ["B", 8, "S", 16])), ("k", (F, ["B", 2, "S", 16])),
                                 ("v", (F, ["B", 2, "S", 12])), ("", None), ("pk", (F, ["B", 2, "P", 16])),
                                 ("pv", (F, ["B", 2, "P", 12]))], 3, opset=23)
    assert check_shapes(m) == ["float[B,8,S,12]", "float[B,2,P + S,16]", "float[B,2,P + S,12]"]
    # onnx.shape_inference (1.23) says 0 for qk_matmul_output's last dim: the spec says total_sequence_length
    m = node_model("Attention", [("q", (F, ["B", 8, "S", 16])), ("k", (F, ["B", 2, "S", 16])),
                                 ("v", (F, ["B", 2, "S", 12])), ("", None), ("pk", (F, ["B", 2, "P", 16])),
                                 ("pv", (F, ["B", 2, "P", 12]))], 4, opset=23)
    assert inferred(m)[3] == "float[B,8,S,P + S]"
    m = node_model("Attention", [("q", (F, ["B", "S", 64])), ("k", (F, ["B", "T", 32])),
                                 ("v", (F, ["B", "T", 48]))], 3, opset=23, q_num_heads=8, kv_num_heads=4)
    assert check_shapes(m) == ["float[B,S,96]", "float[B,4,T,8]", "float[B,4,T,12]"]
    m = node_model("LinearAttention", [("q", (F, ["B", "T", 16])), ("k", (F, ["B", "T", 8])),
                                       ("v", (F, ["B", "T", 6]))], 2, opset=27, q_num_heads=4, kv_num_heads=2,
                   update_rule="linear")
    assert check_shapes(m) == ["float[B,T,12]", "float[B,2,4,3]"]
    m = node_model("RotaryEmbedding", [("x", (F, ["B", "S", 32])), ("c", (F, [64, 4])), ("s", (F, [64, 4])),
                                       ("p", (TensorProto.INT64, ["B", "S"]))], opset=23, num_heads=4)
    assert check_shapes(m) == ["float[B,S,32]"]
