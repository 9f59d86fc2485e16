"""Losses: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss."""

from __future__ import annotations

import numpy as np

from ._registry import kernel, shape
from ._shape import InferenceContext
from .math_activation import log_softmax
from .math_common import up


def _nll(x: np.ndarray, target: np.ndarray, weight: np.ndarray | None, ignore_index: int | None,
         reduction: str) -> np.ndarray:
    """x: [N, C, d...] log-probabilities (float32/64), target: [N, d...] classes."""
    t = target.astype(np.int64, copy=False)
    ignored = None if ignore_index is None else t == ignore_index
    if ignored is not None and ignored.any():
        t = np.where(ignored, 0, t)        # an ignored target may be out of range
    else:
        ignored = None
    loss = -np.take_along_axis(x, np.expand_dims(t, 1), axis=1).squeeze(1)
    w = None if weight is None else up(weight)[t]
    if ignored is not None:
        w = np.where(ignored, 0, 1 if w is None else w).astype(x.dtype)
    if w is not None:
        loss = loss * w
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    with np.errstate(all="ignore"):
        return total / (w.sum() if w is not None else loss.size)


@kernel("NegativeLogLikelihoodLoss", 12)
def nll_loss(x: np.ndarray, target: np.ndarray, weight: np.ndarray | None = None, *,
             ignore_index: int | None = None, reduction: str = "mean") -> np.ndarray:
    return np.asarray(_nll(up(x), target, weight, ignore_index, reduction)).astype(x.dtype, copy=False)


@kernel("SoftmaxCrossEntropyLoss", 12)
def softmax_cross_entropy_loss(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None, *,
                               ignore_index: int | None = None, reduction: str = "mean") -> tuple:
    """(loss, log_prob): log_softmax over the class axis 1, then the NLL loss."""
    with np.errstate(all="ignore"):
        log_prob = log_softmax(up(scores), 1)
    loss = _nll(log_prob, labels, weights, ignore_index, reduction)
    return np.asarray(loss).astype(scores.dtype, copy=False), log_prob.astype(scores.dtype, copy=False)


@shape("NegativeLogLikelihoodLoss", 12)
def _nll_shape(ctx: InferenceContext) -> None:
    x, t = ctx.input_shape(0), ctx.input_shape(1)
    if x is not None and t is not None:
        if len(x) < 2 or len(t) != len(x) - 1:
            ctx.fail(f"input rank {len(x)} and target rank {len(t)}: target must be [N, d1, ...] "
                     "for input [N, C, d1, ...]")
            return
    none = ctx.attr("reduction", "mean") == "none"
    ctx.set_output(0, ctx.input_dtype(0), (t if t is not None else None) if none else ())


@shape("SoftmaxCrossEntropyLoss", 12)
def _sce_shape(ctx: InferenceContext) -> None:
    _nll_shape(ctx)
    if ctx.n_outputs > 1:
        ctx.set_output(1, ctx.input_dtype(0), ctx.input_shape(0))
