"""Losses: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss."""

from __future__ import annotations

import math

import numpy as np

from ._registry import kernel, shape
from ._shape import InferenceContext
from .math_activation import log_softmax
from .math_common import up


class NumpyArrays:
    """The few array operations ``nll`` needs, in numpy; the torch importer
    (to_torch/_rules/norm.py) passes torch's."""

    where = staticmethod(np.where)

    @staticmethod
    def classes(target):
        return target.astype(np.int64, copy=False)

    @staticmethod
    def cast(x, dtype):
        return x.astype(dtype, copy=False)

    @staticmethod
    def pick(x, t):
        """x[n, t[n, d...], d...]: the entry of each target's class (axis 1)."""
        return np.take_along_axis(x, np.expand_dims(t, 1), axis=1).squeeze(1)


def nll(x, target, weight, ignore_index: int | None, reduction: str, xp=NumpyArrays):
    """x: [N, C, d...] log-probabilities (float32/64), target: [N, d...] classes;
    the loss with its weights, ignored targets and reduction, in any array library."""
    t = xp.classes(target)
    ignored = None if ignore_index is None else t == ignore_index
    if ignored is not None and ignored.any():
        t = xp.where(ignored, 0, t)        # an ignored target may be out of range
    else:
        ignored = None
    loss = -xp.pick(x, t)
    w = None if weight is None else xp.cast(weight, x.dtype)[t]
    if ignored is not None:
        w = xp.cast(xp.where(ignored, 0, 1 if w is None else w), x.dtype)
    if w is not None:
        loss = loss * w
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    return total / (w.sum() if w is not None else math.prod(loss.shape))


@kernel("NegativeLogLikelihoodLoss", 12)
def nll_loss(x: np.ndarray, target: np.ndarray, weight: np.ndarray | None = None, *,
             ignore_index: int | None = None, reduction: str = "mean") -> np.ndarray:
    with np.errstate(all="ignore"):
        loss = nll(up(x), target, weight, ignore_index, reduction)
    return np.asarray(loss).astype(x.dtype, copy=False)


@kernel("SoftmaxCrossEntropyLoss", 12)
def softmax_cross_entropy_loss(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None, *,
                               ignore_index: int | None = None, reduction: str = "mean") -> tuple:
    """(loss, log_prob): log_softmax over the class axis 1, then the NLL loss."""
    with np.errstate(all="ignore"):
        log_prob = log_softmax(up(scores), 1)
        loss = nll(log_prob, labels, weights, ignore_index, reduction)
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
