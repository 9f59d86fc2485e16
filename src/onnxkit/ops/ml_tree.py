"""ai.onnx.ml tree ensembles: TreeEnsembleClassifier, TreeEnsembleRegressor
(ml opsets 1 and 3) and TreeEnsemble (ml opset 5).

Every ensemble becomes one flat forest (arrays over all nodes of all trees);
all rows and all trees advance together, one tree level per step, by numpy
indexing.  Leaf weights are gathered from a dense [node, target] table.
Where the spec is vague (binary classifiers, MIN/MAX with no vote, base
values), onnxruntime's behaviour is kept.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import RunError
from ..ir import DataType
from ._registry import kernel, shape
from .ml_linear import ML, binary_scores, class_labels, rows, set_classifier, transform_scores

__all__: list[str] = []

# comparison codes (TreeEnsemble v5 numbering; v1/v3 names map onto them)
LEQ, LT, GTE, GT, EQ, NEQ, MEMBER = range(7)
_MODE_NAMES = {"BRANCH_LEQ": LEQ, "BRANCH_LT": LT, "BRANCH_GTE": GTE, "BRANCH_GT": GT,
               "BRANCH_EQ": EQ, "BRANCH_NEQ": NEQ}
_COMPARE = {LEQ: np.less_equal, LT: np.less, GTE: np.greater_equal, GT: np.greater,
            EQ: np.equal, NEQ: np.not_equal}
# [mode * 8 + 4*(v < t) + 2*(v == t) + (v > t)] -> branch taken; NaN compares false everywhere
_OUTCOMES = np.array([[bool(f(lt, eq, gt)) for lt in (0, 1) for eq in (0, 1) for gt in (0, 1)]
                      for f in (lambda lt, eq, gt: lt or eq, lambda lt, eq, gt: lt, lambda lt, eq, gt: gt or eq,
                                lambda lt, eq, gt: gt, lambda lt, eq, gt: eq, lambda lt, eq, gt: not eq,
                                lambda lt, eq, gt: False)]).reshape(-1)
_AGGREGATES = ["AVERAGE", "SUM", "MIN", "MAX"]
_TRANSFORMS = ["NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO", "PROBIT"]


class _Forest:
    """Flat arrays over every node (leaves included) of every tree.  A leaf
    is its own child, so a finished path stays put while others go on."""

    def __init__(self, feature, threshold, mode, true_child, false_child, leaf, nan_true, roots,
                 members: dict[int, np.ndarray] | None = None) -> None:
        self.leaf = np.asarray(leaf, bool)
        n = len(self.leaf)
        own = np.arange(n)
        self.feature = np.where(self.leaf, 0, np.asarray(feature, np.int64))
        self.threshold = np.asarray(threshold, np.float64)
        # float32 inputs compare at float32 when every threshold is a float32 (v1/v3 attributes are)
        t32 = self.threshold.astype(np.float32)
        self.threshold32 = t32 if np.array_equal(t32, self.threshold, equal_nan=True) else None
        self.mode = np.asarray(mode, np.int8)
        self.true_child = np.where(self.leaf, own, np.asarray(true_child, np.int64))
        self.false_child = np.where(self.leaf, own, np.asarray(false_child, np.int64))
        self.children = np.stack([self.true_child, self.false_child], axis=1).reshape(-1)  # [2*node + !go]
        self.nan_true = np.asarray(nan_true, bool) & ~self.leaf
        self.roots = np.asarray(roots, np.int64)
        self.members = members or {}
        modes = np.unique(self.mode[~self.leaf])
        self.single_mode = int(modes[0]) if len(modes) == 1 and modes[0] != MEMBER else None
        for name, child in (("true", self.true_child), ("false", self.false_child)):
            bad = (child < 0) | (child >= n)
            if bad.any():
                raise RunError(f"tree node {int(np.argmax(bad))} has a {name} child outside the ensemble")
        if (self.feature < 0).any():
            raise RunError(f"tree node {int(np.argmax(self.feature < 0))} reads a negative feature index")
        if len(self.roots) and (self.roots.min() < 0 or self.roots.max() >= n):
            raise RunError("a tree root is outside the ensemble")

    def leaves(self, x: np.ndarray) -> np.ndarray:
        """[N, T]: the leaf each row reaches in each tree."""
        x = np.asarray(x)
        x = x.reshape(1, -1) if x.ndim == 1 else x.reshape(x.shape[0], -1)
        if x.dtype != np.float32 or self.threshold32 is None:
            x = x.astype(np.float64)
        thr = self.threshold32 if x.dtype == np.float32 else self.threshold
        n, f = x.shape
        inner = ~self.leaf
        if inner.any() and self.feature[inner].max(initial=0) >= f:
            raise RunError(f"a tree reads feature {int(self.feature[inner].max())} of inputs with {f}")
        t = len(self.roots)
        small = max(len(self.leaf) * 2, n * f) < 2 ** 31
        itype = np.int32 if small else np.int64
        # tree-major order keeps each step's reads within one tree's nodes
        idx = np.repeat(self.roots.astype(itype), n)
        row = np.tile(np.arange(n, dtype=itype) * itype(f), t)
        feature, children = self.feature.astype(itype), self.children.astype(itype)
        xf = x.reshape(-1)
        any_nan = bool(self.nan_true.any())
        for _ in range(len(self.leaf) + 1):
            if self.leaf[idx].all():
                return idx.reshape(t, n).T
            v = xf[row + feature[idx]]
            go = self._compare(idx, v, thr)
            if any_nan:
                go |= np.isnan(v) & self.nan_true[idx]
            idx = children[2 * idx + ~go]
        raise RunError("a tree ensemble has a cycle (a path longer than the number of nodes)")

    def _compare(self, nodes: np.ndarray, v: np.ndarray, thr: np.ndarray) -> np.ndarray:
        if self.single_mode is not None:
            return _COMPARE[self.single_mode](v, thr[nodes])
        modes = self.mode[nodes].astype(np.intp)
        th = thr[nodes]
        outcome = (v < th).view(np.int8) * 4 + (v == th).view(np.int8) * 2 + (v > th).view(np.int8)
        out = _OUTCOMES[modes * 8 + outcome]
        if self.members:
            m = modes == MEMBER
            for node in np.unique(nodes[m]):
                mm = m & (nodes == node)
                out[mm] = np.isin(v[mm], self.members.get(int(node), ()))
        return out


def _leaf_table(n_nodes: int, n_targets: int, nodes: np.ndarray, targets: np.ndarray,
                weights: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray]:
    """Dense [node, target] weights (merged per ``how``) and a mask of where a weight is."""
    if len(targets) and (targets.min() < 0 or targets.max() >= n_targets):
        raise RunError(f"a leaf votes for target {int(targets.max())}, out of range for {n_targets}")
    has = np.zeros((n_nodes, n_targets), bool)
    has[nodes, targets] = True
    if how == "MIN":
        w = np.full((n_nodes, n_targets), np.inf)
        np.minimum.at(w, (nodes, targets), weights)
    elif how == "MAX":
        w = np.full((n_nodes, n_targets), -np.inf)
        np.maximum.at(w, (nodes, targets), weights)
    else:
        w = np.zeros((n_nodes, n_targets))
        np.add.at(w, (nodes, targets), weights)
    return np.where(has, w, 0.0), has


def _aggregate(forest: _Forest, x: np.ndarray, table: tuple[np.ndarray, np.ndarray], how: str
               ) -> tuple[np.ndarray, np.ndarray]:
    """[N, K] aggregated scores (0 where no vote) and the mask of voted targets."""
    w, has = table
    leaves = forest.leaves(x)
    n = leaves.shape[0]
    score = np.zeros((n, w.shape[1]))
    voted = np.zeros((n, w.shape[1]), bool)
    for t in range(leaves.shape[1]):
        lw, lh = w[leaves[:, t]], has[leaves[:, t]]
        if how in ("SUM", "AVERAGE"):
            score += lw
        else:
            better = (lw < score) if how == "MIN" else (lw > score)
            score = np.where(lh & (~voted | better), lw, score)
        voted |= lh
    if how == "AVERAGE" and leaves.shape[1]:
        score /= leaves.shape[1]
    return score, voted


def _regression_output(score: np.ndarray, voted: np.ndarray, base, transform: str, dtype=np.float32
                       ) -> np.ndarray:
    """Base values added; with several targets, a target no leaf voted for is 0."""
    if base is not None and len(base) == score.shape[1]:
        score = score + np.asarray(base, np.float64)
    if score.shape[1] >= 2:
        score = np.where(voted, score, 0.0)
    if score.shape[1] >= 2 or transform == "PROBIT":
        return transform_scores(score, transform).astype(dtype)
    return score.astype(dtype)


# ------------------------------------------------------------- v1 / v3
def _first(*candidates: Any) -> Any:
    for c in candidates:
        if c is not None and len(c):
            return c
    return None


class _NodeIndex:
    """(tree id, node id) -> position in the attribute tuples, vectorized."""

    def __init__(self, treeids, nodeids) -> None:
        self.tree = np.asarray(treeids, np.int64)
        nid = np.asarray(nodeids, np.int64)
        self.span = int(nid.max()) + 1 if len(nid) else 1
        keys = self.tree * self.span + nid
        self.order = np.argsort(keys, kind="stable")
        self.keys = keys[self.order]

    def __call__(self, trees, nodes) -> np.ndarray:
        """Positions, -1 where no such node."""
        k = np.asarray(trees, np.int64) * self.span + np.asarray(nodes, np.int64)
        pos = np.clip(np.searchsorted(self.keys, k), 0, max(len(self.keys) - 1, 0))
        found = (self.keys[pos] == k) & (np.asarray(nodes) < self.span) if len(self.keys) else np.zeros(k.shape, bool)
        return np.where(found, self.order[pos], -1)


def _legacy_forest(treeids, nodeids, featureids, modes, values, truenodeids, falsenodeids,
                   missing) -> tuple[_Forest, _NodeIndex]:
    """The forest of the v1/v3 attribute tuples, and its (tree id, node id) index."""
    n = len(nodeids)
    where = _NodeIndex(treeids, nodeids)
    names, inverse = np.unique(np.asarray(modes, dtype=object).astype(str), return_inverse=True)
    unknown = sorted(set(names) - set(_MODE_NAMES) - {"LEAF"})
    if unknown:
        raise RunError(f"unknown tree node modes {unknown}")
    codes = np.array([_MODE_NAMES.get(m, LEQ) for m in names], np.int8)[inverse]
    leaf = (names == "LEAF")[inverse]
    tc, fc = where(treeids, truenodeids), where(treeids, falsenodeids)
    _, roots = np.unique(where.tree, return_index=True)
    nan_true = np.asarray(missing, bool) if missing is not None and len(missing) else np.zeros(n, bool)
    return _Forest(featureids, values, codes, tc, fc, leaf, nan_true, np.sort(roots)), where


def _legacy(kw: dict, prefix: str, weights_key: str) -> tuple[_Forest, np.ndarray, np.ndarray, np.ndarray]:
    values = _first(kw.get("nodes_values"), kw.get("nodes_values_as_tensor"))
    forest, where = _legacy_forest(kw["nodes_treeids"], kw["nodes_nodeids"], kw["nodes_featureids"],
                                   kw["nodes_modes"], values if values is not None else [0.0] * len(kw["nodes_nodeids"]),
                                   kw["nodes_truenodeids"], kw["nodes_falsenodeids"],
                                   kw.get("nodes_missing_value_tracks_true"))
    nodes = where(kw[f"{prefix}_treeids"], kw[f"{prefix}_nodeids"])
    if (nodes < 0).any():
        k = int(np.argmax(nodes < 0))
        raise RunError(f"a leaf weight names (tree {kw[f'{prefix}_treeids'][k]}, node "
                       f"{kw[f'{prefix}_nodeids'][k]}), which is not a node")
    targets = np.asarray(kw[f"{prefix}_ids"], np.int64)
    weights = np.asarray(_first(kw.get(weights_key), kw.get(weights_key + "_as_tensor")), np.float64)
    return forest, nodes, targets, weights


@kernel("TreeEnsembleRegressor", 1, domain=ML)
def tree_ensemble_regressor(x, *, n_targets=None, aggregate_function="SUM", post_transform="NONE",
                            base_values=None, base_values_as_tensor=None, **kw):
    forest, nodes, targets, weights = _legacy(kw, "target", "target_weights")
    k = int(n_targets) if n_targets else int(targets.max()) + 1 if len(targets) else 1
    table = _leaf_table(len(forest.leaf), k, nodes, targets, weights, aggregate_function)
    score, voted = _aggregate(forest, x, table, aggregate_function)
    return _regression_output(score, voted, _first(base_values, base_values_as_tensor), post_transform)


@kernel("TreeEnsembleClassifier", 1, domain=ML)
def tree_ensemble_classifier(x, *, classlabels_int64s=None, classlabels_strings=None, post_transform="NONE",
                             base_values=None, base_values_as_tensor=None, **kw):
    forest, nodes, targets, weights = _legacy(kw, "class", "class_weights")
    labels = class_labels(classlabels_int64s, classlabels_strings)
    k = len(labels)
    score, voted = _aggregate(forest, x, _leaf_table(len(forest.leaf), k, nodes, targets, weights, "SUM"),
                              "SUM")
    base = _first(base_values, base_values_as_tensor)
    base = np.asarray(base if base is not None else [], np.float64)
    if k > 2:
        score[:, :len(base)] += base
        voted[:, :len(base)] = True
        y = labels[np.argmax(np.where(voted, score, -np.inf), axis=1)]
        return y, transform_scores(score, post_transform)
    if k != 2:
        raise RunError(f"TreeEnsembleClassifier needs at least 2 class labels, got {k}")
    return _binary_classifier(score, voted, base, labels, post_transform,
                              binary=len(set(targets.tolist())) == 1, all_positive=bool((weights >= 0).all()))


def _binary_classifier(score, voted, base, labels, transform, *, binary: bool, all_positive: bool):
    """Two classes, as onnxruntime finalizes them: unless two base values are
    given, rows where class 1 got no vote keep one score, expanded to two columns."""
    p0, p1, h0, h1 = score[:, 0].copy(), score[:, 1].copy(), voted[:, 0], voted[:, 1].copy()
    if len(base) == 2:
        p1 = np.where(h1, base[1] + p0, p1 + base[1])
        p0 = np.where(h1, -p1, p0 + base[0])
    elif len(base) == 1:
        p0 = p0 + base[0]
    pos = np.where(h1, p1, np.where(h0, p0, 0.0))
    if binary:
        up = pos > 0.5 if all_positive else pos > 0
        y = np.where(up, labels[1], labels[0])
        mixed = not all_positive
    else:
        y = np.where(pos > 0, 1, 0)
        y = labels[y] if labels.dtype == object else y.astype(np.int64)
        mixed = len(base) == 0
    two = transform_scores(np.stack([np.where(h0, p0, 0.0), np.where(h1, p1, 0.0)], axis=1), transform)
    one = binary_scores(p0, transform, mixed=mixed) if (binary or len(base) == 0) else \
        np.stack([p0, np.zeros_like(p0)], axis=1)
    if one.shape[1] == 1:
        one = np.concatenate([one, np.zeros_like(one)], axis=1)
    z = np.where((h1 | (len(base) == 2))[:, None], two, one).astype(np.float32)
    return np.asarray(y, dtype=labels.dtype), z


# ------------------------------------------------------------- v5
@kernel("TreeEnsemble", 5, domain=ML)
def tree_ensemble(x, *, nodes_splits, nodes_featureids, nodes_modes, nodes_truenodeids, nodes_falsenodeids,
                  nodes_trueleafs, nodes_falseleafs, leaf_targetids, leaf_weights, tree_roots,
                  n_targets=None, aggregate_function=1, post_transform=0, nodes_hitrates=None,
                  nodes_missing_value_tracks_true=None, membership_values=None):
    n = len(nodes_featureids)
    modes = np.asarray(nodes_modes).reshape(-1).astype(np.int64)
    members = _members(modes, membership_values)
    tl, fl = np.asarray(nodes_trueleafs, bool), np.asarray(nodes_falseleafs, bool)
    tc = np.where(tl, n + np.asarray(nodes_truenodeids, np.int64), nodes_truenodeids)
    fc = np.where(fl, n + np.asarray(nodes_falsenodeids, np.int64), nodes_falsenodeids)
    n_leaves = len(leaf_targetids)
    roots = np.asarray(tree_roots, np.int64)
    single = tl[roots] & fl[roots] & (np.asarray(nodes_truenodeids)[roots] == np.asarray(nodes_falsenodeids)[roots])
    roots = np.where(single, tc[roots], roots)
    pad = [0] * n_leaves
    missing = nodes_missing_value_tracks_true if nodes_missing_value_tracks_true is not None else [0] * n
    forest = _Forest(list(nodes_featureids) + pad, np.concatenate([np.asarray(nodes_splits, np.float64).reshape(-1),
                                                                   np.zeros(n_leaves)]),
                     list(modes) + pad, list(tc) + pad, list(fc) + pad, [False] * n + [True] * n_leaves,
                     list(np.asarray(missing).reshape(-1)) + pad, roots, members)
    how = _AGGREGATES[int(aggregate_function)]
    k = int(n_targets) if n_targets else int(np.max(leaf_targetids)) + 1
    table = _leaf_table(n + n_leaves, k, np.arange(n, n + n_leaves), np.asarray(leaf_targetids, np.int64),
                        np.asarray(leaf_weights, np.float64).reshape(-1), how)
    score, voted = _aggregate(forest, x, table, how)
    dtype = x.dtype if x.dtype.kind == "f" else np.float32
    return _regression_output(score, voted, None, _TRANSFORMS[int(post_transform)], dtype)


def _members(modes: np.ndarray, values) -> dict[int, np.ndarray]:
    """Set members of the MEMBER nodes: ``membership_values`` lists each one's set, NaN-separated."""
    member_nodes = np.nonzero(modes == MEMBER)[0]
    if not len(member_nodes):
        return {}
    if values is None:
        raise RunError("TreeEnsemble has set-membership nodes but no membership_values")
    values = np.asarray(values, np.float64).reshape(-1)
    cuts = np.nonzero(np.isnan(values))[0]
    if len(cuts) != len(member_nodes):
        raise RunError(f"membership_values holds {len(cuts)} sets for {len(member_nodes)} membership nodes")
    starts = np.concatenate([[0], cuts[:-1] + 1])
    return {int(node): values[s:e] for node, s, e in zip(member_nodes, starts, cuts)}


# ------------------------------------------------------------- shape rules
@shape("TreeEnsembleClassifier", 1, domain=ML)
def tree_ensemble_classifier_shape(ctx) -> None:
    k = len(ctx.attr("classlabels_strings") or ctx.attr("classlabels_int64s") or [])
    set_classifier(ctx, "classlabels_strings", k or None)


def _targets(ctx, ids_attr: str):
    n = ctx.attr("n_targets")
    if n:
        return n
    ids = ctx.attr(ids_attr)
    return int(np.max(ids)) + 1 if ids is not None and len(ids) else None


@shape("TreeEnsembleRegressor", 1, domain=ML)
def tree_ensemble_regressor_shape(ctx) -> None:
    ctx.set_output(0, DataType.FLOAT, (rows(ctx), _targets(ctx, "target_ids")))


@shape("TreeEnsemble", 5, domain=ML)
def tree_ensemble_shape(ctx) -> None:
    dt = ctx.input_dtype(0)
    ctx.set_output(0, dt if dt is not None and dt.is_floating else DataType.FLOAT,
                   (rows(ctx), _targets(ctx, "leaf_targetids")))
