"""Layout changes: Pad (constant/reflect/edge/wrap, negative pads crop),
DepthToSpace, SpaceToDepth, ReverseSequence -- kernels and shape rules."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ._registry import kernel, shape
from ._shape import Dim, InferenceContext, add, floordiv, mul, norm_axes, same_as_input
from .tensor_shape import const_ints, input_dimvec, input_or_unknown, is_int


# ------------------------------------------------------------------ Pad
def _pad(x: np.ndarray, pads: Sequence[int], mode: str, value, axes=None) -> np.ndarray:
    rank = x.ndim
    pads = [int(p) for p in np.asarray(pads).reshape(-1)]
    axes = list(range(rank)) if axes is None else \
        [int(a) + rank if int(a) < 0 else int(a) for a in np.asarray(axes).reshape(-1)]
    n = len(axes)
    if len(pads) != 2 * n:
        raise ValueError(f"{len(pads)} pads for {n} axes (need 2 per axis)")
    begin, end = [0] * rank, [0] * rank
    for k, a in enumerate(axes):
        begin[a], end[a] = pads[k], pads[k + n]
    if any(p < 0 for p in begin + end):         # negative pads crop
        x = x[tuple(slice(max(-b, 0), d - max(-e, 0)) for b, e, d in zip(begin, end, x.shape))]
    widths = [(max(b, 0), max(e, 0)) for b, e in zip(begin, end)]
    if not any(b or e for b, e in widths):
        return x
    if mode == "constant":
        shape = tuple(d + b + e for d, (b, e) in zip(x.shape, widths))
        if value is None:
            out = np.full(shape, "", dtype=object) if x.dtype == object else np.zeros(shape, x.dtype)
        else:
            out = np.full(shape, np.asarray(value).reshape(-1)[0] if np.ndim(value) else value, dtype=x.dtype)
        out[tuple(slice(b, b + d) for d, (b, _) in zip(x.shape, widths))] = x
        return out
    if mode not in ("reflect", "edge", "wrap"):
        raise ValueError(f"unknown Pad mode {mode!r}")
    return np.pad(x, widths, mode=mode)


@kernel("Pad", 1)
def pad_1(x, *, paddings, mode="constant", value=0.0):
    return _pad(x, paddings, mode, value)


@kernel("Pad", 2)
def pad_2(x, *, pads, mode="constant", value=0.0):
    return _pad(x, pads, mode, value)


@kernel("Pad", 11)
def pad(x, pads, constant_value=None, axes=None, *, mode="constant"):
    return _pad(x, pads, mode, constant_value, axes)


@shape("Pad", 1)
def pad_shape(ctx: InferenceContext) -> None:
    dtype, s = input_or_unknown(ctx)
    if s is None:
        return
    if ctx.opset < 11:
        pads = ctx.attr("paddings" if ctx.opset < 2 else "pads")
        axes: list[int] | None = list(range(len(s)))
    else:
        pads = input_dimvec(ctx, 1)
        axes = const_ints(ctx, 3) if ctx.has_input(3) else list(range(len(s)))
    if axes is not None:
        axes = norm_axes(axes, len(s), ctx)
        if axes is None:
            return
    if pads is None or axes is None:
        out: list[Dim] = [None] * len(s)
        if axes is not None:       # only the padded axes are unknown
            out = [None if j in axes else d for j, d in enumerate(s)]
        ctx.set_output(0, dtype, out)
        return
    n = len(axes)
    if len(pads) != 2 * n:
        ctx.fail(f"{len(pads)} pads for {n} axes (need 2 per axis)")
        return
    out = list(s)
    for k, a in enumerate(axes):
        out[a] = add(add(out[a], pads[k]), pads[k + n])
        if is_int(out[a]) and out[a] < 0:
            ctx.fail(f"pads {list(pads)} leave a negative dim on axis {a}")
            return
    ctx.set_output(0, dtype, out)


# ------------------------------------------------------------------ DepthToSpace, SpaceToDepth
def depth_to_space_plan(shape, blocksize: int, mode: str = "DCR") -> tuple[tuple, tuple, tuple]:
    """DepthToSpace of an (N, C, H, W) array as (block shape, permutation, output shape):
    ``x.reshape(block shape).transpose(permutation).reshape(output shape)``."""
    n, c, h, w = shape
    b = blocksize
    if mode == "DCR":
        blocks, perm = (n, b, b, c // (b * b), h, w), (0, 3, 4, 1, 5, 2)
    else:
        blocks, perm = (n, c // (b * b), b, b, h, w), (0, 1, 4, 2, 5, 3)
    return blocks, perm, (n, c // (b * b), h * b, w * b)


def space_to_depth_plan(shape, blocksize: int, mode: str = "DCR") -> tuple[tuple, tuple, tuple]:
    """SpaceToDepth's (block shape, permutation, output shape), as ``depth_to_space_plan``."""
    n, c, h, w = shape
    b = blocksize
    perm = (0, 3, 5, 1, 2, 4) if mode == "DCR" else (0, 1, 3, 5, 2, 4)
    return (n, c, h // b, b, w // b, b), perm, (n, c * b * b, h // b, w // b)


@kernel("DepthToSpace", 1)
def depth_to_space(x, *, blocksize, mode="DCR"):
    blocks, perm, out = depth_to_space_plan(x.shape, blocksize, mode)
    return x.reshape(blocks).transpose(perm).reshape(out)


@kernel("SpaceToDepth", 1)
def space_to_depth(x, *, blocksize, mode="DCR"):
    blocks, perm, out = space_to_depth_plan(x.shape, blocksize, mode)
    return x.reshape(blocks).transpose(perm).reshape(out)


def _blocks(ctx: InferenceContext) -> tuple[Sequence[Dim], int] | None:
    s, b = ctx.input_shape(0), ctx.attr("blocksize")
    if s is None or b is None:
        ctx.set_output(0, ctx.input_dtype(0), None if s is None else [None] * 4)
        return None
    if len(s) != 4:
        ctx.fail(f"the input must be 4-D (N, C, H, W), it has rank {len(s)}")
        return None
    if b <= 0:
        ctx.fail(f"blocksize {b} must be positive")
        return None
    return s, b


@shape("DepthToSpace", 1)
def depth_to_space_shape(ctx: InferenceContext) -> None:
    r = _blocks(ctx)
    if r is None:
        return
    (n, c, h, w), b = r
    if is_int(c) and c % (b * b):
        ctx.fail(f"channels {c} are not a multiple of blocksize^2 = {b * b}")
        return
    ctx.set_output(0, ctx.input_dtype(0), [n, floordiv(c, b * b), mul(h, b), mul(w, b)])


@shape("SpaceToDepth", 1)
def space_to_depth_shape(ctx: InferenceContext) -> None:
    r = _blocks(ctx)
    if r is None:
        return
    (n, c, h, w), b = r
    if (is_int(h) and h % b) or (is_int(w) and w % b):
        ctx.fail(f"height {h} and width {w} must be multiples of blocksize {b}")
        return
    ctx.set_output(0, ctx.input_dtype(0), [n, mul(c, b * b), floordiv(h, b), floordiv(w, b)])


# ------------------------------------------------------------------ ReverseSequence
@kernel("ReverseSequence", 10)
def reverse_sequence(x, sequence_lens, *, batch_axis=1, time_axis=0):
    t = np.arange(x.shape[time_axis])
    lens = np.asarray(sequence_lens, dtype=np.int64).reshape(-1, 1)
    src = np.where(t < lens, lens - 1 - t, t)              # (batch, time): source time index
    bt = np.moveaxis(x, (batch_axis, time_axis), (0, 1))  # view: (batch, time, rest...)
    out = bt[np.arange(bt.shape[0])[:, None], src]         # rows of the rest copied whole
    return np.moveaxis(out, (0, 1), (batch_axis, time_axis))


shape("ReverseSequence", 10)(same_as_input)
