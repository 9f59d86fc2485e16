"""The channels-last kernels (ai.onnxkit NhwcConv / NhwcMaxPool) against the
general NCHW kernels and onnxruntime, on random data: every fast path (1x1
GEMM, row im2col, full im2col, depthwise, grouped), strides, pads,
dilations, auto_pad, batch > 1, float64, fused bias / residual / activation."""

from __future__ import annotations

import numpy as np
import pytest

from onnxkit.ops.fused_conv import apply_activation, nhwc_conv, nhwc_max_pool
from onnxkit.ops.nn_conv import conv
from onnxkit.ops.nn_pool import max_pool

rng = np.random.default_rng(0)


def _nhwc(a):
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1))


def _nchw(a):
    return np.ascontiguousarray(a.transpose(0, 3, 1, 2))


def _pack(w):
    """(M, C/g, KH, KW) -> (KH, KW, C/g, M), the pass's prepacking."""
    return np.ascontiguousarray(w.transpose(2, 3, 1, 0))


CASES = [
    # n, c, h, w, m, k, attrs
    (1, 16, 9, 9, 8, (1, 1), {}),                                        # 1x1: one GEMM
    (2, 6, 7, 5, 4, (1, 1), dict(strides=[2, 2])),                       # strided 1x1
    (1, 8, 10, 10, 12, (3, 3), dict(pads=[1, 1, 1, 1])),                  # row im2col
    (3, 5, 9, 11, 7, (3, 3), dict(pads=[1, 1, 1, 1])),                    # batch > 1
    (1, 4, 12, 12, 6, (3, 3), dict(pads=[1, 1, 1, 1], strides=[2, 2])),   # full im2col
    (1, 3, 23, 23, 8, (7, 7), dict(pads=[3, 3, 3, 3], strides=[2, 2])),   # the stem
    (2, 4, 9, 8, 5, (3, 2), dict(pads=[2, 0, 1, 1], dilations=[2, 1])),   # asymmetric, dilated
    (1, 4, 9, 9, 5, (3, 3), dict(strides=[1, 2], dilations=[1, 2])),
    (1, 4, 9, 9, 5, (3, 3), dict(strides=[2, 1])),
    (1, 4, 7, 9, 5, (3, 3), dict(auto_pad="SAME_UPPER", strides=[2, 2])),
    (1, 4, 8, 8, 5, (2, 2), dict(auto_pad="SAME_LOWER")),
    (1, 4, 8, 8, 5, (3, 3), dict(auto_pad="VALID")),
    (1, 8, 10, 10, 8, (3, 3), dict(pads=[1, 1, 1, 1], group=8)),         # depthwise
    (2, 6, 11, 11, 6, (3, 3), dict(pads=[1, 1, 1, 1], strides=[2, 2], group=6)),
    (1, 6, 9, 9, 12, (3, 3), dict(pads=[1, 1, 1, 1], group=6)),          # depthwise, multiplier 2
    (2, 8, 7, 7, 12, (3, 3), dict(pads=[0, 1, 1, 0], group=4)),          # grouped
    (1, 8, 6, 6, 4, (1, 1), dict(group=2)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n,c,h,w,m,k,attrs", CASES)
def test_nhwc_conv_matches_general_kernel(n, c, h, w, m, k, attrs, dtype):
    g = attrs.get("group", 1)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((m, c // g, *k)).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    want = conv(x, wt, b, kernel_shape=list(k), **attrs)
    got = nhwc_conv(_nhwc(x), _pack(wt), b, kernel_shape=list(k), **attrs)
    assert got.dtype == dtype and got.shape == (want.shape[0], *want.shape[2:], want.shape[1])
    tol = 1e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(_nchw(got), want, rtol=tol, atol=tol)


ACTS = [("", []), ("Relu", []), ("Clip", [0.0, 6.0]), ("Clip", [-np.inf, 0.5]), ("LeakyRelu", [0.1]),
        ("Sigmoid", []), ("HardSigmoid", [0.2, 0.5]), ("HardSwish", [])]


def _reference_activation(y, act, params):
    if act == "Relu":
        return np.maximum(y, 0)
    if act == "Clip":
        return np.clip(y, *params)
    if act == "LeakyRelu":
        return np.where(y < 0, y * params[0], y)
    if act == "Sigmoid":
        return 1 / (1 + np.exp(-y))
    if act == "HardSigmoid":
        return np.clip(y * params[0] + params[1], 0, 1)
    if act == "HardSwish":
        return y * np.clip(y / 6 + 0.5, 0, 1)
    return y


@pytest.mark.parametrize("act,params", ACTS)
def test_fused_residual_and_activation(act, params):
    x = rng.standard_normal((2, 6, 8, 8)).astype(np.float32)
    wt = rng.standard_normal((6, 6, 3, 3)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    z = rng.standard_normal((2, 6, 8, 8)).astype(np.float32)
    want = _reference_activation(conv(x, wt, b, pads=[1, 1, 1, 1]) + z, act, params)
    got = nhwc_conv(_nhwc(x), _pack(wt), b, _nhwc(z), pads=[1, 1, 1, 1], activation=act,
                    activation_params=params)
    np.testing.assert_allclose(_nchw(got), want, rtol=1e-4, atol=1e-4)


def test_residual_broadcasts_like_add():
    x = rng.standard_normal((1, 4, 5, 5)).astype(np.float32)
    wt = rng.standard_normal((3, 4, 1, 1)).astype(np.float32)
    z = rng.standard_normal((2, 3, 1, 5)).astype(np.float32)
    want = conv(x, wt) + z
    got = nhwc_conv(_nhwc(x), _pack(wt), None, _nhwc(z))
    np.testing.assert_allclose(_nchw(got), want, rtol=1e-5, atol=1e-5)


def test_activation_keeps_nan():
    y = np.array([np.nan, -1.0, 2.0], dtype=np.float32)
    assert np.isnan(apply_activation(y.copy(), "Relu", [])[0])


def test_im2col_in_pieces(monkeypatch):
    """A batch whose patches pass the copy budget goes a few images at a time, same result."""
    import onnxkit.ops.fused_conv as fc
    x = rng.standard_normal((5, 3, 15, 15)).astype(np.float32)
    wt = rng.standard_normal((8, 3, 7, 7)).astype(np.float32)
    attrs = dict(kernel_shape=[7, 7], pads=[3, 3, 3, 3], strides=[2, 2])
    whole = nhwc_conv(_nhwc(x), _pack(wt), **attrs)
    monkeypatch.setattr(fc, "_IM2COL_BYTES", 2 * 8 * 8 * 7 * 7 * 3 * 4)      # two images per piece
    pieces = nhwc_conv(_nhwc(x), _pack(wt), **attrs)
    np.testing.assert_allclose(pieces, whole, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_nchw(pieces), conv(x, wt, None, **attrs), rtol=1e-4, atol=1e-4)


def test_bad_weight_shape_is_an_error():
    with pytest.raises(ValueError, match="does not fit"):
        nhwc_conv(np.zeros((1, 4, 4, 3), np.float32), np.zeros((3, 3, 2, 4), np.float32))


POOLS = [
    dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    dict(kernel_shape=[2, 2], strides=[2, 2]),
    dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
    dict(kernel_shape=[3, 2], strides=[1, 2], dilations=[2, 1], pads=[2, 0, 1, 1]),
    dict(kernel_shape=[3, 3], auto_pad="SAME_UPPER", strides=[2, 2]),
    dict(kernel_shape=[1, 3]),
    dict(kernel_shape=[2, 2], pads=[2, 2, 2, 2]),                        # corner windows all padding
    dict(kernel_shape=[3, 3], strides=[3, 2], dilations=[2, 2], ceil_mode=1, pads=[1, 0, 2, 1]),
    dict(kernel_shape=[4, 4], strides=[3, 3], pads=[1, 1, 1, 1], ceil_mode=1),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
@pytest.mark.parametrize("attrs", POOLS)
def test_nhwc_max_pool_matches_general_kernel(attrs, dtype):
    x = (rng.standard_normal((2, 3, 10, 9)) * 10).astype(dtype)

    class Ctx:
        def output_present(self, i):
            return False

    want = max_pool(Ctx(), x, **attrs)
    got = nhwc_max_pool(_nhwc(x), **attrs)
    np.testing.assert_array_equal(_nchw(got), want)


def test_against_onnxruntime():
    """A Conv + Relu as onnxruntime computes it, through NhwcConv."""
    import onnx
    import onnxruntime as ort
    from onnx import helper as oh, numpy_helper
    x = rng.standard_normal((2, 16, 14, 14)).astype(np.float32)
    wt = (rng.standard_normal((32, 16, 3, 3)) * 0.1).astype(np.float32)
    b = rng.standard_normal(32).astype(np.float32)
    g = oh.make_graph([oh.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1], strides=[2, 2]),
                       oh.make_node("Relu", ["y"], ["z"])], "g",
                      [oh.make_tensor_value_info("x", onnx.TensorProto.FLOAT, x.shape)],
                      [oh.make_tensor_value_info("z", onnx.TensorProto.FLOAT, None)],
                      [numpy_helper.from_array(wt, "w"), numpy_helper.from_array(b, "b")])
    model = oh.make_model(g, opset_imports=[oh.make_opsetid("", 17)])
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = nhwc_conv(_nhwc(x), _pack(wt), b, pads=[1, 1, 1, 1], strides=[2, 2], activation="Relu")
    np.testing.assert_allclose(_nchw(got), want, rtol=1e-4, atol=1e-4)
