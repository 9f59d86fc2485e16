"""ai.onnx.ml preprocessing ops against onnxruntime on the same models."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper

import onnxkit

try:
    from .test_ml_linear import shapes_agree
except ImportError:
    from test_ml_linear import shapes_agree

F, I64, S = TensorProto.FLOAT, TensorProto.INT64, TensorProto.STRING


def run_both(op: str, feeds: dict, in_types: dict, out_types: list, ml_opset: int = 3, **attrs):
    ins = [helper.make_value_info(n, t if not isinstance(t, int) else
                                  helper.make_tensor_type_proto(t, np.shape(feeds[n])))
           for n, t in in_types.items()]
    outs = [helper.make_value_info(f"y{i}", t if not isinstance(t, int) else helper.make_tensor_type_proto(t, None))
            for i, t in enumerate(out_types)]
    node = helper.make_node(op, list(in_types), [o.name for o in outs], domain="ai.onnx.ml", **attrs)
    m = helper.make_model(helper.make_graph([node], "g", ins, outs),
                          opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", ml_opset)],
                          ir_version=8)
    want = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    got = onnxkit.Session(m.SerializeToString()).run(None, feeds)
    shapes_agree(m, got)
    for w, g in zip(want, got):
        if isinstance(w, list):
            assert g == w
            continue
        assert g.shape == w.shape, (g.shape, w.shape)
        if w.dtype.kind in "OUS":
            assert g.tolist() == w.tolist()
        else:
            assert g.dtype == w.dtype, (g.dtype, w.dtype)
            np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)
    return got


X = np.array([[1.5, -2.0, np.nan, 0.0], [3.0, 0.5, -1.0, 2.0]], np.float32)


def test_array_feature_extractor():
    run_both("ArrayFeatureExtractor", {"x": X, "i": np.array([3, 0, 3], np.int64)}, {"x": F, "i": I64}, [F])
    run_both("ArrayFeatureExtractor", {"x": X[0], "i": np.array([1], np.int64)}, {"x": F, "i": I64}, [F])


def test_binarizer_scaler_normalizer():
    run_both("Binarizer", {"x": np.nan_to_num(X)}, {"x": F}, [F], threshold=0.25)
    run_both("Scaler", {"x": X}, {"x": F}, [F], offset=[0.5, 1.0, 0.0, -1.0], scale=[2.0, 0.5, 1.0, 3.0])
    run_both("Scaler", {"x": X}, {"x": F}, [F], offset=[0.5], scale=[2.0])
    y = np.array([[1.0, -4.0, 2.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -0.5]], np.float32)
    for norm in ("MAX", "L1", "L2"):
        run_both("Normalizer", {"x": y}, {"x": F}, [F], norm=norm)


def test_imputer():
    run_both("Imputer", {"x": X}, {"x": F}, [F], imputed_value_floats=[9.0, 8.0, 7.0, 6.0],
             replaced_value_float=float("nan"))
    run_both("Imputer", {"x": X}, {"x": F}, [F], imputed_value_floats=[5.0], replaced_value_float=0.0)
    xi = np.array([[1, -1, 3], [-1, 2, -1]], np.int64)
    run_both("Imputer", {"x": xi}, {"x": I64}, [I64], imputed_value_int64s=[10, 20, 30], replaced_value_int64=-1)


def test_feature_vectorizer():
    a = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    b = np.array([[5, 6, 7], [8, 9, 10]], np.float32)
    run_both("FeatureVectorizer", {"a": a, "b": b}, {"a": F, "b": F}, [F], inputdimensions=[3, 2])
    i = np.array([[5, 6, 7], [8, 9, 10]], np.int64)
    run_both("FeatureVectorizer", {"a": i}, {"a": I64}, [F], inputdimensions=[4])


def test_one_hot_and_category_mapper():
    s = np.array([["a", "b"], ["z", "c"]], dtype=object)
    run_both("OneHotEncoder", {"x": s}, {"x": S}, [F], cats_strings=["c", "a", "b"])
    run_both("OneHotEncoder", {"x": np.array([3, 1, 7], np.int64)}, {"x": I64}, [F], cats_int64s=[1, 3, 5])
    run_both("CategoryMapper", {"x": s}, {"x": S}, [I64], cats_strings=["a", "b", "c"], cats_int64s=[10, 20, 30],
             default_int64=-7)
    run_both("CategoryMapper", {"x": np.array([20, 5, 10], np.int64)}, {"x": I64}, [S],
             cats_strings=["a", "b", "c"], cats_int64s=[10, 20, 30], default_string="?")


def test_label_encoder():
    s = np.array(["a", "q", "c"], dtype=object)
    run_both("LabelEncoder", {"x": s}, {"x": S}, [I64], ml_opset=1, classes_strings=["a", "b", "c"])
    run_both("LabelEncoder", {"x": np.array([2, 0, 9], np.int64)}, {"x": I64}, [S], ml_opset=1,
             classes_strings=["a", "b", "c"], default_string="none")
    run_both("LabelEncoder", {"x": s}, {"x": S}, [F], ml_opset=2, keys_strings=["a", "c"],
             values_floats=[0.5, 1.5], default_float=-3.0)
    fx = np.array([0.1, 2.0, np.nan, 7.0], np.float32)
    run_both("LabelEncoder", {"x": fx}, {"x": F}, [I64], ml_opset=2, keys_floats=[2.0, 0.1, 7.0],
             values_int64s=[1, 2, 3])
    run_both("LabelEncoder", {"x": np.array([5, 6, 8], np.int64)}, {"x": I64}, [S], ml_opset=4,
             keys_tensor=helper.make_tensor("k", I64, [2], [6, 8]),
             values_tensor=helper.make_tensor("v", S, [2], [b"six", b"eight"]))


def test_zip_map_and_maps():
    z = np.array([[0.25, 0.75], [0.5, 0.5]], np.float32)
    seq_map = helper.make_sequence_type_proto(helper.make_map_type_proto(S, helper.make_tensor_type_proto(F, [])))
    run_both("ZipMap", {"x": z}, {"x": F}, [seq_map], classlabels_strings=["no", "yes"])
    seq_map_i = helper.make_sequence_type_proto(helper.make_map_type_proto(I64, helper.make_tensor_type_proto(F, [])))
    run_both("ZipMap", {"x": z}, {"x": F}, [seq_map_i], classlabels_int64s=[4, 9])
    m = {2: 1.5, 0: -1.0, 5: 3.0}
    map_t = helper.make_map_type_proto(I64, helper.make_tensor_type_proto(F, []))
    run_both("CastMap", {"x": m}, {"x": map_t}, [F])
    run_both("CastMap", {"x": {1: 2.5, 0: 3.25e-7}}, {"x": map_t}, [S], cast_to="TO_STRING")
    run_both("CastMap", {"x": m}, {"x": map_t}, [I64], cast_to="TO_INT64", map_form="SPARSE", max_map=7)
    run_both("DictVectorizer", {"x": {"b": 2.0, "a": 1.0, "zz": 3.0}},
             {"x": helper.make_map_type_proto(S, helper.make_tensor_type_proto(F, []))}, [F],
             string_vocabulary=["a", "b", "c"])
