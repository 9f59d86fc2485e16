"""ai.onnx.ml linear models: LinearClassifier, LinearRegressor, SVMClassifier,
SVMRegressor, and the score post-transforms the ml classifiers share.

Scores are float32 and inputs are cast to float32 first, as onnxruntime does;
where the spec leaves the binary cases open, onnxruntime's behaviour is kept.
"""

from __future__ import annotations

import numpy as np

from ..errors import RunError
from ..ir import DataType
from ._registry import kernel, shape

__all__ = ["binary_scores", "class_labels", "label_dtype", "rows", "set_classifier", "transform_scores"]

ML = "ai.onnx.ml"
_SQRT2 = np.float32(1.41421356)


def _erfinv(x: np.ndarray) -> np.ndarray:
    """The approximation of erf^-1 that onnxruntime uses (Winitzki, a = 0.147)."""
    x = x.astype(np.float32)
    sgn = np.where(x < 0, np.float32(-1), np.float32(1))
    with np.errstate(divide="ignore", invalid="ignore"):
        ln = np.log((1 - x) * (1 + x))
        v = np.float32(2 / (3.14159 * 0.147)) + np.float32(0.5) * ln
        v2 = np.float32(1 / 0.147) * ln
        return (sgn * np.sqrt(-v + np.sqrt(v * v - v2))).astype(np.float32)


def _logistic(s: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        v = 1 / (1 + np.exp(-np.abs(s)))
    return np.where(s < 0, 1 - v, v).astype(np.float32)


def transform_scores(scores: np.ndarray, name: str) -> np.ndarray:
    """Apply NONE / LOGISTIC / SOFTMAX / SOFTMAX_ZERO / PROBIT to rows of scores."""
    s = scores.astype(np.float32, copy=True)
    if name in ("NONE", None) or s.size == 0:
        return s
    if name == "LOGISTIC":
        return _logistic(s)
    if name == "PROBIT":
        return (_SQRT2 * _erfinv(2 * s - 1)).astype(np.float32)
    if name in ("SOFTMAX", "SOFTMAX_ZERO"):
        m = s.max(axis=-1, keepdims=True)
        e = np.exp(s - m)
        if name == "SOFTMAX_ZERO":
            small = np.abs(s) <= np.float32(1e-7)
            e = np.where(small, s * np.exp(-m), e)
            total = np.where(small, 0, e).sum(axis=-1, keepdims=True)
        else:
            total = e.sum(axis=-1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (e / total).astype(np.float32)
    raise RunError(f"unknown post_transform {name!r}")


def binary_scores(s: np.ndarray, name: str, mixed: bool) -> np.ndarray:
    """One score per row expanded to two columns, as onnxruntime writes them:
    ``[1 - s, s]`` for non-negative weights (s after LOGISTIC if asked), ``[-s, s]`` (or logistic of both)
    for mixed weights; PROBIT gives the one transformed score."""
    s = s.astype(np.float32).reshape(-1)
    if name == "PROBIT":
        return transform_scores(s, name).reshape(-1, 1)
    if not mixed:
        if name == "LOGISTIC":
            s = _logistic(s)
        return np.stack([1 - s, s], axis=1)
    if name == "LOGISTIC":
        return np.stack([_logistic(-s), _logistic(s)], axis=1)
    return np.stack([-s, s], axis=1)


def class_labels(ints, strings) -> np.ndarray:
    """The class labels as an int64 or object (string) array."""
    if strings:
        return np.array(list(strings), dtype=object)
    return np.asarray(list(ints or []), dtype=np.int64)


def _as_2d_float(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 0:
        raise RunError("the input needs at least one dimension")
    x = x.reshape(1, -1) if x.ndim == 1 else x.reshape(x.shape[0], -1)
    return x.astype(np.float32, copy=False)


# ------------------------------------------------------------------ linear
@kernel("LinearClassifier", 1, domain=ML)
def linear_classifier(x, *, coefficients, intercepts=None, classlabels_ints=None,
                      classlabels_strings=None, multi_class=0, post_transform="NONE"):
    x = _as_2d_float(x)
    labels = class_labels(classlabels_ints, classlabels_strings)
    n_cls = len(intercepts) if intercepts else len(coefficients) // max(x.shape[1], 1)
    coef = np.asarray(coefficients, np.float32).reshape(n_cls, -1)
    scores = x @ coef.T
    if intercepts:
        scores = scores + np.asarray(intercepts, np.float32)
    if n_cls == 1:
        pos, neg = (labels[1], labels[0]) if len(labels) == 2 else \
            (("1", "0") if labels.dtype == object else (1, 0))
        y = np.where(scores[:, 0] > 0, pos, neg).astype(labels.dtype)
        if len(labels) == 2:
            return y, binary_scores(scores[:, 0], post_transform, mixed=False)
        return y, transform_scores(scores, post_transform) if post_transform == "PROBIT" else scores
    y = labels[np.argmax(scores, axis=1)]
    return y, transform_scores(scores, post_transform)



@kernel("LinearRegressor", 1, domain=ML)
def linear_regressor(x, *, coefficients=None, intercepts=None, targets=1, post_transform="NONE"):
    x = _as_2d_float(x)
    coef = np.asarray(coefficients, np.float32).reshape(targets, -1)
    y = x @ coef.T
    if intercepts:
        y = y + np.asarray(intercepts, np.float32)
    if targets == 1 and post_transform != "PROBIT":
        return y.astype(np.float32)
    return transform_scores(y, post_transform)


# ------------------------------------------------------------------ SVM
def _kernel(x: np.ndarray, vectors: np.ndarray, kind: str, params, scalar: float = 0.0) -> np.ndarray:
    """K(x_n, v_m) for every row pair: [N, M] float32."""
    gamma, coef0, degree = (list(params) + [0.0, 0.0, 0.0])[:3] if params else (0.0, 0.0, 0.0)
    if kind == "RBF":
        d = (x * x).sum(1)[:, None] + (vectors * vectors).sum(1)[None, :] - 2 * (x @ vectors.T)
        return np.exp(-np.float32(gamma) * np.maximum(d, 0)).astype(np.float32)
    if kind == "LINEAR":
        return (x @ vectors.T + np.float32(scalar)).astype(np.float32)
    k = np.float32(gamma) * (x @ vectors.T) + np.float32(coef0)
    if kind == "POLY":
        return np.power(k, int(degree)).astype(np.float32)
    if kind == "SIGMOID":
        return np.tanh(k).astype(np.float32)
    raise RunError(f"unknown SVM kernel_type {kind!r}")


def _multiclass_probability(r: np.ndarray) -> np.ndarray:
    """Pairwise probabilities r [N, k, k] -> class probabilities [N, k]
    (Wu, Lin & Weng's method 2, as libsvm and onnxruntime do it), all rows at once."""
    n, k, _ = r.shape
    eye = np.eye(k, dtype=bool)
    rt2 = np.where(eye, 0, np.swapaxes(r, 1, 2) ** 2)       # r[j, i]^2
    q = -np.swapaxes(r, 1, 2) * r                           # -r[j, i] * r[i, j]
    q = np.where(eye, 0, q)
    q[:, np.arange(k), np.arange(k)] = rt2.sum(axis=2)
    p = np.full((n, k), 1.0 / k, dtype=np.float32)
    eps = 0.005 / k
    active = np.ones(n, dtype=bool)
    for _ in range(100):
        qp = np.einsum("nij,nj->ni", q, p)
        pqp = (p * qp).sum(1)
        active &= np.abs(qp - pqp[:, None]).max(1) >= eps
        if not active.any():
            break
        for t in range(k):
            diff = np.where(active, (-qp[:, t] + pqp) / q[:, t, t], 0)
            p[:, t] += diff
            pqp = (pqp + diff * (diff * q[:, t, t] + 2 * qp[:, t])) / (1 + diff) / (1 + diff)
            qp = (qp + diff[:, None] * q[:, t, :]) / (1 + diff[:, None])
            p /= (1 + diff[:, None])
    return p.astype(np.float32)


@kernel("SVMClassifier", 1, domain=ML)
def svm_classifier(x, *, coefficients, rho, classlabels_ints=None, classlabels_strings=None,
                   kernel_params=None, kernel_type="LINEAR", post_transform="NONE", prob_a=None,
                   prob_b=None, support_vectors=None, vectors_per_class=None):
    x = _as_2d_float(x)
    labels = class_labels(classlabels_ints, classlabels_strings)
    k = len(labels)
    coef = np.asarray(coefficients, np.float32)
    vpc = list(vectors_per_class or [])
    n_vec = int(sum(vpc))
    have_proba = bool(prob_a)
    n_pairs = k * (k - 1) // 2
    if n_vec == 0:                                   # liblinear: one weight vector per class
        scores = _kernel(x, coef.reshape(k, -1), "LINEAR", None, rho[0])
        best = np.argmax(scores, axis=1)
        max_w = scores[np.arange(len(x)), best]
        z = transform_scores(scores, post_transform)
    else:
        sv = np.asarray(support_vectors, np.float32).reshape(n_vec, -1)
        kern = _kernel(x, sv, kernel_type, kernel_params)
        coef = coef.reshape(k - 1, n_vec)
        starts = np.concatenate([[0], np.cumsum(vpc)]).astype(int)
        pair_scores, votes = [], np.zeros((len(x), k), np.int64)
        for i in range(k - 1):
            si = slice(starts[i], starts[i + 1])
            for j in range(i + 1, k):
                sj = slice(starts[j], starts[j + 1])
                s = (kern[:, si].astype(np.float64) @ coef[j - 1, si] + kern[:, sj].astype(np.float64)
                     @ coef[i, sj] + rho[len(pair_scores)])
                pair_scores.append(s.astype(np.float32))
                votes[np.arange(len(x)), np.where(s > 0, i, j)] += 1
        raw = np.stack(pair_scores, axis=1) if pair_scores else np.zeros((len(x), 0), np.float32)
        best = np.argmax(votes, axis=1)           # the label follows the votes, probabilities or not
        max_w = np.zeros(len(x), np.float32)
        if have_proba:
            a, b = np.asarray(prob_a, np.float32), np.asarray(prob_b, np.float32)
            val = np.clip(1 - _logistic(raw * a[:n_pairs] + b[:n_pairs]), 1e-7, 1 - 1e-7)
            r = np.zeros((len(x), k, k), np.float32)
            iu = np.triu_indices(k, 1)
            r[:, iu[0], iu[1]] = val
            r[:, iu[1], iu[0]] = 1 - val
            z = transform_scores(_multiclass_probability(r), post_transform)
        else:
            if k <= 2:
                z = binary_scores(raw[:, 0], post_transform if post_transform != "NONE" else "NONE",
                                  mixed=post_transform == "NONE")
            else:
                z = transform_scores(raw, post_transform)
    if n_pairs == 1 and not have_proba:
        all_pos = bool((np.asarray(coefficients) >= 0).all())
        pick = (all_pos & (max_w >= 0.5)) | (~all_pos & (max_w > 0))
        y = np.where(pick, labels[1], labels[best])
    elif n_pairs == 1 or k > 2:
        y = labels[best]
    else:
        pos, neg = ("1", "0") if labels.dtype == object else (1, 0)
        y = np.where(max_w > 0, pos, neg)
    return np.asarray(y, dtype=labels.dtype), z.astype(np.float32)


@kernel("SVMRegressor", 1, domain=ML)
def svm_regressor(x, *, coefficients, rho, kernel_params=None, kernel_type="LINEAR", n_supports=0,
                  one_class=0, post_transform="NONE", support_vectors=None):
    x = _as_2d_float(x)
    coef = np.asarray(coefficients, np.float32)
    if n_supports > 0:
        sv = np.asarray(support_vectors, np.float32).reshape(n_supports, -1)
        y = _kernel(x, sv, kernel_type, kernel_params) @ coef[:n_supports] + np.float32(rho[0])
    else:
        y = _kernel(x, coef.reshape(1, -1), "LINEAR", None, rho[0])[:, 0]
    y = y.reshape(-1, 1).astype(np.float32)
    if one_class:
        y = np.where(y > 0, np.float32(1), np.float32(-1))
    return transform_scores(y, post_transform) if post_transform == "PROBIT" else y


# ------------------------------------------------------------------ shape rules
def rows(ctx, i: int = 0):
    """N of an ml op's [N, C] (or [C], N = 1) input; None when unknown."""
    s = ctx.input_shape(i)
    if s is None:
        return None
    return 1 if len(s) <= 1 else s[0]


def label_dtype(ctx, strings_attr: str) -> DataType:
    return DataType.STRING if ctx.attr(strings_attr) else DataType.INT64


def set_classifier(ctx, strings_attr: str, n_scores) -> None:
    n = rows(ctx)
    ctx.set_output(0, label_dtype(ctx, strings_attr), (n,))
    ctx.set_output(1, DataType.FLOAT, (n, n_scores))


@shape("LinearClassifier", 1, domain=ML)
def linear_classifier_shape(ctx) -> None:
    n_labels = len(ctx.attr("classlabels_strings") or ctx.attr("classlabels_ints") or [])
    n_cls = len(ctx.attr("intercepts") or [])
    if not n_cls:
        s = ctx.input_shape(0)
        feats = s[-1] if s else None
        n_cls = len(ctx.attr("coefficients") or []) // feats if isinstance(feats, int) and feats else None
    set_classifier(ctx, "classlabels_strings", 2 if n_cls == 1 and n_labels == 2 else n_cls)


@shape("LinearRegressor", 1, domain=ML)
def linear_regressor_shape(ctx) -> None:
    ctx.set_output(0, DataType.FLOAT, (rows(ctx), ctx.attr("targets", 1)))


@shape("SVMClassifier", 1, domain=ML)
def svm_classifier_shape(ctx) -> None:
    k = len(ctx.attr("classlabels_strings") or ctx.attr("classlabels_ints") or [])
    svc = sum(ctx.attr("vectors_per_class") or []) > 0
    n_scores = k
    if svc and not ctx.attr("prob_a"):
        n_scores = k * (k - 1) // 2 if k > 2 else 2
    set_classifier(ctx, "classlabels_strings", n_scores)


@shape("SVMRegressor", 1, domain=ML)
def svm_regressor_shape(ctx) -> None:
    ctx.set_output(0, DataType.FLOAT, (rows(ctx), 1))
