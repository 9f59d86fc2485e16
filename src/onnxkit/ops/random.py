"""Random generators: RandomNormal(Like), RandomUniform(Like), Multinomial,
Bernoulli.

A ``seed`` attribute gives a generator of its own, so the node's results are
the same on every run; without one the session's generator is used
(``Session(model, seed=...)`` makes those reproducible too).
"""

from __future__ import annotations

import numpy as np

from ..ir import DataType
from ._registry import kernel, shape
from .cast import attr_datatype, cast_array


def _rng(ctx, seed: float | None) -> np.random.Generator:
    if seed is None:
        return ctx.rng if ctx.rng is not None else np.random.default_rng()
    return np.random.default_rng(int(np.float64(seed).view(np.uint64)))   # every float its own stream


def _out_type(dtype: int | None, like: np.ndarray | None = None) -> DataType:
    if dtype:
        return DataType(dtype)
    if like is not None:
        return DataType.from_numpy(like.dtype)
    return DataType.FLOAT


@kernel("RandomNormal", 1, context=True)
def random_normal(ctx, *, shape, dtype=1, mean=0.0, scale=1.0, seed=None):
    x = _rng(ctx, seed).standard_normal(tuple(shape)) * scale + mean
    return cast_array(x, _out_type(dtype))


@kernel("RandomUniform", 1, context=True)
def random_uniform(ctx, *, shape, dtype=1, high=1.0, low=0.0, seed=None):
    x = _rng(ctx, seed).uniform(low, high, tuple(shape))
    return cast_array(x, _out_type(dtype))


@kernel("RandomNormalLike", 1, context=True)
def random_normal_like(ctx, x, *, dtype=None, mean=0.0, scale=1.0, seed=None):
    y = _rng(ctx, seed).standard_normal(x.shape) * scale + mean
    return cast_array(y, _out_type(dtype, x))


@kernel("RandomUniformLike", 1, context=True)
def random_uniform_like(ctx, x, *, dtype=None, high=1.0, low=0.0, seed=None):
    y = _rng(ctx, seed).uniform(low, high, x.shape)
    return cast_array(y, _out_type(dtype, x))


@kernel("Multinomial", 7, context=True)
def multinomial(ctx, x, *, dtype=6, sample_size=1, seed=None):
    """``sample_size`` class indices per row of ``x`` ([batch, classes] of
    unnormalized log-probabilities), by inverse CDF."""
    if x.ndim != 2:
        raise ValueError(f"Multinomial takes a [batch, classes] tensor, got shape {list(x.shape)}")
    logits = x.astype(np.float64)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    cdf = np.cumsum(p, axis=1)
    u = _rng(ctx, seed).uniform(size=(x.shape[0], sample_size)) * cdf[:, -1:]
    idx = np.stack([np.searchsorted(cdf[b], u[b], side="right") for b in range(x.shape[0])]) \
        if x.shape[0] else np.zeros((0, sample_size), np.int64)
    return np.minimum(idx, x.shape[1] - 1).astype(DataType(dtype).numpy_dtype)


@kernel("Bernoulli", 15, context=True)
def bernoulli(ctx, x, *, dtype=None, seed=None):
    y = _rng(ctx, seed).uniform(size=x.shape) < x.astype(np.float64)
    return cast_array(y, _out_type(dtype, x))


# ---------------------------------------------------------------- shape rules
def _dtype_attr(ctx, like: bool) -> DataType | None:
    return attr_datatype(ctx, "dtype") or (ctx.input_dtype(0) if like else DataType.FLOAT)


@shape("RandomNormal", 1)
def random_normal_shape(ctx) -> None:
    ctx.set_output(0, _dtype_attr(ctx, False), tuple(ctx.attr("shape") or ()))


@shape("RandomUniform", 1)
def random_uniform_shape(ctx) -> None:
    random_normal_shape(ctx)


@shape("RandomNormalLike", 1)
def random_normal_like_shape(ctx) -> None:
    ctx.set_output(0, _dtype_attr(ctx, True), ctx.input_shape(0))


@shape("RandomUniformLike", 1)
def random_uniform_like_shape(ctx) -> None:
    random_normal_like_shape(ctx)


@shape("Bernoulli", 15)
def bernoulli_shape(ctx) -> None:
    random_normal_like_shape(ctx)


@shape("Multinomial", 7)
def multinomial_shape(ctx) -> None:
    s = ctx.input_shape(0)
    if s is not None and len(s) != 2:
        ctx.fail(f"input must be [batch, classes], has rank {len(s)}")
        return
    ctx.set_output(0, attr_datatype(ctx, "dtype", 6) or DataType.INT32,
                   (s[0] if s is not None else None, ctx.attr("sample_size", 1)))
