"""Shape, layout and indexing: Reshape, Transpose, Concat, Split, Slice,
Gather*, Scatter*, (Un)squeeze, Shape, Expand, Tile, Pad, Range, TopK...

Shape-like inputs (``const=``) are baked in where they are constants of the
model and read from the tensor at run time otherwise, so shape computations
(Shape -> Gather -> Concat -> Reshape) stay torch ops and work at every size.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ...ops.tensor_layout import depth_to_space_plan, space_to_depth_plan
from .._registry import rule
from ._common import axes_list, ints, norm_axis, scalar, torch_dtype


def _idx(i, dim):
    """int64 indices with negative ones counted from the end."""
    i = i.long()
    return torch.where(i < 0, i + dim, i)


# ------------------------------------------------------------------ reshaping
@rule("Reshape", 5, const=(1,))
def reshape(x, shape, *, allowzero=0):
    s = ints(shape)
    if not allowzero:
        s = [x.shape[i] if d == 0 else d for i, d in enumerate(s)]
    return x.reshape(s)


@rule("Flatten", 1)
def flatten(x, *, axis=1):
    a = norm_axis(axis, x.dim())
    return x.reshape(math.prod(x.shape[:a]), math.prod(x.shape[a:]))


@rule("Transpose", 1)
def transpose(x, *, perm=None):
    return x.permute(list(range(x.dim()))[::-1] if perm is None else perm)


@rule("Unsqueeze", 1)
def unsqueeze1(x, *, axes):
    return unsqueeze(x, axes)


@rule("Unsqueeze", 13, const=(1,))
def unsqueeze(x, axes):
    r = x.dim() + len(ints(axes))
    for a in sorted(norm_axis(a, r) for a in ints(axes)):
        x = x.unsqueeze(a)
    return x


@rule("Squeeze", 1)
def squeeze1(x, *, axes=None):
    return squeeze(x, axes)


@rule("Squeeze", 13, const=(1,))
def squeeze(x, axes=None):
    if axes is None:
        return x.squeeze()
    return x.squeeze(tuple(axes_list(axes, x.dim())))


@rule("Shape", 1)
def shape(x, *, start=0, end=None):
    return torch.tensor(x.shape[start:end], dtype=torch.int64, device=x.device)


@rule("Size", 1)
def size(x):
    return torch.tensor(x.numel(), dtype=torch.int64, device=x.device)


@rule("Expand", 8, const=(1,))
def expand(x, shape):
    out = torch.broadcast_shapes(tuple(x.shape), tuple(ints(shape)))
    return x.expand(out)


@rule("Tile", 6, const=(1,))
def tile(x, repeats):
    return x.repeat(ints(repeats))


@rule("DepthToSpace", 1)
def depth_to_space(x, *, blocksize, mode="DCR"):
    blocks, perm, out = depth_to_space_plan(tuple(x.shape), blocksize, mode)
    return x.reshape(blocks).permute(perm).reshape(out)


@rule("SpaceToDepth", 1)
def space_to_depth(x, *, blocksize, mode="DCR"):
    blocks, perm, out = space_to_depth_plan(tuple(x.shape), blocksize, mode)
    return x.reshape(blocks).permute(perm).reshape(out)


# ------------------------------------------------------------------ joining and splitting
@rule("Concat", 4)
def concat(*xs, axis):
    return torch.cat(xs, norm_axis(axis, xs[0].dim()))


@rule("Split", 2, const=(1,), n_outputs=True)
def split(x, split=None, *, axis=0, num_outputs=None, _n_outputs=1):
    a = norm_axis(axis, x.dim())
    if split is not None and len(ints(split)):
        sizes = ints(split)
    else:
        n = num_outputs or _n_outputs
        length = x.shape[a]
        each = -(-length // n)
        sizes = [each] * (n - 1) + [length - each * (n - 1)]
    return tuple(torch.split(x, sizes, dim=a))


# ------------------------------------------------------------------ slicing
def _symbolic(*vals) -> bool:
    return any(isinstance(v, torch.SymInt) for v in vals)


def _from_end(v, d):
    """A negative bound counted from the end, never below 0."""
    if isinstance(v, torch.SymInt):
        return v                              # sizes are never negative
    return torch.sym_max(v + d, 0) if v < 0 else v


def _slice(x, starts, ends, axes, steps):
    r = x.dim()
    axes = list(range(len(starts))) if axes is None else [norm_axis(a, r) for a in axes]
    steps = [1] * len(starts) if steps is None else steps
    index = [slice(None)] * r
    flips = []
    for s, e, a, st in zip(starts, ends, axes, steps):
        d = x.shape[a]
        if st > 0 and _symbolic(s, e, d):
            # traced sizes: torch's own slicing clamps to the dim without the
            # guards Python's min / max would add; from the end only below 0
            index[a] = slice(_from_end(s, d), _from_end(e, d), st)
            continue
        s = s + d if s < 0 else s
        e = e + d if e < 0 else e
        if st > 0:
            s, e = min(max(s, 0), d), min(max(e, 0), d)
            index[a] = slice(s, max(s, e), st)
        else:
            s, e = min(max(s, 0), d - 1), min(max(e, -1), d - 1)
            # backwards: the elements s, s+st, ... > e, taken forwards and flipped
            n = max(0, -(-(s - e) // -st))
            first = s + (n - 1) * st if n else 0
            index[a] = slice(first, first + (n - 1) * -st + 1 if n else 0, -st)
            flips.append(a)
    y = x[tuple(index)]
    return y.flip(flips) if flips else y


@rule("Slice", 1)
def slice1(x, *, starts, ends, axes=None):
    return _slice(x, starts, ends, axes, None)


@rule("Slice", 10, const=(1, 2, 3, 4))
def slice_(x, starts, ends, axes=None, steps=None):
    return _slice(x, ints(starts), ints(ends), ints(axes), ints(steps))


# ------------------------------------------------------------------ gathering and scattering
@rule("Gather", 1)
def gather(x, indices, *, axis=0):
    a = norm_axis(axis, x.dim())
    i = _idx(indices, x.shape[a])
    out = x.index_select(a, i.reshape(-1))
    return out.reshape((*x.shape[:a], *i.shape, *x.shape[a + 1:]))


@rule("GatherElements", 11)
def gather_elements(x, indices, *, axis=0):
    a = norm_axis(axis, x.dim())
    return torch.gather(x, a, _idx(indices, x.shape[a]))


def _nd_index(x, idx, b):
    """(x seen as [B, ...], the index tuple of GatherND/ScatterND with ``b`` batch dims)."""
    k = idx.shape[-1]
    xb = x.reshape(-1, *x.shape[b:])
    ib = idx.reshape(-1, *idx.shape[b:]).long()
    bidx = torch.arange(xb.shape[0], device=idx.device).reshape(-1, *[1] * (ib.dim() - 2))
    # negative indices, column by column (sizes stay sizes: no tensor of x.shape)
    return xb, (bidx.expand(ib.shape[:-1]), *[_idx(ib[..., j], x.shape[b + j]) for j in range(k)])


@rule("GatherND", 11)
def gather_nd(x, indices, *, batch_dims=0):
    xb, index = _nd_index(x, indices, batch_dims)
    out = xb[index]
    k = indices.shape[-1]
    return out.reshape((*indices.shape[:-1], *x.shape[batch_dims + k:]))


_REDUCE = {"add": "sum", "mul": "prod", "max": "amax", "min": "amin"}


@rule("ScatterElements", 11)
def scatter_elements(x, indices, updates, *, axis=0, reduction="none"):
    a = norm_axis(axis, x.dim())
    i = _idx(indices, x.shape[a])
    if reduction == "none":
        return torch.scatter(x, a, i, updates)
    return torch.scatter_reduce(x, a, i, updates, _REDUCE[reduction], include_self=True)


@rule("Scatter", 9)
def scatter(x, indices, updates, *, axis=0):
    return scatter_elements(x, indices, updates, axis=axis)


@rule("ScatterND", 11)
def scatter_nd(x, indices, updates, *, reduction="none"):
    k = indices.shape[-1]
    i = indices.reshape(-1, k).long()
    lin = sum((_idx(i[:, j], x.shape[j]) * math.prod(x.shape[j + 1:k]) for j in range(k)), i.new_zeros(i.shape[0]))
    rest = math.prod(x.shape[k:])
    flat = x.reshape(math.prod(x.shape[:k]), rest).clone()
    upd = updates.reshape(-1, rest)
    if reduction == "none":
        flat[lin] = upd
    else:
        flat = flat.scatter_reduce(0, lin.reshape(-1, 1).expand(-1, rest), upd, _REDUCE[reduction],
                                   include_self=True)
    return flat.reshape(x.shape)


@rule("Compress", 9)
def compress(x, condition, *, axis=None):
    c = condition.reshape(-1).bool()
    if axis is None:
        flat = x.reshape(-1)
        return flat[c[:flat.shape[0]].nonzero().reshape(-1)]
    a = norm_axis(axis, x.dim())
    keep = c[:x.shape[a]].nonzero().reshape(-1)
    return x.index_select(a, keep)


@rule("NonZero", 9)
def nonzero(x):
    if x.dim() == 0:
        return torch.zeros((0, int(bool(x))), dtype=torch.int64, device=x.device)
    return torch.nonzero(x).T.contiguous()


@rule("OneHot", 11)
def one_hot(indices, depth, values, *, axis=-1):
    d = int(scalar(depth))
    i = indices.long()
    i = torch.where(i < 0, i + d, i)
    mask = i.unsqueeze(-1) == torch.arange(d, device=i.device)
    out = torch.where(mask, values[1], values[0])
    return torch.movedim(out, -1, norm_axis(axis, indices.dim() + 1))


@rule("OneHot", 9)
def one_hot9(indices, depth, values, *, axis=-1):
    d = int(scalar(depth))
    i = indices.long()
    mask = i.unsqueeze(-1) == torch.arange(d, device=i.device)
    out = torch.where(mask, values[1], values[0])
    return torch.movedim(out, -1, norm_axis(axis, indices.dim() + 1))


# ------------------------------------------------------------------ creating
@rule("ConstantOfShape", 9, const=(0,), device=True)
def constant_of_shape(shape, *, value=None, _anchor=None):
    s = ints(shape)
    device = shape.device if isinstance(shape, torch.Tensor) else _anchor.device
    if value is None:
        return torch.zeros(s, dtype=torch.float32, device=device)
    return torch.full(s, value.reshape(()).item(), dtype=value.dtype, device=device)


@rule("Range", 11, const=(0, 1, 2), device=True, dtype=True)
def range_(start, limit, delta, *, _anchor=None, _dtype=None):
    # inputs: Python numbers (constants, or sizes: SymInts when traced, so an
    # exported Range over a sequence length stays symbolic) or tensors
    tensors = [t for t in (start, limit, delta) if isinstance(t, torch.Tensor)]
    dtype = tensors[0].dtype if tensors else _dtype
    device = tensors[0].device if tensors else _anchor.device
    s, e, d = scalar(start), scalar(limit), scalar(delta)
    if dtype is None:
        dtype = torch.int64 if all(isinstance(v, (int, torch.SymInt)) for v in (s, e, d)) else torch.float32
    if not dtype.is_floating_point:
        return torch.arange(s, e, d, dtype=dtype, device=device)
    n = max(0, math.ceil((e - s) / d))           # the spec's count; values start + i * delta
    return (s + torch.arange(n, device=device, dtype=torch.float64) * d).to(dtype)


@rule("EyeLike", 9)
def eye_like(x, *, dtype=None, k=0):
    n, m = x.shape
    out = (torch.arange(m, device=x.device) - torch.arange(n, device=x.device)[:, None]) == k
    return out.to(x.dtype if dtype is None else torch_dtype(dtype))


# ------------------------------------------------------------------ padding
def _pad_index(n, before, after, mode, device):
    i = torch.arange(-before, n + after, device=device)
    if mode == "edge":
        return i.clamp(0, n - 1)
    if mode == "wrap":
        return i % n
    if n == 1:
        return torch.zeros_like(i)
    period = 2 * (n - 1)
    i = i % period
    return torch.where(i >= n, period - i, i)


def _pad(x, pads, mode, value, axes):
    r = x.dim()
    axes = list(range(r)) if axes is None else [norm_axis(a, r) for a in axes]
    n = len(axes)
    before, after = [0] * r, [0] * r
    for j, a in enumerate(axes):
        before[a], after[a] = pads[j], pads[n + j]
    if mode == "constant":
        pairs = []
        for a in reversed(range(r)):
            pairs += [before[a], after[a]]
        v = 0 if value is None else scalar(value)
        if x.dtype == torch.bool:
            return F.pad(x.to(torch.uint8), pairs, value=int(v)).bool()
        return F.pad(x, pairs, value=v)
    for a in range(r):
        if before[a] or after[a]:
            x = x.index_select(a, _pad_index(x.shape[a], before[a], after[a], mode, x.device))
    return x


@rule("Pad", 2)
def pad2(x, *, pads, mode="constant", value=0.0):
    return _pad(x, pads, mode, value, None)


@rule("Pad", 11, const=(1, 3))
def pad(x, pads, constant_value=None, axes=None, *, mode="constant"):
    return _pad(x, ints(pads), mode, constant_value, ints(axes))


# ------------------------------------------------------------------ sorting
def _topk(x, k, axis, largest, sorted_):
    a = norm_axis(axis, x.dim())
    vals, idx = torch.sort(x, dim=a, descending=bool(largest), stable=True)
    return vals.narrow(a, 0, k), idx.narrow(a, 0, k)


@rule("TopK", 1)
def topk1(x, *, k, axis=-1):
    return _topk(x, k, axis, 1, 1)


@rule("TopK", 10, const=(1,))
def topk(x, k, *, axis=-1, largest=1, sorted=1):
    return _topk(x, int(scalar(k)), axis, largest, sorted)


# ------------------------------------------------------------------ misc
@rule("Dropout", 1, n_outputs=True, when=lambda a, n: a.get("is_test", 1) != 0)
def dropout(x, *, ratio=0.5, is_test=None, consumed_inputs=None, _n_outputs=1):
    if _n_outputs > 1:
        return x, torch.ones_like(x, dtype=torch.bool)
    return x


# with a training_mode input, Dropout draws from numpy's generator (the numpy kernel)
@rule("Dropout", 12, n_outputs=True, when=lambda a, n: len(n.inputs) < 3 or n.inputs[2] is None)
def dropout12(x, ratio=None, *, seed=None, _n_outputs=1):
    if _n_outputs > 1:
        return x, torch.ones_like(x, dtype=torch.bool)
    return x


@rule("ReverseSequence", 10)
def reverse_sequence(x, sequence_lens, *, batch_axis=1, time_axis=0):
    t = x.shape[time_axis]
    steps = torch.arange(t, device=x.device)
    lens = sequence_lens.to(torch.int64)
    # index along time: reversed within each batch entry's length, as it is beyond
    idx = torch.where(steps[None, :] < lens[:, None], lens[:, None] - 1 - steps[None, :], steps[None, :])
    if batch_axis != 0:
        idx = idx.T                                        # (time, batch)
    shape = [1] * x.dim()
    shape[batch_axis], shape[time_axis] = x.shape[batch_axis], t
    return torch.gather(x, time_axis, idx.reshape(shape).expand(x.shape))
