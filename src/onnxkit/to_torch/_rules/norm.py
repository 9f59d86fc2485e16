"""Normalization layers and losses: BatchNormalization, InstanceNormalization,
LayerNormalization, GroupNormalization, RMSNormalization, LRN,
MeanVarianceNormalization, LpNormalization, NegativeLogLikelihoodLoss,
SoftmaxCrossEntropyLoss."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...ops.math_loss import nll
from .._registry import rule
from ._common import axes_list, norm_axis


@rule("BatchNormalization", 1, when=lambda a, n: a.get("is_test", 0) == 1 or len(n.outputs) == 1)
def batch_norm1(x, scale, b, mean, var, *, epsilon=1e-5, momentum=0.9, spatial=1, is_test=0,
                consumed_inputs=None):
    return batch_norm(x, scale, b, mean, var, epsilon=epsilon)


@rule("BatchNormalization", 7, n_outputs=True)
def batch_norm(x, scale, b, mean, var, *, epsilon=1e-5, momentum=0.9, spatial=1, training_mode=0, _n_outputs=1):
    t = scale.dtype
    if not training_mode:
        y = F.batch_norm(x.to(t), mean.to(t), var.to(t), scale, b.to(t), False, 0.0, epsilon)
        return y.to(x.dtype)
    # training: normalize with the batch's statistics, update the running ones
    dims = [0, *range(2, x.dim())]
    shape = [1, -1] + [1] * (x.dim() - 2)
    batch_mean = x.mean(dims)
    batch_var = x.var(dims, unbiased=False)
    y = (x - batch_mean.reshape(shape)) / torch.sqrt(batch_var.reshape(shape) + epsilon)
    y = y * scale.reshape(shape) + b.reshape(shape)
    running_mean = mean * momentum + batch_mean.to(mean.dtype) * (1 - momentum)
    running_var = var * momentum + batch_var.to(var.dtype) * (1 - momentum)
    return (y.to(x.dtype), running_mean, running_var) if _n_outputs > 1 else y.to(x.dtype)


@rule("InstanceNormalization", 6)
def instance_norm(x, scale, b, *, epsilon=1e-5):
    return F.instance_norm(x, weight=scale, bias=b, eps=epsilon)


@rule("LayerNormalization", 17, n_outputs=True)
def layer_norm(x, scale, b=None, *, axis=-1, epsilon=1e-5, stash_type=1, _n_outputs=1):
    a = norm_axis(axis, x.dim())
    shape = tuple(x.shape[a:])
    if _n_outputs == 1 and tuple(scale.shape) == shape and (b is None or tuple(b.shape) == shape):
        return F.layer_norm(x, shape, scale, b, epsilon)
    dims = tuple(range(a, x.dim()))
    xf = x.float() if stash_type == 1 and x.dtype in (torch.float16, torch.bfloat16) else x
    mean = xf.mean(dims, keepdim=True)
    var = ((xf - mean) ** 2).mean(dims, keepdim=True)
    inv = torch.rsqrt(var + epsilon)
    y = ((xf - mean) * inv).to(x.dtype) * scale
    if b is not None:
        y = y + b
    return y, mean, inv


@rule("GroupNormalization", 18)
def group_norm18(x, scale, b, *, num_groups, epsilon=1e-5, stash_type=1):
    per = x.shape[1] // num_groups
    return F.group_norm(x, num_groups, scale.repeat_interleave(per), b.repeat_interleave(per), epsilon)


@rule("GroupNormalization", 21)
def group_norm(x, scale, b, *, num_groups, epsilon=1e-5, stash_type=1):
    return F.group_norm(x, num_groups, scale, b, epsilon)


@rule("LRN", 1, when=lambda a, n: a.get("size", 1) % 2 == 1)
def lrn(x, *, size, alpha=0.0001, beta=0.75, bias=1.0):
    return F.local_response_norm(x, size, alpha, beta, bias)


@rule("RMSNormalization", 23)
def rms_norm(x, scale, *, axis=-1, epsilon=1e-5, stash_type=1):
    a = norm_axis(axis, x.dim())
    dims = tuple(range(a, x.dim()))
    xf = x.float() if stash_type == 1 and x.dtype != torch.float64 else x
    y = xf * torch.rsqrt((xf * xf).mean(dims, keepdim=True) + epsilon)
    return y.to(x.dtype) * scale


@rule("MeanVarianceNormalization", 13)
def mean_variance_normalization(x, *, axes=(0, 2, 3)):
    dims = tuple(axes_list(list(axes), x.dim()))
    mean = x.mean(dims, keepdim=True)
    var = (x * x).mean(dims, keepdim=True) - mean * mean
    return (x - mean) / (torch.sqrt(var) + 1e-9)


@rule("LpNormalization", 1)
def lp_normalization(x, *, axis=-1, p=2):
    a = norm_axis(axis, x.dim())
    n = x.abs().sum(a, keepdim=True) if p == 1 else torch.sqrt((x * x).sum(a, keepdim=True))
    return x / torch.where(n == 0, torch.ones_like(n), n)


# ------------------------------------------------------------------ losses
class _TorchArrays:
    """ops.math_loss.NumpyArrays in torch."""

    where = staticmethod(torch.where)

    @staticmethod
    def classes(target):
        return target.to(torch.int64)

    @staticmethod
    def cast(x, dtype):
        return x.to(dtype)

    @staticmethod
    def pick(x, t):
        return torch.gather(x, 1, t.unsqueeze(1)).squeeze(1)


def _nll(x, target, weight, ignore_index, reduction):
    return nll(x, target, weight, ignore_index, reduction, _TorchArrays)


def _up(x):
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


@rule("NegativeLogLikelihoodLoss", 12)
def nll_loss(x, target, weight=None, *, ignore_index=None, reduction="mean"):
    return _nll(_up(x), target, weight, ignore_index, reduction).to(x.dtype)


@rule("SoftmaxCrossEntropyLoss", 12, n_outputs=True)
def softmax_cross_entropy_loss(scores, labels, weights=None, *, ignore_index=None, reduction="mean", _n_outputs=1):
    log_prob = torch.log_softmax(_up(scores), 1)
    loss = _nll(log_prob, labels, weights, ignore_index, reduction).to(scores.dtype)
    return (loss, log_prob.to(scores.dtype)) if _n_outputs > 1 else loss
