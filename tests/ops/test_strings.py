"""String ops against onnxruntime beyond the conformance cases, and their shape
rules against onnx.shape_inference."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

import onnxkit
from tests.ops.data_testutil import check_model, node_model


def _model(op: str, feeds: dict, n_out: int = 1, opset: int = 20, **attrs) -> onnx.ModelProto:
    return node_model(op, feeds, opset=opset, n_out=n_out, ir_version=9, **attrs)


def check(op: str, feeds: dict, n_out: int = 1, opset: int = 20, oracle: str = "ort", **attrs) -> list:
    return check_model(_model(op, feeds, n_out, opset, **attrs), feeds, oracle, rtol=1e-6)


def S(*items, shape=None) -> np.ndarray:
    a = np.array(list(items), dtype=object)
    return a.reshape(shape) if shape else a


def test_string_concat_broadcasts_unicode():
    check("StringConcat", {"a": S("α", "b", "", "日本", shape=(2, 2)), "b": S("-x", "語")})


@pytest.mark.parametrize("attrs", [
    {"case_change_action": "LOWER", "stopwords": ["the", "A"]},
    {"case_change_action": "UPPER", "stopwords": ["The"], "is_case_sensitive": 1},
    {"case_change_action": "NONE"},
    {"stopwords": ["x", "y"]},
])
@pytest.mark.parametrize("two_d", [False, True])
def test_string_normalizer(attrs, two_d):
    """onnx.reference as the oracle (onnxruntime needs an installed en_US
    locale); single words, so its word-wise stop-word removal is element-wise."""
    words = S("The", "quick", "a", "Fox", "the", "A")
    check("StringNormalizer", {"x": words.reshape(1, -1) if two_d else words}, opset=10,
          oracle="reference", **attrs)


def test_string_normalizer_drops_everything():
    got = check("StringNormalizer", {"x": S("x", "x", shape=(1, 2))}, opset=10, oracle="reference",
                stopwords=["x"])
    assert got[0].tolist() == [[""]]
    # stop words match case-insensitively by default, whatever case_change_action says
    m = _model("StringNormalizer", {"x": S("X", "y")}, opset=10, stopwords=["x"])
    assert onnxkit.Session(m.SerializeToString()).run(None, {"x": S("X", "y")})[0].tolist() == ["y"]


@pytest.mark.parametrize("attrs", [{}, {"delimiter": "::"}, {"delimiter": ",", "maxsplit": 1},
                                   {"maxsplit": 2}, {"delimiter": " "}])
def test_string_split(attrs):
    x = S("a::b::c", "  lead  trail ", "x", "x,y,,z", "one", "1 2 3 4", shape=(2, 3))
    check("StringSplit", {"x": x}, n_out=2, **attrs)


def test_string_split_of_an_empty_string():
    """Whitespace splitting gives no substrings, a delimiter one empty one
    (Python's str.split and onnx.reference; onnxruntime gives none)."""
    x = S("", "a")
    assert check("StringSplit", {"x": x}, n_out=2, oracle="reference")[1].tolist() == [0, 1]
    assert check("StringSplit", {"x": x}, n_out=2, oracle="reference", delimiter=",")[1].tolist() == [1, 1]


@pytest.mark.parametrize("pattern", [r"[a-z]+@(gmail|yahoo)\.com", r"\d{3}-\d{4}", r".*", r"a|ab"])
def test_regex_full_match(pattern):
    x = S("joe@gmail.com", "555-1234", "ab", "", "a", "x@yahoo.com.au", shape=(3, 2))
    check("RegexFullMatch", {"x": x}, pattern=pattern)


TFIDF_INT = dict(min_gram_length=1, max_gram_length=3, ngram_counts=[0, 4, 10],
                 ngram_indexes=[8, 0, 1, 2, 3, 4, 5, 6, 7],
                 pool_int64s=[2, 3, 5, 4,  5, 6, 7, 8, 6, 7,  2, 3, 5, 3, 5, 4])


@pytest.mark.parametrize("mode", ["TF", "IDF", "TFIDF"])
@pytest.mark.parametrize("skip", [0, 1, 3])
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_tfidf_int_pool(mode, skip, dtype):
    x = np.array([[1, 2, 3, 5, 4, 5, 6, 7, 8, 6, 7, 2, 3, 5, 4],
                  [2, 3, 5, 4, 7, 8, 6, 7, 2, 3, 3, 5, 4, 4, 2]], dtype)
    weights = list(np.linspace(0.5, 2.0, 9))
    check("TfIdfVectorizer", {"x": x}, opset=9, mode=mode, max_skip_count=skip, weights=weights,
          **TFIDF_INT)
    check("TfIdfVectorizer", {"x": x[0]}, opset=9, mode=mode, max_skip_count=skip, **TFIDF_INT)


def test_tfidf_string_pool_only_bigrams():
    x = S("a", "b", "c", "a", "b", "x", "c", "a", shape=(2, 4))
    check("TfIdfVectorizer", {"x": x}, opset=9, mode="TF", min_gram_length=2, max_gram_length=2,
          max_skip_count=1, ngram_counts=[0, 2], ngram_indexes=[0, 1, 3, 2, 4, 5],
          pool_strings=["a", "c", "a", "b", "b", "c", "c", "a", "x", "c"])
