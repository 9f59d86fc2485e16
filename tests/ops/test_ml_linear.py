"""ai.onnx.ml linear models and SVMs against onnxruntime on the same models."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

import onnxkit
from onnxkit.infer import infer_shapes

RNG = np.random.default_rng(0)


def _model(op: str, x: np.ndarray, outputs: list[tuple[str, int]], **attrs) -> onnx.ModelProto:
    elem = helper.np_dtype_to_tensor_dtype(x.dtype)
    node = helper.make_node(op, ["X"], [n for n, _ in outputs], domain="ai.onnx.ml", **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", elem, None)],
                              [helper.make_tensor_value_info(n, t, None) for n, t in outputs])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("ai.onnx.ml", 3)], ir_version=8)


def shapes_agree(m: onnx.ModelProto, got: list) -> None:
    """The inferred output types hold the values computed, and every dim
    onnx.shape_inference knows, onnxkit knows the same."""
    theirs = onnx.shape_inference.infer_shapes(m).graph.output
    ours = infer_shapes(onnxkit.load(m.SerializeToString()), strict=True).graph.outputs
    for t, o, value in zip(theirs, ours, got):
        if not isinstance(value, np.ndarray):
            continue
        assert o.type.shape is not None, o
        assert len(o.type.shape) == value.ndim and all(d is None or d == n for d, n in zip(o.type.shape, value.shape))
        if t.type.tensor_type.HasField("shape"):
            for d, theirs_d in zip(o.type.shape, t.type.tensor_type.shape.dim):
                assert not theirs_d.HasField("dim_value") or d == theirs_d.dim_value, (o, t)


def check(op: str, x: np.ndarray, outputs: list[tuple[str, int]], rtol=1e-5, atol=1e-5, **attrs) -> None:
    m = _model(op, x, outputs, **attrs)
    m.graph.input[0].type.tensor_type.shape.dim.extend([onnx.TensorShapeProto.Dimension(dim_value=n) for n in x.shape])
    want = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"X": x})
    got = onnxkit.Session(m.SerializeToString()).run(None, {"X": x})
    shapes_agree(m, got)
    for w, g in zip(want, got):
        w = np.asarray(w)
        assert g.shape == w.shape, (g.shape, w.shape)
        if w.dtype.kind in "OUS":
            assert g.tolist() == w.tolist()
        else:
            assert g.dtype == w.dtype, (g.dtype, w.dtype)
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


LABEL_INT = [("Y", TensorProto.INT64), ("Z", TensorProto.FLOAT)]
LABEL_STR = [("Y", TensorProto.STRING), ("Z", TensorProto.FLOAT)]
TRANSFORMS = ["NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO"]


@pytest.mark.parametrize("post", TRANSFORMS)
def test_linear_classifier_multiclass(post):
    x = RNG.standard_normal((7, 4)).astype(np.float32)
    check("LinearClassifier", x, LABEL_INT, coefficients=RNG.standard_normal(12).tolist(),
          intercepts=[0.1, -0.2, 0.3], classlabels_ints=[5, 6, 7], post_transform=post)


@pytest.mark.parametrize("post", TRANSFORMS)
@pytest.mark.parametrize("labels", [{"classlabels_ints": [3, 9]}, {"classlabels_strings": ["no", "yes"]}])
def test_linear_classifier_binary(post, labels):
    x = RNG.standard_normal((6, 3)).astype(np.float32)
    outs = LABEL_STR if "classlabels_strings" in labels else LABEL_INT
    check("LinearClassifier", x, outs, coefficients=[0.5, -1.0, 2.0], intercepts=[0.25],
          post_transform=post, **labels)


def test_linear_regressor():
    x = (RNG.standard_normal((5, 3)) * 3).astype(np.float32)
    check("LinearRegressor", x, [("Y", TensorProto.FLOAT)], coefficients=RNG.standard_normal(6).tolist(),
          intercepts=[1.0, 2.0], targets=2)
    check("LinearRegressor", x, [("Y", TensorProto.FLOAT)], coefficients=[1.0, 2.0, 3.0])


SV = RNG.standard_normal((6, 3)).round(2)


@pytest.mark.parametrize("kernel", ["LINEAR", "POLY", "RBF", "SIGMOID"])
@pytest.mark.parametrize("proba", [False, True])
def test_svm_classifier_multiclass(kernel, proba):
    x = RNG.standard_normal((8, 3)).astype(np.float32)
    extra = dict(prob_a=[-1.2, -0.8, -1.0], prob_b=[0.1, -0.1, 0.05]) if proba else {}
    check("SVMClassifier", x, LABEL_INT, rtol=1e-3, atol=1e-4, classlabels_ints=[0, 1, 2],
          vectors_per_class=[2, 2, 2], support_vectors=SV.ravel().tolist(),
          coefficients=RNG.standard_normal(12).round(2).tolist(), rho=[0.1, -0.2, 0.3],
          kernel_type=kernel, kernel_params=[0.3, 0.1, 2], **extra)


@pytest.mark.parametrize("post", ["NONE", "LOGISTIC"])
def test_svm_classifier_binary(post):
    x = RNG.standard_normal((8, 3)).astype(np.float32)
    check("SVMClassifier", x, LABEL_STR, classlabels_strings=["a", "b"], vectors_per_class=[3, 3],
          support_vectors=SV.ravel().tolist(), coefficients=[0.5, -0.2, 0.3, -0.4, 0.1, -0.6],
          rho=[0.05], kernel_type="RBF", kernel_params=[0.5, 0, 0], post_transform=post)


def test_svm_classifier_linear_mode():
    x = RNG.standard_normal((5, 3)).astype(np.float32)
    check("SVMClassifier", x, LABEL_INT, classlabels_ints=[1, 2, 3],
          coefficients=RNG.standard_normal(9).tolist(), rho=[0.5], post_transform="SOFTMAX",
          kernel_params=[0.1, 0.0, 1])


@pytest.mark.parametrize("one_class", [0, 1])
def test_svm_regressor(one_class):
    x = RNG.standard_normal((6, 3)).astype(np.float32)
    check("SVMRegressor", x, [("Y", TensorProto.FLOAT)], n_supports=6, support_vectors=SV.ravel().tolist(),
          coefficients=RNG.standard_normal(6).tolist(), rho=[0.2], kernel_type="RBF",
          kernel_params=[0.4, 0, 0], one_class=one_class)
    check("SVMRegressor", x, [("Y", TensorProto.FLOAT)], coefficients=[1.0, -2.0, 0.5], rho=[0.3],
          kernel_params=[0.1, 0.0, 1])
