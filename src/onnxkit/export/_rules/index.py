"""Indexing: embedding, gather, index (advanced indexing), index_put, scatter, index_select."""

from __future__ import annotations

from ...ir import DataType, Value
from .._registry import conversion_rule
from ._util import aten, norm_dim


@conversion_rule(aten.embedding.default)
def embedding(ctx, weight, ids, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
    return ctx.o.Gather(weight, ids, axis=0)


@conversion_rule(aten.index_select.default)
def index_select(ctx, x, dim, index):
    return ctx.o.Gather(x, index, axis=norm_dim(dim, ctx.rank(x)))


@conversion_rule(aten.gather.default)
def gather(ctx, x, dim, index, sparse_grad=False):
    return ctx.o.GatherElements(x, index, axis=norm_dim(dim, ctx.rank(x)))


def _index_parts(ctx, indices):
    metas = ctx.arg_meta(1)
    used = [i for i, ix in enumerate(indices) if ix is not None]
    for i in used:
        if metas[i].dtype.is_floating_point:
            raise ctx.error("indexing with a float tensor")
        if metas[i].dtype == __import__("torch").bool:
            raise ctx.error("indexing with a boolean mask together with other index tensors is "
                            "not supported; index with the mask alone (x[mask]), or turn it into "
                            "positions first (mask.nonzero())")
    return used


def _bool_mask(ctx, x, indices):
    """``x[mask]`` (one boolean index over dims p..p+k-1, nothing else indexed):
    NonZero gives the [N, k] positions, GatherND reads them; N, the number of
    True elements, is a dim known only at run time, as ONNX allows."""
    import torch

    metas = ctx.arg_meta(1)
    used = [i for i, ix in enumerate(indices) if ix is not None]
    if len(used) != 1 or metas[used[0]].dtype != torch.bool:
        return None
    p = used[0]
    mask = indices[p]
    k, r = metas[p].dim(), ctx.rank(x)
    perm = list(range(p, p + k)) + [d for d in range(r) if not p <= d < p + k]
    xt = x if perm == list(range(r)) else ctx.o.Transpose(x, perm=perm)
    pos = ctx.o.Transpose(ctx.o.NonZero(mask), perm=[1, 0])
    out = ctx.o.GatherND(xt, pos)  # [N, the other dims in order]
    if p > 0:
        rest = r - k
        out = ctx.o.Transpose(out, perm=list(range(1, p + 1)) + [0] + list(range(p + 1, rest + 1)))
    return out


@conversion_rule(aten.nonzero.default)
def nonzero(ctx, x):
    """``torch.nonzero``: [N, rank] int64 positions (ONNX NonZero is [rank, N])."""
    return ctx.o.Transpose(ctx.o.NonZero(x), perm=[1, 0])


@conversion_rule(aten.index.Tensor, aten._unsafe_index.Tensor)
def index(ctx, x, indices):
    r = ctx.rank(x)
    masked = _bool_mask(ctx, x, indices)
    if masked is not None:
        return masked
    used = _index_parts(ctx, indices)
    if len(used) == 1:
        return ctx.o.Gather(x, indices[used[0]], axis=used[0])
    adjacent = used == list(range(used[0], used[0] + len(used)))
    first = used[0]
    # move the indexed dims to the front, GatherND over them
    perm = used + [d for d in range(r) if d not in used]
    xt = x if perm == list(range(r)) else ctx.o.Transpose(x, perm=perm)
    idx = [ctx.cast(indices[i], DataType.INT64) for i in used]
    # broadcast the index tensors to one shape
    shape = None
    for ix in idx:
        s = ctx.shape(ix)
        shape = s if shape is None else ctx.o.Max(_pad_shape(ctx, shape, s), _pad_shape(ctx, s, shape))
    bidx = [ctx.o.Unsqueeze(ctx.o.Expand(ix, shape), ctx.axes([-1])) for ix in idx]
    stacked = ctx.o.Concat(*bidx, axis=-1)
    out = ctx.o.GatherND(xt, stacked)
    if adjacent and first > 0:
        # PyTorch keeps the broadcast index dims where the indexed dims were
        n_idx = ctx.out_rank() - (r - len(used))
        rest = list(range(n_idx, ctx.out_rank()))
        perm2 = rest[:first] + list(range(n_idx)) + rest[first:]
        out = ctx.o.Transpose(out, perm=perm2)
    return out


def _pad_shape(ctx, s, other):
    # shapes of different ranks: left-pad the shorter with ones (rank known statically)
    rs, ro = s.shape[0] if s.shape else None, other.shape[0] if other.shape else None
    if isinstance(rs, int) and isinstance(ro, int) and rs < ro:
        return ctx.o.Concat(ctx.ints([1] * (ro - rs)), s, axis=0)
    return s


@conversion_rule(aten.index_put.default, aten.index_put_.default, aten._unsafe_index_put.default)
def index_put(ctx, x, indices, values, accumulate=False):
    r = ctx.rank(x)
    masked = _mask_put(ctx, x, indices, values, accumulate)
    if masked is not None:
        return masked
    used = _index_parts(ctx, indices)
    if used != list(range(len(used))):
        raise ctx.error("index_put with indices not on the leading dims is not supported yet")
    dt = ctx.out_dtype()
    idx = [ctx.cast(indices[i], DataType.INT64) for i in used]
    # negative indices count from the end (ScatterND wants them in range)
    idx = [ctx.o.Where(ctx.o.Less(ix, ctx.int_scalar(0)),
                  ctx.o.Add(ix, ctx.int_scalar(ctx.dim(x, i))), ix) for i, ix in zip(used, idx)]
    shape = None
    for ix in idx:
        s = ctx.shape(ix)
        shape = s if shape is None else ctx.o.Max(_pad_shape(ctx, shape, s), _pad_shape(ctx, s, shape))
    bidx = [ctx.o.Unsqueeze(ctx.o.Expand(ix, shape), ctx.axes([-1])) for ix in idx]
    stacked = ctx.o.Concat(*bidx, axis=-1) if len(bidx) > 1 else bidx[0]
    # values broadcast to index shape + remaining dims of x
    rest = ctx.o.Slice(ctx.shape(x), ctx.ints([len(used)]), ctx.ints([r]), ctx.axes([0]))
    upd_shape = ctx.o.Concat(shape, rest, axis=0)
    upd = ctx.o.Expand(ctx.cast(values, dt), upd_shape)
    return ctx.o.ScatterND(x, stacked, upd, reduction="add" if accumulate else None)


def _mask_put(ctx, x, indices, values, accumulate):
    """``x[mask] = v`` with one boolean mask over the leading dims and values that do
    not depend on how many elements the mask selects (a scalar, or a tensor over the
    remaining dims): exactly ``where(mask, v, x)``.  None for other index_puts."""
    import torch

    metas = ctx.arg_meta(1)
    if len(indices) != 1 or indices[0] is None or metas[0].dtype != torch.bool:
        return None
    k, r = metas[0].dim(), ctx.rank(x)
    vmeta = ctx.arg_meta(2)
    if not isinstance(values, Value) or vmeta.dim() > r - k:
        raise ctx.error("x[mask] = values with values of one element per selected position "
                        "depends on how many elements the mask selects, which ONNX shapes cannot "
                        "follow; assign a scalar or values over the trailing dims, or use "
                        "torch.where(mask, new, x)")
    mask = indices[0]
    if r > k:
        mask = ctx.o.Unsqueeze(mask, ctx.axes(range(k, r)))
    dt = ctx.out_dtype()
    v = ctx.cast(values, dt)
    if accumulate:
        v = ctx.o.Add(x, v)
    return ctx.o.Where(mask, v, x)


@conversion_rule(aten.scatter.src, aten.scatter.value)
def scatter(ctx, x, dim, index, src, reduce=None):
    dt = ctx.out_dtype()
    if not isinstance(src, Value):
        src = ctx.o.Expand(ctx.cast(src, dt), ctx.shape(index))
    red = {None: None, "add": "add", "multiply": "mul"}[reduce]
    return ctx.o.ScatterElements(x, index, ctx.cast(src, dt), axis=norm_dim(dim, ctx.rank(x)), reduction=red)


@conversion_rule(aten.scatter_add.default)
def scatter_add(ctx, x, dim, index, src):
    return ctx.o.ScatterElements(x, index, src, axis=norm_dim(dim, ctx.rank(x)), reduction="add")


@conversion_rule(aten.scatter_reduce.two)
def scatter_reduce(ctx, x, dim, index, src, reduce, include_self=True):
    if not include_self:
        raise ctx.error("scatter_reduce(include_self=False) is not supported yet")
    red = {"sum": "add", "prod": "mul", "amax": "max", "amin": "min"}.get(reduce)
    if red is None:
        raise ctx.error(f"scatter_reduce(reduce={reduce!r}) is not supported yet")
    return ctx.o.ScatterElements(x, index, src, axis=norm_dim(dim, ctx.rank(x)), reduction=red)


@conversion_rule(aten.slice_scatter.default)
def slice_scatter(ctx, x, src, dim=0, start=None, end=None, step=1):
    # indices start, start+step, ... along dim: ScatterElements with an expanded index
    r = ctx.rank(x)
    d = norm_dim(dim, r)
    n = ctx.dim(src, d)
    start = 0 if start is None else start
    if isinstance(start, int) and start < 0:
        start = ctx.typed(ctx.o.Add(ctx.int_scalar(start), ctx.int_scalar(ctx.dim(x, d))), DataType.INT64, [])
    rng = ctx.o.Range(ctx.int_scalar(0), ctx.int_scalar(n), ctx.int_scalar(1))
    pos = ctx.o.Add(ctx.o.Mul(rng, ctx.int_scalar(step)), ctx.int_scalar(start))
    shape_v = ctx.ints([-1 if i == d else 1 for i in range(r)])
    pos = ctx.o.Reshape(pos, shape_v)
    idx = ctx.o.Expand(pos, ctx.shape(src))
    return ctx.o.ScatterElements(x, idx, ctx.cast(src, ctx.out_dtype()), axis=d)


@conversion_rule(aten.select_scatter.default)
def select_scatter(ctx, x, src, dim, index):
    r = ctx.rank(x)
    d = norm_dim(dim, r)
    src = ctx.o.Unsqueeze(src, ctx.axes([d]))
    if isinstance(index, int) and index < 0:
        index = ctx.typed(ctx.o.Add(ctx.int_scalar(index), ctx.int_scalar(ctx.dim(x, d))), DataType.INT64, [])
    idx = ctx.o.Expand(ctx.o.Reshape(ctx.int_scalar(index), ctx.ints([1] * r)), ctx.shape(src))
    return ctx.o.ScatterElements(x, idx, ctx.cast(src, ctx.out_dtype()), axis=d)
