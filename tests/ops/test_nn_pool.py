"""Pools (MaxPool with Indices, AveragePool, LpPool, Global*, MaxUnpool)
against onnxruntime on cases the conformance suite lacks, and their shape
rules with symbolic dims, auto_pad and ceil_mode."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto

from tests.ops.nn_testutil import check_op, check_shapes, node_model

rng = np.random.default_rng(1)
F = TensorProto.FLOAT


def r(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("attrs", [
    dict(kernel_shape=[3, 2], strides=[2, 2], pads=[1, 0, 1, 1], ceil_mode=1),
    dict(kernel_shape=[2, 3], dilations=[2, 1], strides=[1, 2], storage_order=1),
    dict(kernel_shape=[3, 3], auto_pad="SAME_LOWER", strides=[2, 2]),
    dict(kernel_shape=[2, 2], auto_pad="VALID", strides=[3, 3], ceil_mode=1),
])
def test_max_pool_with_indices(attrs):
    check_op("MaxPool", [("x", r(2, 3, 7, 8))], 2, **attrs)


def test_max_pool_int8_and_3d_double():
    x = rng.integers(-128, 127, (1, 2, 5, 5), dtype=np.int8)
    check_op("MaxPool", [("x", x)], kernel_shape=[2, 2], pads=[1, 1, 1, 1])
    check_op("MaxPool", [("x", r(1, 2, 4, 5, 6, dtype=np.float64))], 2, kernel_shape=[2, 2, 3],
             strides=[2, 1, 2])


@pytest.mark.parametrize("attrs", [
    dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1, count_include_pad=1),
    dict(kernel_shape=[3, 2], strides=[2, 2], pads=[1, 0, 0, 1], ceil_mode=1),
    dict(kernel_shape=[2, 2], dilations=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1),
    dict(kernel_shape=[3, 3], auto_pad="SAME_UPPER", count_include_pad=0, strides=[2, 1]),
])
def test_average_pool(attrs):
    check_op("AveragePool", [("x", r(1, 2, 7, 6))], **attrs)


@pytest.mark.parametrize("p", [1, 2, 3])
def test_lp_pools(p):
    check_op("LpPool", [("x", r(1, 3, 6, 5))], kernel_shape=[2, 3], strides=[2, 1], pads=[0, 1, 1, 0], p=p)
    check_op("GlobalLpPool", [("x", r(2, 3, 4, 5))], p=p, opset=2)


def test_global_pools_3d():
    for op in ("GlobalAveragePool", "GlobalMaxPool"):
        check_op(op, [("x", r(2, 3, 4, 2, 3))])
        check_op(op, [("x", r(2, 3, 5, dtype=np.float16))], rtol=1e-3)


def test_max_unpool_roundtrip():
    x = r(1, 2, 6, 6)
    idx = np.argsort(rng.random(36))[:9].reshape(1, 1, 3, 3)
    idx = np.concatenate([idx, idx + 36], axis=1).astype(np.int64)
    check_op("MaxUnpool", [("x", r(1, 2, 3, 3)), ("i", idx)], kernel_shape=[2, 2], strides=[2, 2])
    got = check_op("MaxPool", [("x", x)], 2, kernel_shape=[2, 2], strides=[2, 2])
    _ = got


# ------------------------------------------------------------------ shape rules
def test_pool_shapes_symbolic():
    m = node_model("MaxPool", [("x", (F, ["N", "C", "H", "W"]))], 2, kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    assert check_shapes(m) == ["float[N,C,H,W]", "int64[N,C,H,W]"]
    m = node_model("AveragePool", [("x", (F, ["N", 3, "H", 9]))], kernel_shape=[2, 2], strides=[2, 2],
                   ceil_mode=1)
    got = check_shapes(m)[0]
    assert got.startswith("float[N,3,") and got.endswith(",5]") and "?" not in got
    m = node_model("MaxPool", [("x", (F, [1, 1, 5, 5]))], kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1],
                   ceil_mode=1)
    assert check_shapes(m) == ["float[1,1,3,3]"]          # the last window would start in the padding
    m = node_model("LpPool", [("x", (F, ["N", 3, "H", "W"]))], kernel_shape=[2, 2], auto_pad="SAME_UPPER")
    assert check_shapes(m) == ["float[N,3,H,W]"]
    m = node_model("GlobalMaxPool", [("x", (F, ["N", 3, "H", "W"]))])
    assert check_shapes(m) == ["float[N,3,1,1]"]
    m = node_model("MaxUnpool", [("x", (F, ["N", 3, "H", 4])), ("i", (TensorProto.INT64, ["N", 3, "H", 4]))],
                   kernel_shape=[2, 2], strides=[2, 2])
    assert check_shapes(m) == ["float[N,3,2*H,8]"]
