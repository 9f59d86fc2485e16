"""Tree ensembles against onnxruntime on random forests (every branch mode,
missing values, every aggregate and post-transform, binary corner cases)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

import onnxkit

try:
    from .test_ml_linear import shapes_agree
except ImportError:
    from test_ml_linear import shapes_agree

MODES = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"]


def forest(n_trees: int, depth: int, n_features: int, seed: int, modes=("BRANCH_LEQ",)) -> dict:
    """Full binary trees: node i has children 2i+1, 2i+2; the last level are leaves."""
    rng = np.random.default_rng(seed)
    a: dict[str, list] = {k: [] for k in ("nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values",
                                          "nodes_modes", "nodes_truenodeids", "nodes_falsenodeids",
                                          "nodes_missing_value_tracks_true")}
    leaves = []
    n_inner = 2 ** depth - 1
    for t in range(n_trees):
        for i in range(2 ** (depth + 1) - 1):
            inner = i < n_inner
            a["nodes_treeids"].append(t)
            a["nodes_nodeids"].append(i)
            a["nodes_featureids"].append(int(rng.integers(n_features)) if inner else 0)
            a["nodes_values"].append(float(np.float32(rng.choice([-0.5, 0.0, 0.5, 1.0]) if inner else 0)))
            a["nodes_modes"].append(str(rng.choice(modes)) if inner else "LEAF")
            a["nodes_truenodeids"].append(2 * i + 1 if inner else 0)
            a["nodes_falsenodeids"].append(2 * i + 2 if inner else 0)
            a["nodes_missing_value_tracks_true"].append(int(rng.integers(2)) if inner else 0)
            if not inner:
                leaves.append((t, i))
    return a, leaves, rng


def run_both(op: str, x: np.ndarray, outputs, **attrs) -> None:
    node = helper.make_node(op, ["X"], [n for n, _ in outputs], domain="ai.onnx.ml", **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, x.shape)],
                              [helper.make_tensor_value_info(n, t, None) for n, t in outputs])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)],
                          ir_version=8)
    want = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"X": x})
    got = onnxkit.Session(m.SerializeToString()).run(None, {"X": x})
    shapes_agree(m, got)
    for w, g in zip(want, got):
        assert g.shape == w.shape and g.dtype.kind == w.dtype.kind
        if w.dtype.kind in "OUS":
            assert g.tolist() == w.tolist()
        else:
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def inputs(n: int = 40, f: int = 4, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.choice([-1.0, -0.5, 0.0, 0.25, 0.5, 1.0, 2.0], size=(n, f)).astype(np.float32)
    x[rng.random((n, f)) < 0.1] = np.nan
    return x


@pytest.mark.parametrize("agg", ["SUM", "AVERAGE", "MIN", "MAX"])
@pytest.mark.parametrize("base", [None, [0.5, -1.0]])
def test_regressor(agg, base):
    a, leaves, rng = forest(3, 3, 4, 0, MODES)
    ids, nodes, trees, weights = [], [], [], []
    for t, i in leaves:
        for k in rng.choice(2, size=int(rng.integers(1, 3)), replace=False):   # one or two targets per leaf
            trees.append(t), nodes.append(i), ids.append(int(k)), weights.append(float(rng.normal()))
    extra = {"base_values": base} if base else {}
    run_both("TreeEnsembleRegressor", inputs(), [("Y", TensorProto.FLOAT)], n_targets=2, aggregate_function=agg,
             target_treeids=trees, target_nodeids=nodes, target_ids=ids, target_weights=weights, **a, **extra)


@pytest.mark.parametrize("post", ["NONE", "PROBIT"])
def test_regressor_one_target(post):
    a, leaves, rng = forest(4, 2, 4, 3)
    run_both("TreeEnsembleRegressor", inputs(), [("Y", TensorProto.FLOAT)], n_targets=1, post_transform=post,
             target_treeids=[t for t, _ in leaves], target_nodeids=[i for _, i in leaves],
             target_ids=[0] * len(leaves), target_weights=rng.uniform(0.1, 0.3, len(leaves)).tolist(),
             base_values=[0.05], **a)


@pytest.mark.parametrize("post", ["NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO"])
def test_classifier_multiclass(post):
    a, leaves, rng = forest(3, 3, 4, 1, MODES)
    cls = [(t, i, k, float(rng.uniform(-1, 1))) for t, i in leaves for k in range(3) if rng.random() < 0.7]
    run_both("TreeEnsembleClassifier", inputs(), [("Y", TensorProto.STRING), ("Z", TensorProto.FLOAT)],
             classlabels_strings=["a", "b", "c"], post_transform=post, base_values=[0.1, 0.0, -0.1],
             class_treeids=[c[0] for c in cls], class_nodeids=[c[1] for c in cls],
             class_ids=[c[2] for c in cls], class_weights=[c[3] for c in cls], **a)


@pytest.mark.parametrize("post", ["NONE", "LOGISTIC"])
@pytest.mark.parametrize("positive", [True, False])
@pytest.mark.parametrize("base", [None, [0.2], [0.3, 0.3]])
@pytest.mark.parametrize("class_id", [0, 1])
def test_classifier_binary_one_class(post, positive, base, class_id):
    """One class id voted for (gradient boosting's binary form)."""
    a, leaves, rng = forest(3, 2, 4, 2)
    w = rng.uniform(0 if positive else -1, 0.4, len(leaves)).tolist()
    extra = {"base_values": base} if base else {}
    run_both("TreeEnsembleClassifier", inputs(), [("Y", TensorProto.INT64), ("Z", TensorProto.FLOAT)],
             classlabels_int64s=[0, 1], post_transform=post, class_treeids=[t for t, _ in leaves],
             class_nodeids=[i for _, i in leaves], class_ids=[class_id] * len(leaves), class_weights=w, **a, **extra)


@pytest.mark.parametrize("post", ["NONE", "SOFTMAX"])
def test_classifier_binary_both_classes(post):
    """Both classes voted for (a random forest's probabilities)."""
    a, leaves, rng = forest(2, 2, 4, 5)
    p = rng.uniform(0, 1, len(leaves))
    run_both("TreeEnsembleClassifier", inputs(), [("Y", TensorProto.INT64), ("Z", TensorProto.FLOAT)],
             classlabels_int64s=[4, 7], post_transform=post,
             class_treeids=[t for t, _ in leaves] * 2, class_nodeids=[i for _, i in leaves] * 2,
             class_ids=[0] * len(leaves) + [1] * len(leaves), class_weights=(p / 2).tolist() + ((1 - p) / 2).tolist(),
             **a)
