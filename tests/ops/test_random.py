"""Random ops: seeds give the same values every run, the distributions have
the asked parameters, types and shapes are onnxruntime's; shape rules against
onnx.shape_inference."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import onnxkit
from tests.ops.data_testutil import check_model, node_model


def _model(op: str, feeds: dict, opset: int = 21, **attrs) -> onnx.ModelProto:
    return node_model(op, feeds, opset=opset, **attrs)


def run(m: onnx.ModelProto, feeds: dict, seed: int | None = None) -> np.ndarray:
    return onnxkit.Session(m.SerializeToString(), seed=seed).run(None, feeds)[0]


def like_ort(m: onnx.ModelProto, feeds: dict) -> np.ndarray:
    """Our output, checked for dtype and shape against onnxruntime's (and the
    shape rule against onnx's)."""
    return check_model(m, feeds, values=False)[0]


X = {"x": np.zeros((300, 200), np.float32)}
GENERATORS = [("RandomNormal", {}, {"shape": [300, 200]}), ("RandomUniform", {}, {"shape": [300, 200]}),
              ("RandomNormalLike", X, {}), ("RandomUniformLike", X, {}),
              ("Bernoulli", {"x": np.full((300, 200), 0.3, np.float32)}, {}),
              ("Multinomial", {"x": np.zeros((30, 4), np.float32)}, {"sample_size": 50})]


@pytest.mark.parametrize("op,feeds,attrs", GENERATORS, ids=[g[0] for g in GENERATORS])
def test_seed_attribute_repeats_and_session_seed_too(op, feeds, attrs):
    a = run(_model(op, feeds, seed=3.0, **attrs), feeds)
    b = run(_model(op, feeds, seed=3.0, **attrs), feeds)
    c = run(_model(op, feeds, seed=4.0, **attrs), feeds)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    m = _model(op, feeds, **attrs)
    np.testing.assert_array_equal(run(m, feeds, seed=7), run(m, feeds, seed=7))
    assert not np.array_equal(run(m, feeds), run(m, feeds))
    like_ort(m, feeds)


def test_normal_and_uniform_parameters():
    y = run(_model("RandomNormal", {}, shape=[400, 500], mean=3.0, scale=2.0), {})
    assert abs(y.mean() - 3.0) < 0.02 and abs(y.std() - 2.0) < 0.02
    y = run(_model("RandomUniformLike", X, low=-2.0, high=5.0), X)
    assert y.min() >= -2.0 and y.max() < 5.0 and abs(y.mean() - 1.5) < 0.05


@pytest.mark.parametrize("dtype", [TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16])
def test_dtypes(dtype):
    y = run(_model("RandomUniform", {}, opset=22, shape=[3, 4], dtype=dtype), {})
    assert y.dtype == helper.tensor_dtype_to_np_dtype(dtype) and y.shape == (3, 4)
    x = {"x": np.zeros((2, 5), ml_dtypes.bfloat16)}
    y = run(_model("RandomNormalLike", x, opset=22), x)
    assert y.dtype == ml_dtypes.bfloat16


@pytest.mark.parametrize("dtype", [None, TensorProto.BOOL, TensorProto.INT32, TensorProto.DOUBLE])
def test_bernoulli_mean_and_dtype(dtype):
    feeds = {"p": np.array([[0.0, 0.2, 0.7, 1.0]] * 5000, np.float32)}
    m = _model("Bernoulli", feeds, **({} if dtype is None else {"dtype": dtype}))
    y = like_ort(m, feeds).astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(y, [0.0, 0.2, 0.7, 1.0], atol=0.03)


@pytest.mark.parametrize("dtype", [TensorProto.INT32, TensorProto.INT64])
def test_multinomial_frequencies(dtype):
    logits = np.log(np.array([[0.1, 0.2, 0.7], [0.5, 0.0001, 0.4999]], np.float32))
    m = _model("Multinomial", {"x": logits}, opset=7, sample_size=20000, dtype=dtype)
    y = like_ort(m, {"x": logits})
    freq = np.stack([np.bincount(r, minlength=3) for r in y]) / 20000
    np.testing.assert_allclose(freq, np.exp(logits), atol=0.015)
